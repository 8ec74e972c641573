package pexip

import (
	"slices"
	"time"
)

// RoomOptions tune [Rooms].
type RoomOptions struct {
	// Budget is how many unexplained 403s one room may collect in Window,
	// over all addresses, before it is under attack. Infinity locks a room
	// for everyone after more than 20 PIN failures in 10 minutes; the
	// default, 10, acts well before that.
	Budget int
	Window time.Duration
	// AttackPeriod is how long a room stays under attack after its budget
	// was last exceeded.
	AttackPeriod time.Duration
	// JoinMemory is how long an address that joined a room stays exempt
	// from that room's attack mode.
	JoinMemory time.Duration
	// PerAddress caps what one address adds to a room's count in Window.
	// A lone guesser is the per-address count's business; the budget is
	// for attacks spread over many addresses, and must not put a room
	// under attack (and ban its new visitors at their PIN prompt) because
	// one address kept guessing.
	PerAddress int
}

// DefaultRoomOptions returns the defaults: 10 in 10 minutes, under attack
// for 30 minutes, joins remembered for a day.
func DefaultRoomOptions() RoomOptions {
	return RoomOptions{Budget: 10, Window: 10 * time.Minute, AttackPeriod: 30 * time.Minute, JoinMemory: 24 * time.Hour, PerAddress: 2}
}

// Rooms counts each room's unexplained 403s across all addresses. The first
// 403 of an address on a room within the window may be the PIN prompt of a
// join and is not counted; every later one is, until a 200 for that address
// and room explains them. When a room's count goes over its budget the room
// is under attack: every address that failed on it within the window is to
// be banned at once, and every address that fails on it while the attack
// lasts is to be banned at its first 403. Addresses that joined the room
// are never caught this way. Driven by log time; not safe for concurrent
// use.
type Rooms struct {
	opts  RoomOptions
	rooms map[string]*room
}

type room struct {
	// first holds, per address, the time of its first 403 in the window
	// (not counted: it may be a PIN prompt).
	first map[string]time.Time
	// excess holds the counted 403s, oldest first, and perID how many of
	// them each address has.
	excess      []stamp
	perID       map[string]int
	joined      map[string]time.Time
	attackUntil time.Time
}

type stamp struct {
	id string
	t  time.Time
}

func newRoom() *room {
	return &room{first: make(map[string]time.Time), joined: make(map[string]time.Time), perID: make(map[string]int)}
}

// NewRooms returns an empty Rooms; zero fields of opts take the defaults.
func NewRooms(opts RoomOptions) *Rooms {
	def := DefaultRoomOptions()
	if opts.Budget <= 0 {
		opts.Budget = def.Budget
	}
	if opts.Window <= 0 {
		opts.Window = def.Window
	}
	if opts.AttackPeriod <= 0 {
		opts.AttackPeriod = def.AttackPeriod
	}
	if opts.JoinMemory <= 0 {
		opts.JoinMemory = def.JoinMemory
	}
	if opts.PerAddress <= 0 {
		opts.PerAddress = def.PerAddress
	}
	return &Rooms{opts: opts, rooms: make(map[string]*room)}
}

// Verdict is what Rooms says about one 403.
type Verdict struct {
	// Flagged is set when this 403 put the room under attack.
	Flagged bool
	// Ban lists the addresses to ban now: on the 403 that flags the room,
	// every address that failed on it within the window; while the attack
	// lasts, the failing address itself. Addresses that joined the room
	// are never listed.
	Ban []string
}

// Failed records a 403 of k.ID on room k.Alias at t.
func (r *Rooms) Failed(k Key, t time.Time) Verdict {
	rm := r.rooms[k.Alias]
	if rm == nil {
		rm = newRoom()
		r.rooms[k.Alias] = rm
	}
	r.prune(rm, t)
	if j, ok := rm.joined[k.ID]; ok && t.Sub(j) < r.opts.JoinMemory {
		// An address that got in knows the PIN: its 403s are prompts of
		// further joins, not guesses.
		return Verdict{}
	}
	cut := t.Add(-r.opts.Window)
	if ft, seen := rm.first[k.ID]; !seen || !ft.After(cut) {
		rm.first[k.ID] = t
	} else {
		if rm.perID[k.ID] < r.opts.PerAddress {
			rm.excess = append(rm.excess, stamp{k.ID, t})
			rm.perID[k.ID]++
		}
	}
	if t.Before(rm.attackUntil) {
		rm.attackUntil = maxTime(rm.attackUntil, t.Add(r.opts.AttackPeriod))
		return Verdict{Ban: []string{k.ID}}
	}
	if len(rm.excess) <= r.opts.Budget {
		return Verdict{}
	}
	rm.attackUntil = t.Add(r.opts.AttackPeriod)
	ids := make([]string, 0, len(rm.first))
	for id, ft := range rm.first {
		if ft.After(cut) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return Verdict{Flagged: true, Ban: ids}
}

// Joined records a 200 of k.ID on room k.Alias: its 403s there were a
// join, and it is exempt from the room's attack mode from now on.
func (r *Rooms) Joined(k Key, t time.Time) {
	rm := r.rooms[k.Alias]
	if rm == nil {
		rm = newRoom()
		r.rooms[k.Alias] = rm
	}
	rm.joined[k.ID] = t
	delete(rm.first, k.ID)
	rm.excess = slices.DeleteFunc(rm.excess, func(s stamp) bool { return s.id == k.ID })
	delete(rm.perID, k.ID)
}

// UnderAttack reports whether the room is under attack at t.
func (r *Rooms) UnderAttack(alias string, t time.Time) bool {
	rm := r.rooms[alias]
	return rm != nil && t.Before(rm.attackUntil)
}

// Attacked lists the rooms under attack at t.
func (r *Rooms) Attacked(t time.Time) []string {
	var out []string
	for alias, rm := range r.rooms {
		if t.Before(rm.attackUntil) {
			out = append(out, alias)
		}
	}
	slices.Sort(out)
	return out
}

// Prune forgets what is older than the window and rooms with nothing left
// to remember at t, bounding memory to the rooms seen recently. Failed
// prunes only a room's counted 403s, so call Prune now and then.
func (r *Rooms) Prune(t time.Time) {
	cut := t.Add(-r.opts.Window)
	for alias, rm := range r.rooms {
		r.prune(rm, t)
		for id, ft := range rm.first {
			if !ft.After(cut) {
				delete(rm.first, id)
			}
		}
		if len(rm.first) == 0 && len(rm.joined) == 0 && !t.Before(rm.attackUntil) {
			delete(r.rooms, alias)
		}
	}
}

func (r *Rooms) prune(rm *room, t time.Time) {
	cut := t.Add(-r.opts.Window)
	n := 0
	for n < len(rm.excess) && !rm.excess[n].t.After(cut) {
		if c := rm.perID[rm.excess[n].id]; c > 1 {
			rm.perID[rm.excess[n].id] = c - 1
		} else {
			delete(rm.perID, rm.excess[n].id)
		}
		n++
	}
	if n > 0 {
		rm.excess = append(rm.excess[:0], rm.excess[n:]...)
	}
	if len(rm.joined) > 1024 {
		jcut := t.Add(-r.opts.JoinMemory)
		for id, jt := range rm.joined {
			if jt.Before(jcut) {
				delete(rm.joined, id)
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

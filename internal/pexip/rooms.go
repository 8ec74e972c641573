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

// Rooms counts each room's unexplained 403s across all addresses: those
// the join accounting released because no 200 came for them (or, without
// join accounting, every 403). When a room's count goes over its budget the
// room is under attack: every address with counted failures on it within
// the window is to be banned at once, and every address that fails on it
// while the attack lasts is to be banned at its first 403, before any
// holding. Addresses that joined the room are never caught this way.
// Driven by log time; not safe for concurrent use.
type Rooms struct {
	opts  RoomOptions
	rooms map[string]*room
}

type room struct {
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
	return &room{joined: make(map[string]time.Time), perID: make(map[string]int)}
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

// Verdict is what Rooms says about a counted 403.
type Verdict struct {
	// Flagged is set when this 403 put the room under attack.
	Flagged bool
	// Ban lists the addresses to ban now: on the 403 that flags the room,
	// every address with counted 403s on it within the window. Addresses
	// that joined the room are never listed.
	Ban []string
}

func (r *Rooms) room(alias string) *room {
	rm := r.rooms[alias]
	if rm == nil {
		rm = newRoom()
		r.rooms[alias] = rm
	}
	return rm
}

func (r *Rooms) joinedRecently(rm *room, id string, t time.Time) bool {
	j, ok := rm.joined[id]
	return ok && t.Sub(j) < r.opts.JoinMemory
}

// Attacked reports whether a 403 of k.ID on room k.Alias at t is to be
// banned at once: the room is under attack and the address never joined
// it. Each such 403 extends the attack.
func (r *Rooms) Attacked(k Key, t time.Time) bool {
	rm := r.rooms[k.Alias]
	if rm == nil || !t.Before(rm.attackUntil) || r.joinedRecently(rm, k.ID, t) {
		return false
	}
	rm.attackUntil = maxTime(rm.attackUntil, t.Add(r.opts.AttackPeriod))
	return true
}

// Counted records an unexplained 403 of k.ID on room k.Alias, logged at t.
func (r *Rooms) Counted(k Key, t time.Time) Verdict {
	rm := r.room(k.Alias)
	r.prune(rm, t)
	if r.joinedRecently(rm, k.ID, t) {
		// An address that got in knows the PIN: its 403s are colleagues'
		// prompts and typos behind the same address, not guesses.
		return Verdict{}
	}
	if rm.perID[k.ID] < r.opts.PerAddress {
		rm.excess = append(rm.excess, stamp{k.ID, t})
		rm.perID[k.ID]++
	}
	if len(rm.excess) <= r.opts.Budget || t.Before(rm.attackUntil) {
		return Verdict{}
	}
	rm.attackUntil = t.Add(r.opts.AttackPeriod)
	ids := make([]string, 0, len(rm.perID))
	for id := range rm.perID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return Verdict{Flagged: true, Ban: ids}
}

// Joined records a 200 of k.ID on room k.Alias: its 403s there were a
// join, and it is exempt from the room's attack mode from now on.
func (r *Rooms) Joined(k Key, t time.Time) {
	rm := r.room(k.Alias)
	rm.joined[k.ID] = t
	rm.excess = slices.DeleteFunc(rm.excess, func(s stamp) bool { return s.id == k.ID })
	delete(rm.perID, k.ID)
}

// UnderAttack reports whether the room is under attack at t.
func (r *Rooms) UnderAttack(alias string, t time.Time) bool {
	rm := r.rooms[alias]
	return rm != nil && t.Before(rm.attackUntil)
}

// Prune forgets what is older than the window and rooms with nothing left
// to remember at t, bounding memory to the rooms seen recently. Counted
// prunes only the room it counts on, so call Prune now and then.
func (r *Rooms) Prune(t time.Time) {
	for alias, rm := range r.rooms {
		r.prune(rm, t)
		if len(rm.excess) == 0 && len(rm.joined) == 0 && !t.Before(rm.attackUntil) {
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

// Package pexip holds pinjail's Pexip-specific accounting of PIN failures,
// which sits between a Pexip filter and the jail's failure tracker.
//
// Joining a PIN-protected room always costs at least one 403: the apps ask
// request_token without a PIN first and get a "PIN required" 403 back, then
// send the PIN; a wrong PIN is another 403, the right one a 200. Counting
// every 403, as Pexip's stock fail2ban jail does, bans an office behind one
// NAT address after a handful of correct joins. [Joins] tells joins from
// guesses: 403s of an (address, room) attempt are held until a 200 shows the
// attempt was a join (they are forgiven) or the join window passes (they
// count). Guessing is not slowed down by this: past a small number of held
// 403s, enough to cover two typos in any client's flow, they all count at
// once.
//
// [Rooms] watches each room's unexplained failures across all addresses, so
// an attack spread over many addresses is caught before Infinity's own
// break-in protection locks the room for everyone.
package pexip

import (
	"net/netip"
	"slices"
	"time"
)

// Key names one join attempt: an address (or prefix) on one room.
type Key struct {
	ID    string
	Alias string
}

// Failure is one 403 that counts against an ID.
type Failure struct {
	Key
	Time time.Time
	// Addr, Prefix, Line and Fields travel with the failure for the jail
	// that counts it when it is released.
	Addr   netip.Addr
	Prefix netip.Prefix
	Line   string
	Fields map[string]string
}

// JoinOptions tune [Joins].
type JoinOptions struct {
	// Window is how long a 403 waits for the 200 that makes it part of a
	// join.
	Window time.Duration
	// Hold is how many 403s of one attempt are held; the next one makes them
	// all count. PexRTC, the web app, logs 403, 403, 403, 403, 403, 200 for
	// a join with two typos (each wrong PIN restarts with a PIN prompt), so
	// 5 covers two typos in every client flow.
	Hold int
	// HoldPerID caps the 403s held for one ID across all rooms, so an
	// address spreading guesses over a few rooms is not held indefinitely.
	HoldPerID int
	// RoomsPerID is how many rooms one ID may have 403s held on while it
	// holds more than Hold in all: an office joins two meetings at once,
	// a guesser moving from room to room has one 403 held on each.
	RoomsPerID int
	// CreditWindow and CreditHold: for CreditWindow after an ID joined a
	// room, up to CreditHold of its 403s on that room are held. Those are
	// colleagues behind the same address joining the meeting their
	// address got into: someone who knows the PIN does not guess it.
	CreditWindow time.Duration
	CreditHold   int
	// MaxAttempts caps the attempts held at once, bounding memory under a
	// flood of distinct addresses; past it the oldest attempts count at
	// once, which only ever bans sooner. 0 means no cap.
	MaxAttempts int
}

// DefaultJoinOptions returns the defaults: a 2-minute window (Infinity's PIN
// entry timeout is 120 s), 5 held per attempt, 10 per address on at most 2
// rooms (5 on more), and 20 on a room the address joined in the last hour.
func DefaultJoinOptions() JoinOptions {
	return JoinOptions{Window: 2 * time.Minute, Hold: 5, HoldPerID: 10, RoomsPerID: 2, CreditWindow: time.Hour, CreditHold: 20}
}

// Joins holds 403s until they are known to be failures. It is driven by log
// time: every call passes the time of the line being processed, and held
// failures expire against it. Not safe for concurrent use; a jail feeds it
// from one goroutine.
type Joins struct {
	opts     JoinOptions
	attempts map[Key]*attempt
	// byID indexes the uncredited attempts by ID, for the per-address
	// limits and to release all of an address's attempts at once.
	byID map[string]*idHolds
	// lastJoin holds the time of each attempt's last 200, for credit.
	lastJoin map[Key]time.Time
	// queue orders held 403s by arrival, which is their expiry order too
	// (the window is the same for all); entries whose attempt was resolved
	// in the meantime are skipped when they reach the front.
	queue []queued
	head  int
	// seq numbers attempts, so that a queue entry of an attempt that was
	// resolved is not taken for a later attempt on the same key.
	seq uint64
}

type attempt struct {
	held     []Failure // oldest first
	gen      uint64
	credited bool // the address joined this room lately
}

// idHolds is what one ID has held on rooms it did not join lately.
type idHolds struct {
	held  int
	rooms []string
}

type queued struct {
	key      Key
	deadline time.Time
	gen      uint64
}

// NewJoins returns an empty Joins. Zero fields of opts take the defaults.
func NewJoins(opts JoinOptions) *Joins {
	def := DefaultJoinOptions()
	if opts.Window <= 0 {
		opts.Window = def.Window
	}
	if opts.Hold <= 0 {
		opts.Hold = def.Hold
	}
	if opts.HoldPerID <= 0 {
		opts.HoldPerID = 2 * opts.Hold
	}
	if opts.RoomsPerID <= 0 {
		opts.RoomsPerID = def.RoomsPerID
	}
	if opts.CreditWindow <= 0 {
		opts.CreditWindow = def.CreditWindow
	}
	if opts.CreditHold <= 0 {
		opts.CreditHold = 4 * opts.Hold
	}
	return &Joins{
		opts: opts, attempts: make(map[Key]*attempt), byID: make(map[string]*idHolds),
		lastJoin: make(map[Key]time.Time),
	}
}

// Failed records a 403 and appends to out the failures that count now: none
// while the attempt stays within its hold, all held ones and this one when
// it goes past it.
func (j *Joins) Failed(f Failure, out []Failure) []Failure {
	out = j.Expire(f.Time, out)
	a := j.attempts[f.Key]
	if a == nil {
		j.seq++
		a = &attempt{gen: j.seq}
		if t, ok := j.lastJoin[f.Key]; ok && f.Time.Sub(t) < j.opts.CreditWindow {
			a.credited = true
		}
		j.attempts[f.Key] = a
		if !a.credited {
			h := j.byID[f.ID]
			if h == nil {
				h = &idHolds{}
				j.byID[f.ID] = h
			}
			h.rooms = append(h.rooms, f.Alias)
		}
	}
	a.held = append(a.held, f)
	if a.credited {
		if len(a.held) > j.opts.CreditHold {
			out = append(out, a.held...)
			j.drop(f.Key, a)
			return out
		}
	} else {
		h := j.byID[f.ID]
		h.held++
		if len(a.held) > j.opts.Hold || h.held > j.opts.HoldPerID ||
			h.held > j.opts.Hold && len(h.rooms) > j.opts.RoomsPerID {
			return j.release(f.ID, out)
		}
	}
	j.queue = append(j.queue, queued{key: f.Key, deadline: f.Time.Add(j.opts.Window), gen: a.gen})
	if j.opts.MaxAttempts > 0 && len(j.attempts) > j.opts.MaxAttempts {
		out = j.evict(out)
	}
	return out
}

// evict counts the oldest attempts until the cap holds again.
func (j *Joins) evict(out []Failure) []Failure {
	for len(j.attempts) > j.opts.MaxAttempts && j.head < len(j.queue) {
		q := j.queue[j.head]
		j.head++
		if a := j.attempts[q.key]; a != nil && a.gen == q.gen {
			out = append(out, a.held...)
			j.drop(q.key, a)
		}
	}
	j.compact()
	return out
}

// Joined records a 200 for the attempt at t: its held 403s were part of a
// join and are forgiven. Like Failed, it first appends to out the held
// failures whose window ended before t.
func (j *Joins) Joined(k Key, t time.Time, out []Failure) []Failure {
	out = j.Expire(t, out)
	if a := j.attempts[k]; a != nil {
		j.drop(k, a)
	}
	j.lastJoin[k] = t
	if len(j.lastJoin) > 4096 && len(j.lastJoin)%1024 == 0 {
		for key, jt := range j.lastJoin {
			if t.Sub(jt) >= j.opts.CreditWindow {
				delete(j.lastJoin, key)
			}
		}
	}
	return out
}

// Expire appends to out the held failures whose window ended by now: no
// 200 came for them, so they were failures after all. Each 403 has its own
// window: a slow typist's later 403s can still be forgiven by the 200 that
// ends the join.
func (j *Joins) Expire(now time.Time, out []Failure) []Failure {
	for j.head < len(j.queue) {
		q := j.queue[j.head]
		if q.deadline.After(now) {
			break
		}
		j.head++
		a := j.attempts[q.key]
		if a == nil || a.gen != q.gen {
			continue
		}
		n := 0
		for n < len(a.held) && !a.held[n].Time.Add(j.opts.Window).After(now) {
			n++
		}
		out = append(out, a.held[:n]...)
		if n == len(a.held) {
			j.drop(q.key, a)
			continue
		}
		a.held = a.held[n:]
		if h := j.byID[q.key.ID]; h != nil && !a.credited {
			h.held -= n
		}
	}
	j.compact()
	return out
}

// release counts every held failure of id on rooms it did not join lately:
// once an address is past its hold, the rest of its held 403s are not joins
// either.
func (j *Joins) release(id string, out []Failure) []Failure {
	h := j.byID[id]
	if h == nil {
		return out
	}
	for _, alias := range slices.Clone(h.rooms) {
		k := Key{ID: id, Alias: alias}
		if a := j.attempts[k]; a != nil {
			out = append(out, a.held...)
			j.drop(k, a)
		}
	}
	return out
}

func (j *Joins) drop(k Key, a *attempt) {
	delete(j.attempts, k)
	if a.credited {
		return
	}
	h := j.byID[k.ID]
	if h == nil {
		return
	}
	h.held -= len(a.held)
	if i := slices.Index(h.rooms, k.Alias); i >= 0 {
		h.rooms = slices.Delete(h.rooms, i, i+1)
	}
	if len(h.rooms) == 0 {
		delete(j.byID, k.ID)
	}
}

// compact drops the consumed front of the queue once it is most of it, so
// the queue's memory follows the number of held failures.
func (j *Joins) compact() {
	if j.head > 1024 && j.head*2 > len(j.queue) {
		n := copy(j.queue, j.queue[j.head:])
		j.queue = j.queue[:n]
		j.head = 0
	}
}

// Deadline returns when the earliest held 403 is due, and false when none
// is held.
func (j *Joins) Deadline() (time.Time, bool) {
	for j.head < len(j.queue) {
		q := j.queue[j.head]
		if a := j.attempts[q.key]; a != nil && a.gen == q.gen {
			return q.deadline, true
		}
		j.head++
	}
	return time.Time{}, false
}

// Held returns how many 403s are held.
func (j *Joins) Held() int {
	n := 0
	for _, a := range j.attempts {
		n += len(a.held)
	}
	return n
}

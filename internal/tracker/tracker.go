// Package tracker keeps the failure state of one jail: for each ID (an
// address, or whatever the filter's <F-ID> captured) a ticket that counts
// failures the way fail2ban's FailManager does, until the count reaches
// maxretry and the ticket is handed over for a ban.
//
// Counting follows fail2ban 1.0.2 exactly (s/ticket.py FailTicket.adjustTime,
// s/failmanager.py addFailure). A ticket remembers its first and last failure
// time, both taken from the log timestamps. When a failure arrives more than
// findtime after the ticket's first failure, the count is not reset but
// rescaled as a rate estimate: retry = round(retry / (t - first) * findtime)
// with Python's round-half-to-even, and first moves to t - findtime. The
// failure's attempts are then added. It is not an exact sliding window, and
// it does not need to keep every failure time.
//
// The tracker is a striped map: each stripe is a mutex, a map from ID to slot
// index, and a slab of slots threaded on an intrusive LRU list. Memory is
// bounded by Options.MaxIDs; a full stripe evicts its least recently failing
// ID in O(1). There is no goroutine per ID and no timer: Cleanup drops stale
// tickets when the caller asks.
//
// Changes reports the tickets changed and dropped since it was last called,
// so that saving the tickets costs what changed, not what is tracked.
package tracker

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// Options configures a Tracker. The zero value counts with findtime 0 (every
// failure after the first starts again at 1), bans on the first failure, keeps
// no matches and tracks any number of IDs.
type Options struct {
	// FindTime is fail2ban's findtime: the window the count is estimated over.
	FindTime time.Duration
	// MaxRetry is the count at which a ticket is full (fail2ban's maxretry).
	MaxRetry int
	// MaxMatches is how many matched lines a ticket keeps, the last ones
	// (fail2ban's maxmatches). 0 keeps none.
	MaxMatches int
	// MaxIDs caps the number of IDs with a ticket; 0 means no cap. When the
	// cap is reached the least recently failing IDs are evicted.
	MaxIDs int
}

// Failure is one failure of an ID.
type Failure struct {
	ID   string
	Time time.Time // the log line's timestamp
	// Attempts is how much the failure adds to the ticket's retry count; at
	// least 1. The jail adds bantime.increment's boost for known offenders
	// here (see ban.Policy.ExtraAttempts). As in fail2ban, where the boost
	// comes after the failure, the attempts beyond the first are not added
	// when the first alone fills the ticket.
	Attempts int
	// Match is the matched log line, kept for the <matches> action tag; an
	// empty Match is not kept.
	Match string
}

// Ticket is the failure state of one ID.
type Ticket struct {
	ID string
	// First is the start of the window the count covers: the first failure,
	// or last - findtime once the count has been rescaled.
	First time.Time
	// Last is the time of the latest failure. A failure logged earlier than
	// Last counts, but does not move the window.
	Last time.Time
	// Retry is the count compared with maxretry: the sum of the failures'
	// attempts, rescaled over findtime (fail2ban's FailTicket retry).
	Retry int
	// Failures is the number of failures added (fail2ban's <failures>).
	Failures int
	// Matches holds the last MaxMatches matched lines, oldest first.
	Matches []string
}

// Tracker holds the tickets of one jail. It is safe for concurrent use.
type Tracker struct {
	opts    Options
	seed    maphash.Seed
	mask    uint64
	stripes []stripe

	total   atomic.Uint64
	evicted atomic.Uint64
}

// Stripe sizing. A stripe evicts its own least recently failing ID when it is
// full, so the cap holds per stripe and eviction order is only approximately
// global: with IDs spread evenly by the hash, each stripe holds the most
// recent IDs of its share. An exact global LRU would need one list, and so
// one lock, touched by every Add. To keep the approximation close, a capped
// tracker uses fewer stripes so that each holds at least minStripeIDs; a small
// cap gets a single stripe and an exact LRU. Contention is not a concern at
// that size: a jail adds from one goroutine, and the other callers only read.
const (
	maxStripes   = 256
	minStripeIDs = 1024
)

// New returns an empty Tracker.
func New(opts Options) *Tracker {
	opts.MaxMatches = max(opts.MaxMatches, 0)
	opts.MaxIDs = max(opts.MaxIDs, 0)
	n := maxStripes
	if opts.MaxIDs > 0 {
		for n > 1 && opts.MaxIDs/n < minStripeIDs {
			n /= 2
		}
	}
	t := &Tracker{
		opts:    opts,
		seed:    maphash.MakeSeed(),
		mask:    uint64(n - 1),
		stripes: make([]stripe, n),
	}
	for i := range t.stripes {
		s := &t.stripes[i]
		s.index = make(map[string]int32)
		s.head, s.tail, s.free = none, none, none
		if opts.MaxIDs > 0 {
			// Spread the remainder so that the caps add up to MaxIDs.
			s.limit = opts.MaxIDs / n
			if i < opts.MaxIDs%n {
				s.limit++
			}
		}
	}
	return t
}

// none marks the end of a slot list.
const none int32 = -1

// stripe is one lock's share of the IDs. Slots live in a slab addressed by
// index rather than behind pointers: a slot is reused in place on eviction
// and after Cleanup, so a capped tracker stops allocating once warm, and the
// map holds no pointers for the garbage collector to chase.
type stripe struct {
	mu    sync.Mutex
	index map[string]int32
	slots []slot
	// head is the most recently failing slot, tail the least; free chains
	// unused slots through next.
	head, tail, free int32
	limit            int // 0: no cap
	// changed lists the slots changed since the last Changes, a slot
	// maybe more than once; dropped lists the reported IDs dropped since.
	changed []int32
	dropped []string
	// Padding keeps two stripes' locks off one cache line, as Prometheus'
	// stripeSeries does; without it, locking one stripe slows its neighbours.
	_ cpu.CacheLinePad
}

type slot struct {
	id string
	// Times in Unix nanoseconds: 16 bytes against time.Time's 48, and no
	// location pointer to scan.
	first, last int64
	retry       int
	failures    int32 // saturates; int32 leaves room for the flags
	// changed is set while the slot is in its stripe's changed list;
	// reported once Changes has reported the ticket, so that dropping it
	// must be reported too.
	changed, reported bool
	matches           []string
	prev, next        int32
}

func (t *Tracker) stripe(id string) *stripe {
	return &t.stripes[maphash.String(t.seed, id)&t.mask]
}

// Add counts a failure. It returns the ID's ticket and true when the retry
// count reached MaxRetry; the ticket is then removed from the tracker, as
// fail2ban's toBan does, so the caller owns it. Otherwise it returns the
// ticket without its Matches (copying them on every failure would make Add
// allocate; Get returns them) and false.
func (t *Tracker) Add(f Failure) (Ticket, bool) {
	t.total.Add(1)
	attempts := max(f.Attempts, 1)
	at := f.Time.UnixNano()
	s := t.stripe(f.ID)
	s.mu.Lock()
	i, ok := s.index[f.ID]
	if ok {
		sl := &s.slots[i]
		sl.adjust(at, int64(t.opts.FindTime))
		sl.retry++
		if sl.failures < math.MaxInt32 {
			sl.failures++
		}
		s.touch(i)
	} else {
		i = t.insert(s, f.ID)
		s.slots[i] = slot{
			id: f.ID, first: at, last: at, retry: 1, failures: 1,
			matches: s.slots[i].matches[:0], prev: none, next: none,
		}
		s.pushFront(i)
	}
	s.change(i)
	sl := &s.slots[i]
	// fail2ban's observer adds the bantime.increment boost after the
	// failure itself, and only to a ticket the failure did not fill.
	if sl.retry < t.opts.MaxRetry {
		sl.retry += attempts - 1
	}
	if f.Match != "" && t.opts.MaxMatches > 0 {
		sl.addMatch(f.Match, t.opts.MaxMatches)
	}
	if sl.retry < t.opts.MaxRetry {
		tk := sl.ticket(false)
		s.mu.Unlock()
		return tk, false
	}
	tk := sl.ticket(false)
	// Hand the matches over instead of copying them: the slot is freed.
	tk.Matches = sl.matches
	sl.matches = nil
	s.remove(i)
	s.mu.Unlock()
	return tk, true
}

// adjust is FailTicket.adjustTime: a failure later than the last one extends
// the window, and past findtime rescales the count to the rate seen so far.
func (sl *slot) adjust(at, findTime int64) {
	if at <= sl.last {
		return
	}
	if sl.first < at-findTime {
		// Python: int(round(retry / float(t - first) * findtime)), in
		// float seconds; round() is half-to-even.
		span := float64(at-sl.first) / 1e9
		sl.retry = int(math.RoundToEven(float64(sl.retry) / span * (float64(findTime) / 1e9)))
		sl.first = at - findTime
	}
	sl.last = at
}

func (sl *slot) addMatch(m string, limit int) {
	if len(sl.matches) < limit {
		sl.matches = append(sl.matches, m)
		return
	}
	// Full: shift in place so that a warm ticket does not allocate.
	copy(sl.matches, sl.matches[1:])
	sl.matches[len(sl.matches)-1] = m
}

func (sl *slot) ticket(withMatches bool) Ticket {
	tk := Ticket{
		ID:       sl.id,
		First:    time.Unix(0, sl.first),
		Last:     time.Unix(0, sl.last),
		Retry:    sl.retry,
		Failures: int(sl.failures),
	}
	if withMatches && len(sl.matches) > 0 {
		tk.Matches = slices.Clone(sl.matches)
	}
	return tk
}

// insert returns a free slot for id, evicting the stripe's least recently
// failing ID when the stripe is full. The slot is indexed but not yet linked.
func (t *Tracker) insert(s *stripe, id string) int32 {
	var i int32
	switch {
	case s.limit > 0 && len(s.index) >= s.limit:
		i = s.tail
		s.unlink(i)
		s.drop(i)
		clear(s.slots[i].matches)
		t.evicted.Add(1)
	case s.free != none:
		i = s.free
		s.free = s.slots[i].next
	default:
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	s.index[id] = i
	return i
}

// remove frees slot i.
func (s *stripe) remove(i int32) {
	s.unlink(i)
	s.drop(i)
	sl := &s.slots[i]
	// Keep the matches' array for the next ID, but drop the strings it
	// points to so that they can be collected.
	clear(sl.matches)
	*sl = slot{matches: sl.matches[:0], prev: none, next: s.free}
	s.free = i
}

// drop unindexes slot i's ID, noting the drop for Changes if the ticket
// was reported.
func (s *stripe) drop(i int32) {
	sl := &s.slots[i]
	delete(s.index, sl.id)
	if sl.reported {
		s.dropped = append(s.dropped, sl.id)
	}
	// A slot reused before Changes looks at it is listed again.
	sl.changed, sl.reported = false, false
}

// change notes that slot i's ticket changed.
func (s *stripe) change(i int32) {
	if sl := &s.slots[i]; !sl.changed {
		sl.changed = true
		s.changed = append(s.changed, i)
	}
}

func (s *stripe) unlink(i int32) {
	sl := &s.slots[i]
	if sl.prev != none {
		s.slots[sl.prev].next = sl.next
	} else {
		s.head = sl.next
	}
	if sl.next != none {
		s.slots[sl.next].prev = sl.prev
	} else {
		s.tail = sl.prev
	}
	sl.prev, sl.next = none, none
}

func (s *stripe) pushFront(i int32) {
	sl := &s.slots[i]
	sl.prev, sl.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	}
	s.head = i
	if s.tail == none {
		s.tail = i
	}
}

// touch marks slot i as the most recently failing.
func (s *stripe) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// Get returns a copy of the ID's ticket.
func (t *Tracker) Get(id string) (Ticket, bool) {
	s := t.stripe(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[id]
	if !ok {
		return Ticket{}, false
	}
	return s.slots[i].ticket(true), true
}

// Forget drops the ID's ticket, if any.
func (t *Tracker) Forget(id string) {
	s := t.stripe(id)
	s.mu.Lock()
	if i, ok := s.index[id]; ok {
		s.remove(i)
	}
	s.mu.Unlock()
}

// Cleanup drops the tickets whose last failure is at or before now -
// findtime, as fail2ban's FailManager.cleanup does, and returns how many it
// dropped. It scans every ticket: log times need not arrive in order, so
// recency of Add says nothing certain about a ticket's last time.
func (t *Tracker) Cleanup(now time.Time) int {
	limit := now.Add(-t.opts.FindTime).UnixNano()
	dropped := 0
	for k := range t.stripes {
		s := &t.stripes[k]
		s.mu.Lock()
		for i := s.head; i != none; {
			next := s.slots[i].next
			if s.slots[i].last <= limit {
				s.remove(i)
				dropped++
			}
			i = next
		}
		s.mu.Unlock()
	}
	return dropped
}

// Len returns the number of IDs with a ticket.
func (t *Tracker) Len() int {
	n := 0
	for k := range t.stripes {
		s := &t.stripes[k]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// Total returns the number of failures ever added (fail2ban's "Total
// failed").
func (t *Tracker) Total() uint64 { return t.total.Load() }

// Evicted returns the number of tickets dropped to respect MaxIDs.
func (t *Tracker) Evicted() uint64 { return t.evicted.Load() }

// Snapshot returns a copy of every ticket, least recently failing first, for
// persistence across restarts.
func (t *Tracker) Snapshot() []Ticket {
	var out []Ticket
	for k := range t.stripes {
		s := &t.stripes[k]
		s.mu.Lock()
		for i := s.tail; i != none; i = s.slots[i].prev {
			out = append(out, s.slots[i].ticket(true))
		}
		s.mu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b Ticket) int { return a.Last.Compare(b.Last) })
	return out
}

// Restore puts tickets back, as Snapshot returned them. A ticket replaces the
// ID's current one; tickets are inserted in order of their last failure, so
// MaxIDs keeps the most recent. Restore does not count toward Total, and
// tickets with an empty ID are skipped.
func (t *Tracker) Restore(tickets []Ticket) {
	sorted := slices.Clone(tickets)
	slices.SortStableFunc(sorted, func(a, b Ticket) int { return cmp.Compare(a.Last.UnixNano(), b.Last.UnixNano()) })
	for _, tk := range sorted {
		if tk.ID == "" {
			continue
		}
		s := t.stripe(tk.ID)
		s.mu.Lock()
		i, ok := s.index[tk.ID]
		if ok {
			s.unlink(i)
		} else {
			i = t.insert(s, tk.ID)
		}
		matches := s.slots[i].matches[:0]
		if t.opts.MaxMatches > 0 {
			keep := tk.Matches[max(len(tk.Matches)-t.opts.MaxMatches, 0):]
			matches = append(matches, keep...)
		}
		// A replaced ticket keeps its flags: it may be listed as
		// changed, and may have been reported.
		old := &s.slots[i]
		s.slots[i] = slot{
			id: tk.ID, first: tk.First.UnixNano(), last: tk.Last.UnixNano(),
			retry: tk.Retry, failures: int32(min(tk.Failures, math.MaxInt32)), matches: matches,
			changed: old.changed, reported: old.reported, prev: none, next: none,
		}
		s.change(i)
		s.pushFront(i)
		s.mu.Unlock()
	}
}

// Changes returns the tickets added or changed since the last call, with
// their matches, and the IDs of the tickets it reported that were dropped
// since: handed over full, forgotten, cleaned up or evicted. Applied to
// the tickets as the last call left them, the dropped IDs first, they give
// the tickets as they are. With all, or at the first call, every ticket is
// returned as changed and dropped is nil: the caller replaces what it has.
// Restored tickets count as changed.
func (t *Tracker) Changes(all bool) (changed []Ticket, dropped []string) {
	for k := range t.stripes {
		s := &t.stripes[k]
		s.mu.Lock()
		if all {
			for i := s.head; i != none; i = s.slots[i].next {
				changed = s.report(i, changed)
			}
		} else {
			dropped = append(dropped, s.dropped...)
			for _, i := range s.changed {
				if s.slots[i].changed {
					changed = s.report(i, changed)
				}
			}
		}
		s.changed = trim(s.changed)
		s.dropped = trim(s.dropped)
		s.mu.Unlock()
	}
	return changed, dropped
}

// report appends slot i's ticket to out, and notes it reported.
func (s *stripe) report(i int32, out []Ticket) []Ticket {
	sl := &s.slots[i]
	sl.changed, sl.reported = false, true
	return append(out, sl.ticket(true))
}

// trim empties a list, letting go of its array when a burst grew it.
func trim[E any](list []E) []E {
	if cap(list) > 1024 {
		return nil
	}
	clear(list)
	return list[:0]
}

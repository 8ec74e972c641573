// Package ban holds a jail's ban policy and its current bans: how long to
// ban (bantime, and bantime.increment's growing ban times for repeat
// offenders), which addresses never to ban (ignoreip, ignoreself,
// ignorecommand), and the set of IDs banned now with their end times. It
// follows fail2ban 1.0.2 (s/banmanager.py, s/observer.py, s/jail.py,
// s/filter.py); enforcing the bans is the caller's business.
package ban

import (
	"cmp"
	"container/heap"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// Entry is one ban.
type Entry struct {
	ID string
	// Addr is the address the ban was decided for (the last one seen when
	// failures are counted by prefix); invalid for an ID that is not one.
	Addr netip.Addr
	// Prefix is what the firewall blocks: Addr as a /32 or /128, or the
	// prefix failures were counted by. Invalid for an ID that is not an
	// address, which is never sent to a firewall.
	Prefix netip.Prefix
	Start  time.Time
	// Duration is the ban's length; config.Permanent for ever.
	Duration time.Duration
	// Count is the number of bans of the ID, this one included.
	Count int
	// Failures is the failure count that led to the ban.
	Failures int
	// Matches and Fields are the failures' lines and the filter's captured
	// fields. The Manager never modifies them; callers must not either.
	Matches []string
	Fields  map[string]string
}

// Overlaps reports whether the ban and p have an address in common.
func (e Entry) Overlaps(p netip.Prefix) bool {
	return e.Prefix.IsValid() && e.Prefix.Overlaps(p)
}

// Permanent reports whether the ban never ends.
func (e Entry) Permanent() bool { return e.Duration == config.Permanent }

// End returns the time the ban ends, the zero Time for a permanent ban.
func (e Entry) End() time.Time {
	if e.Permanent() {
		return time.Time{}
	}
	return e.Start.Add(e.Duration)
}

// endsBefore reports whether e ends before t.
func (e Entry) endsBefore(t time.Time) bool { return !e.Permanent() && e.End().Before(t) }

// Outcome tells what Manager.Ban did.
type Outcome int

const (
	// Added is a new ban: the caller enforces it.
	Added Outcome = iota
	// Extended means the ID was banned already and its ban now ends later.
	Extended
	// AlreadyBanned means the ID was banned already, at least as long.
	AlreadyBanned
	// Expired means the ban would have ended already; nothing changed.
	Expired
)

func (o Outcome) String() string {
	switch o {
	case Added:
		return "added"
	case Extended:
		return "extended"
	case AlreadyBanned:
		return "already banned"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Manager holds the current bans of one jail, keyed by ID (fail2ban's
// BanManager). Times are passed in, so the same Manager runs on wall time in
// the daemon and on log time in a replay. The zero value is not usable; call
// NewManager. It is safe for concurrent use.
type Manager struct {
	mu    sync.RWMutex
	bans  map[string]Entry
	ends  endHeap // by end time; may hold stale items, see Expire
	total uint64
}

// NewManager returns a Manager with no bans.
func NewManager() *Manager {
	return &Manager{bans: make(map[string]Entry)}
}

// Ban bans e.ID from e.Start for e.Duration, as of now. A ban that would end
// before now is not made (Expired); so is one with a negative Duration other
// than config.Permanent. If the ID is banned already and the new ban ends
// later, the existing ban is extended to the new end (fail2ban: btm +=
// newtime - oldtime) and keeps its other fields. Ban returns the ID's ban as
// it stands and what happened. An Entry with Count below 1 is stored with
// Count 1.
func (m *Manager) Ban(e Entry, now time.Time) (Entry, Outcome) {
	if e.Duration < 0 && !e.Permanent() || e.endsBefore(now) {
		return e, Expired
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// A ban that ended but was not expired yet (a replay expires nothing)
	// is history: the new one is a ban of its own.
	if old, ok := m.bans[e.ID]; ok && !old.endsBefore(now) {
		if !endsLater(e, old) {
			return old, AlreadyBanned
		}
		d := e.Duration
		if !e.Permanent() {
			if diff := e.Start.Sub(old.Start); diff > 0 {
				d += diff
			}
		}
		old.Duration = d
		m.store(old)
		return old, Extended
	}
	e.Count = max(e.Count, 1)
	m.store(e)
	m.total++
	return e, Added
}

// endsLater reports whether a ends after b.
func endsLater(a, b Entry) bool {
	switch {
	case b.Permanent():
		return false
	case a.Permanent():
		return true
	}
	return a.End().After(b.End())
}

func (m *Manager) store(e Entry) {
	m.bans[e.ID] = e
	if e.Permanent() {
		return
	}
	heap.Push(&m.ends, endItem{end: e.End(), id: e.ID})
	// Extensions and unbans leave stale items behind; rebuild once they
	// outnumber the live ones so that the heap stays proportional to the
	// bans.
	if len(m.ends) > 2*len(m.bans)+64 {
		m.ends = m.ends[:0]
		for id, b := range m.bans {
			if !b.Permanent() {
				m.ends = append(m.ends, endItem{end: b.End(), id: id})
			}
		}
		heap.Init(&m.ends)
	}
}

// IsBanned reports whether id is banned at time at: it has a ban that is
// permanent or has not ended by then.
func (m *Manager) IsBanned(id string, at time.Time) bool {
	m.mu.RLock()
	e, ok := m.bans[id]
	m.mu.RUnlock()
	return ok && !e.endsBefore(at)
}

// Get returns the ID's ban.
func (m *Manager) Get(id string) (Entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.bans[id]
	return e, ok
}

// Expire removes and returns the bans that ended before now, the earliest
// end first. The caller lifts them.
func (m *Manager) Expire(now time.Time) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for len(m.ends) > 0 && m.ends[0].end.Before(now) {
		it := heap.Pop(&m.ends).(endItem)
		e, ok := m.bans[it.id]
		if !ok || e.Permanent() || !e.End().Equal(it.end) {
			continue // stale: unbanned or extended since
		}
		delete(m.bans, it.id)
		out = append(out, e)
	}
	return out
}

// Unban removes the ID's ban and returns it.
func (m *Manager) Unban(id string) (Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.bans[id]
	if ok {
		delete(m.bans, id)
	}
	return e, ok
}

// UnbanAll removes every ban and returns them, ordered as List orders them.
func (m *Manager) UnbanAll() []Entry {
	m.mu.Lock()
	bans := m.bans
	m.bans = make(map[string]Entry)
	m.ends = nil
	m.mu.Unlock()
	return sortByEnd(bans)
}

// List returns the bans ordered by end, permanent bans last, ties by ID.
func (m *Manager) List() []Entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return sortByEnd(m.bans)
}

func sortByEnd(bans map[string]Entry) []Entry {
	out := make([]Entry, 0, len(bans))
	for _, e := range bans {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		switch {
		case a.Permanent() != b.Permanent():
			if a.Permanent() {
				return 1
			}
			return -1
		case !a.Permanent():
			if c := a.End().Compare(b.End()); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Active returns the number of bans in force at now: what List would
// hold less the bans that ended and were not expired yet, counted without
// copying or sorting them.
func (m *Manager) Active(now time.Time) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, e := range m.bans {
		if e.Permanent() || e.End().After(now) {
			n++
		}
	}
	return n
}

// Len returns the number of current bans.
func (m *Manager) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.bans)
}

// Total returns the number of bans ever added (fail2ban's "Total banned");
// extensions do not count.
func (m *Manager) Total() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.total
}

type endItem struct {
	end time.Time
	id  string
}

// endHeap is a min-heap of ban ends for container/heap.
type endHeap []endItem

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end.Before(h[j].end) }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(endItem)) }
func (h *endHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = endItem{}
	*h = old[:len(old)-1]
	return it
}

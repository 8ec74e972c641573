package ban

import (
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestManagerBan(t *testing.T) {
	type step struct {
		id       string
		start    int // seconds after t0
		duration time.Duration
		now      int
		outcome  Outcome
		end      int // expected end of the ID's ban after the step, -1 permanent
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"new ban", []step{{"a", 0, sec(600), 0, Added, 600}}},
		{"expired when it would end before now", []step{{"a", 0, sec(600), 601, Expired, 0}}},
		{"ending exactly now is not expired", []step{{"a", 0, sec(600), 600, Added, 600}}},
		{"negative bantime is expired", []step{{"a", 0, -sec(5), 0, Expired, 0}}},
		{"permanent", []step{{"a", 0, config.Permanent, 1 << 30, Added, -1}}},
		{"extended to the new end", []step{
			{"a", 0, sec(600), 0, Added, 600},
			{"a", 100, sec(1200), 100, Extended, 1300},
		}},
		{"an older, longer ticket extends without the negative shift", []step{
			{"a", 100, sec(600), 100, Added, 700},
			{"a", 50, sec(1000), 100, Extended, 1100}, // fail2ban: btm = 1000, from the old start
		}},
		{"a shorter one changes nothing", []step{
			{"a", 0, sec(600), 0, Added, 600},
			{"a", 10, sec(60), 10, AlreadyBanned, 600},
		}},
		{"permanent extends", []step{
			{"a", 0, sec(600), 0, Added, 600},
			{"a", 10, config.Permanent, 10, Extended, -1},
		}},
		{"nothing extends permanent", []step{
			{"a", 0, config.Permanent, 0, Added, -1},
			{"a", 10, sec(1 << 20), 10, AlreadyBanned, -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager()
			for i, s := range tt.steps {
				e, outcome := m.Ban(Entry{ID: s.id, Start: t0.Add(sec(s.start)), Duration: s.duration}, t0.Add(sec(s.now)))
				if outcome != s.outcome {
					t.Fatalf("step %d: %v, want %v", i, outcome, s.outcome)
				}
				if outcome == Expired {
					if m.Len() != 0 {
						t.Fatalf("step %d: expired ban stored", i)
					}
					continue
				}
				got, _ := m.Get(s.id)
				if !sameBan(got, e) {
					t.Fatalf("step %d: Ban returned %+v, Get %+v", i, e, got)
				}
				switch {
				case s.end < 0 && !got.Permanent():
					t.Fatalf("step %d: %+v not permanent", i, got)
				case s.end >= 0 && !got.End().Equal(t0.Add(sec(s.end))):
					t.Fatalf("step %d: ends %v, want t0+%ds", i, got.End().Sub(t0), s.end)
				}
			}
		})
	}
}

func sameBan(a, b Entry) bool {
	return a.ID == b.ID && a.Start.Equal(b.Start) && a.Duration == b.Duration && a.Count == b.Count
}

func TestManagerKeepsFirstBanFields(t *testing.T) {
	m := NewManager()
	addr := netip.MustParseAddr("192.0.2.1")
	m.Ban(Entry{ID: "a", Addr: addr, Start: t0, Duration: sec(60), Count: 2, Failures: 5, Matches: []string{"x"}}, t0)
	e, outcome := m.Ban(Entry{ID: "a", Start: t0.Add(sec(10)), Duration: sec(600), Count: 3, Failures: 9}, t0)
	if outcome != Extended || e.Count != 2 || e.Failures != 5 || e.Addr != addr || len(e.Matches) != 1 {
		t.Fatalf("%v %+v", outcome, e)
	}
	if m.Total() != 1 {
		t.Fatalf("Total = %d; an extension is not a ban", m.Total())
	}
	if e, _ := m.Ban(Entry{ID: "b", Start: t0, Duration: sec(60)}, t0); e.Count != 1 {
		t.Fatalf("Count below 1 stored as %d", e.Count)
	}
}

func TestManagerExpire(t *testing.T) {
	m := NewManager()
	for i, d := range []time.Duration{sec(300), sec(100), config.Permanent, sec(200), sec(100)} {
		m.Ban(Entry{ID: strconv.Itoa(i), Start: t0, Duration: d}, t0)
	}
	// Extend 1 past the others, unban 3: their old heap items go stale.
	m.Ban(Entry{ID: "1", Start: t0, Duration: sec(1000)}, t0)
	m.Unban("3")
	// Bans that ended by then are not active, expired or not (as
	// the jail lists its bans in force).
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{0, 4}, {sec(99), 4}, {sec(100), 3}, {sec(300), 2}, {sec(5000), 1}} {
		if n := m.Active(t0.Add(c.at)); n != c.want {
			t.Errorf("Active(%v) = %d, want %d", c.at, n, c.want)
		}
	}

	if got := m.Expire(t0.Add(sec(100))); len(got) != 0 {
		t.Fatalf("end == now is not over yet: %v", got)
	}
	if got := ids(m.Expire(t0.Add(sec(101)))); got != "4" {
		t.Fatalf("Expire(101) = %s, want 4", got)
	}
	if got := ids(m.Expire(t0.Add(sec(5000)))); got != "0,1" {
		t.Fatalf("Expire(5000) = %s, want 0,1 in order of end", got)
	}
	if m.Len() != 1 || !m.IsBanned("2", t0.Add(1<<62)) {
		t.Fatalf("the permanent ban must remain; Len %d", m.Len())
	}
}

func ids(es []Entry) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ","
		}
		s += e.ID
	}
	return s
}

func TestManagerIsBanned(t *testing.T) {
	m := NewManager()
	m.Ban(Entry{ID: "a", Start: t0, Duration: sec(60)}, t0)
	for at, want := range map[int]bool{-10: true, 0: true, 60: true, 61: false} {
		if got := m.IsBanned("a", t0.Add(sec(at))); got != want {
			t.Errorf("IsBanned at t0+%ds = %v, want %v", at, got, want)
		}
	}
	if m.IsBanned("b", t0) {
		t.Error("b is not banned")
	}
}

func TestManagerListAndUnbanAll(t *testing.T) {
	m := NewManager()
	m.Ban(Entry{ID: "p", Start: t0, Duration: config.Permanent}, t0)
	m.Ban(Entry{ID: "late", Start: t0, Duration: sec(900)}, t0)
	m.Ban(Entry{ID: "b", Start: t0, Duration: sec(60)}, t0)
	m.Ban(Entry{ID: "a", Start: t0, Duration: sec(60)}, t0)
	if got := ids(m.List()); got != "a,b,late,p" {
		t.Fatalf("List = %s", got)
	}
	if got := ids(m.UnbanAll()); got != "a,b,late,p" {
		t.Fatalf("UnbanAll = %s", got)
	}
	if m.Len() != 0 || len(m.Expire(t0.Add(sec(10000)))) != 0 {
		t.Fatal("bans left after UnbanAll")
	}
	if _, ok := m.Unban("a"); ok {
		t.Fatal("Unban of an unknown ID")
	}
	if m.Total() != 4 {
		t.Fatalf("Total = %d, want 4", m.Total())
	}
}

// TestManagerHeapStaysBounded extends one ban many times: stale heap items
// must not pile up.
func TestManagerHeapStaysBounded(t *testing.T) {
	m := NewManager()
	for i := range 10_000 {
		m.Ban(Entry{ID: "a", Start: t0, Duration: sec(60 + i)}, t0)
	}
	if len(m.ends) > 2*m.Len()+65 {
		t.Fatalf("heap holds %d items for %d bans", len(m.ends), m.Len())
	}
	if got := m.Expire(t0.Add(sec(60 + 10_000))); len(got) != 1 {
		t.Fatalf("Expire = %v", got)
	}
}

func TestManagerConcurrentUse(t *testing.T) {
	m := NewManager()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := strconv.Itoa(i % 300)
				now := t0.Add(sec(i))
				m.Ban(Entry{ID: id, Start: now, Duration: sec(50 + w)}, now)
				m.IsBanned(id, now)
				if i%100 == 0 {
					m.Expire(now)
					m.List()
				}
			}
		})
	}
	wg.Wait()
	m.Expire(t0.Add(sec(1 << 20)))
	if m.Len() != 0 {
		t.Fatalf("Len = %d after expiring everything", m.Len())
	}
}

func BenchmarkManagerBan(b *testing.B) {
	m := NewManager()
	ids := make([]string, 100_000)
	for i := range ids {
		ids[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		m.Ban(Entry{ID: ids[i%len(ids)], Start: now, Duration: 10 * time.Minute}, now)
		if i%1000 == 0 {
			m.Expire(now)
		}
		i++
	}
}

func BenchmarkManagerIsBanned(b *testing.B) {
	m := NewManager()
	for i := range 100_000 {
		m.Ban(Entry{ID: strconv.Itoa(i), Start: t0, Duration: time.Hour}, t0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.IsBanned("12345", t0)
		i++
	}
}

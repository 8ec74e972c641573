package report

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
)

// totals are a jail's counters as the report shows them.
type totals struct {
	Attempts, Failures, Ignored, Bans, Banned, Rooms, Attacked uint64
}

func totalsOf(v jailView) totals {
	return totals{v.Attempts, v.Failures, v.Ignored, v.Bans, v.Banned, v.NumRooms, v.NumAttacked}
}

// sourceRow is what the banned sources table says of one source.
type sourceRow struct {
	ID, BeforeBan                      string
	Failures, Bans, WhileBanned, Total uint64
}

func sourceRows(v jailView) []sourceRow {
	var rows []sourceRow
	for _, s := range v.Sources {
		rows = append(rows, sourceRow{s.ID, s.BeforeBan, s.Failures, s.Bans, s.WhileBanned, s.Total})
	}
	return rows
}

type roomRow struct {
	Alias                                      string
	Attempts, Failures, Ignored, Bans, Attacks uint64
}

func roomRows(rs []roomView) []roomRow {
	var rows []roomRow
	for _, r := range rs {
		rows = append(rows, roomRow{r.Alias, r.Attempts, r.Failures, r.Ignored, r.Bans, r.Attacks})
	}
	return rows
}

func jailNamed(t *testing.T, p page, name string) jailView {
	t.Helper()
	for _, j := range p.Jails {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no jail %q in the report", name)
	return jailView{}
}

func TestRecorder(t *testing.T) {
	const rp = "pexiprp"
	tests := []struct {
		name    string
		opts    Options
		events  func(*events)
		totals  totals
		sources []sourceRow
		rooms   []roomRow
		other   *roomRow
	}{
		{
			name: "guesses before, while and after a ban",
			events: func(e *events) {
				for i := range 6 {
					e.attempt(rp, "198.51.100.1", "meet.bob", at(i))
					e.failure(rp, "198.51.100.1", "meet.bob", at(i))
				}
				e.ban(rp, "198.51.100.1", "meet.bob", at(5), time.Minute, 6)
				// Three while the ban holds, two after it ended.
				for _, s := range []int{10, 30, 64, 65, 90} {
					e.attempt(rp, "198.51.100.1", "meet.bob", at(s))
				}
			},
			totals:  totals{Attempts: 11, Failures: 6, Bans: 1, Banned: 1, Rooms: 1},
			sources: []sourceRow{{"198.51.100.1", "6", 6, 1, 3, 11}},
			rooms:   []roomRow{{"meet.bob", 11, 6, 0, 1, 0}},
		},
		{
			name: "a second ban counts the source once and its attempts before the first",
			events: func(e *events) {
				e.attempt(rp, "198.51.100.1", "meet.bob", at(0))
				e.ban(rp, "198.51.100.1", "meet.bob", at(0), time.Minute, 1)
				e.attempt(rp, "198.51.100.1", "meet.bob", at(100))
				e.ban(rp, "198.51.100.1", "meet.carol", at(100), 2*time.Minute, 1)
				e.attempt(rp, "198.51.100.1", "meet.bob", at(200))
			},
			totals:  totals{Attempts: 3, Bans: 2, Banned: 1, Rooms: 2},
			sources: []sourceRow{{"198.51.100.1", "1", 1, 2, 1, 3}},
			rooms:   []roomRow{{"meet.bob", 3, 0, 0, 1, 0}, {"meet.carol", 0, 0, 0, 1, 0}},
		},
		{
			name: "a permanent ban holds for ever",
			events: func(e *events) {
				e.attempt("sshd", "198.51.100.1", "", at(0))
				e.ban("sshd", "198.51.100.1", "", at(0), config.Permanent, 1)
				e.attempt("sshd", "198.51.100.1", "", at(1e6))
			},
			totals:  totals{Attempts: 2, Bans: 1, Banned: 1},
			sources: []sourceRow{{"198.51.100.1", "1", 1, 1, 1, 2}},
		},
		{
			name: "banned sources rank by attempts before the ban",
			events: func(e *events) {
				for i, id := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
					for range i + 1 {
						e.attempt(rp, id, "meet.bob", at(i))
					}
					e.ban(rp, id, "meet.bob", at(i), time.Minute, i+1)
				}
			},
			totals: totals{Attempts: 6, Bans: 3, Banned: 3, Rooms: 1},
			sources: []sourceRow{
				{"192.0.2.3", "3", 3, 1, 0, 3},
				{"192.0.2.2", "2", 2, 1, 0, 2},
				{"192.0.2.1", "1", 1, 1, 0, 1},
			},
			rooms: []roomRow{{"meet.bob", 6, 0, 0, 3, 0}},
		},
		{
			name: "allow-listed attempts",
			events: func(e *events) {
				e.attempt(rp, "10.0.0.5", "meet.bob", at(0))
				e.ignored(rp, "10.0.0.5", "meet.bob", at(0))
			},
			totals: totals{Attempts: 1, Ignored: 1, Rooms: 1},
			rooms:  []roomRow{{"meet.bob", 1, 0, 1, 0, 0}},
		},
		{
			name: "rooms under attack",
			events: func(e *events) {
				e.attempt(rp, "192.0.2.1", "meet.alice", at(0))
				e.attack(rp, "meet.alice", at(60))
				e.ban(rp, "192.0.2.1", "meet.alice", at(60), time.Minute, 1)
				e.attack(rp, "meet.alice", at(3600))
				e.attempt(rp, "192.0.2.2", "meet.bob", at(0))
			},
			totals:  totals{Attempts: 2, Bans: 1, Banned: 1, Rooms: 2, Attacked: 1},
			sources: []sourceRow{{"192.0.2.1", "1", 1, 1, 0, 1}},
			rooms:   []roomRow{{"meet.alice", 1, 0, 0, 1, 2}, {"meet.bob", 1, 0, 0, 0, 0}},
		},
		{
			name: "rooms beyond MaxRooms are counted together",
			opts: Options{MaxRooms: 2},
			events: func(e *events) {
				for i, alias := range []string{"a", "b", "c", "d", "a"} {
					e.attempt(rp, "192.0.2.1", alias, at(i))
					e.failure(rp, "192.0.2.1", alias, at(i))
				}
			},
			totals: totals{Attempts: 5, Failures: 5, Rooms: 2},
			rooms:  []roomRow{{"a", 2, 2, 0, 0, 0}, {"b", 1, 1, 0, 0, 0}},
			other:  &roomRow{"", 2, 2, 0, 0, 0},
		},
		{
			name: "a source banned after others were evicted shows a lower bound",
			opts: Options{MaxSources: 2},
			events: func(e *events) {
				e.attempt(rp, "192.0.2.1", "", at(0))
				e.attempt(rp, "192.0.2.1", "", at(1))
				e.attempt(rp, "192.0.2.2", "", at(2))
				// Evicts 192.0.2.1, the least recently seen.
				e.attempt(rp, "192.0.2.3", "", at(3))
				e.attempt(rp, "192.0.2.1", "", at(4))
				e.ban(rp, "192.0.2.1", "", at(4), time.Minute, 3)
			},
			totals:  totals{Attempts: 5, Bans: 1, Banned: 1},
			sources: []sourceRow{{"192.0.2.1", "≥ 1", 3, 1, 0, 1}},
		},
		{
			name: "only the top Rows sources and rooms are listed",
			opts: Options{Rows: 2},
			events: func(e *events) {
				for i := range 5 {
					id := fmt.Sprintf("192.0.2.%d", i)
					alias := fmt.Sprintf("room%d", i)
					for range i + 1 {
						e.attempt(rp, id, alias, at(i))
						e.failure(rp, id, alias, at(i))
					}
					e.ban(rp, id, alias, at(i), time.Minute, i+1)
				}
			},
			totals:  totals{Attempts: 15, Failures: 15, Bans: 5, Banned: 5, Rooms: 5},
			sources: []sourceRow{{"192.0.2.4", "5", 5, 1, 0, 5}, {"192.0.2.3", "4", 4, 1, 0, 4}},
			rooms:   []roomRow{{"room4", 5, 5, 0, 1, 0}, {"room3", 4, 4, 0, 1, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e events
			tt.events(&e)
			r := record(tt.opts, e)
			if len(r.jails) != 1 {
				t.Fatalf("%d jails recorded, want 1", len(r.jails))
			}
			v := r.page().Jails[0]
			if got := totalsOf(v); got != tt.totals {
				t.Errorf("totals\n got %+v\nwant %+v", got, tt.totals)
			}
			if got := sourceRows(v); !reflect.DeepEqual(got, tt.sources) {
				t.Errorf("banned sources\n got %+v\nwant %+v", got, tt.sources)
			}
			if got := roomRows(v.Rooms); !reflect.DeepEqual(got, tt.rooms) {
				t.Errorf("rooms\n got %+v\nwant %+v", got, tt.rooms)
			}
			var other *roomRow
			if v.OtherRooms != nil {
				other = &roomRows([]roomView{*v.OtherRooms})[0]
			}
			if !reflect.DeepEqual(other, tt.other) {
				t.Errorf("other rooms\n got %+v\nwant %+v", other, tt.other)
			}
		})
	}
}

func TestRecorderScenario(t *testing.T) {
	p := record(Options{Now: fixedNow}, scenario()).page()
	if got, want := len(p.Jails), 2; got != want {
		t.Fatalf("%d jails, want %d", got, want)
	}
	rp := jailNamed(t, p, "pexiprp")
	if want := (totals{Attempts: 72, Failures: 28, Ignored: 3, Bans: 15, Banned: 14, Rooms: 5, Attacked: 1}); totalsOf(rp) != want {
		t.Errorf("pexiprp totals\n got %+v\nwant %+v", totalsOf(rp), want)
	}
	if len(rp.Attacked) != 1 || rp.Attacked[0].Alias != "meet.alice" || rp.Attacked[0].Attacks != 2 ||
		rp.Attacked[0].FirstAttack != "2024-05-14 09:03:00" || rp.Attacked[0].LastAttack != "2024-05-14 09:40:00" {
		t.Errorf("rooms under attack %+v, want meet.alice twice, 09:03:00 to 09:40:00", rp.Attacked)
	}
	if got := sourceRows(rp)[0]; got != (sourceRow{"198.51.100.66", "6", 5, 2, 24, 36}) {
		t.Errorf("top banned source %+v, want the meet.bob guesser with 6 guesses before its ban", got)
	}
	if p.From != "2024-05-14 09:00:00" || p.To != "2024-05-14 09:40:00" || p.Zone != "UTC+00:00" {
		t.Errorf("span %s to %s in %s", p.From, p.To, p.Zone)
	}
}

func TestSetStats(t *testing.T) {
	r := NewRecorder(Options{})
	r.SetStats("quiet", jail.Stats{Lines: 1234})
	p := r.page()
	if len(p.Jails) != 1 || !p.Jails[0].HasStats || p.Jails[0].Stats.Lines != 1234 || p.Jails[0].Chart != nil {
		t.Errorf("a jail with stats and no events: %+v", p.Jails)
	}
}

func TestTimesInTheLogsZone(t *testing.T) {
	cest := time.FixedZone("", 2*3600)
	tests := []struct {
		name     string
		loc      *time.Location
		from     string
		zoneName string
	}{
		{"the first event's zone", nil, "2024-05-14 11:00:00", "UTC+02:00"},
		{"Options.Location", time.UTC, "2024-05-14 09:00:00", "UTC+00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(Options{Location: tt.loc})
			r.Record(jail.Event{Kind: jail.Attempt, Jail: "j", ID: "192.0.2.1", Time: t0.In(cest)})
			p := r.page()
			if p.From != tt.from || p.Zone != tt.zoneName {
				t.Errorf("from %q in %q, want %q in %q", p.From, p.Zone, tt.from, tt.zoneName)
			}
		})
	}
}

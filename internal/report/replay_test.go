package report

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/replay"
	"github.com/pinjail/pinjail/internal/rplog"
)

// reference keeps every event of a jail and answers what the report
// should say, the slow and obvious way.
type reference struct {
	events []jail.Event
}

type refSource struct {
	beforeBan, whileBanned, total, bans, failures uint64
	alias                                         string
}

func (ref *reference) sources() map[string]*refSource {
	out := make(map[string]*refSource)
	until := make(map[string]time.Time)
	get := func(id string) *refSource {
		if out[id] == nil {
			out[id] = &refSource{}
		}
		return out[id]
	}
	for _, ev := range ref.events {
		switch ev.Kind {
		case jail.Attempt:
			s := get(ev.ID)
			s.total++
			if s.bans == 0 {
				s.beforeBan++
			} else if ev.Time.Unix() < until[ev.ID].Unix() {
				s.whileBanned++
			}
		case jail.Ban:
			s := get(ev.ID)
			end := time.Unix(math.MaxInt64/2, 0)
			if ev.BanTime >= 0 {
				end = ev.Time.Add(ev.BanTime)
			}
			if end.After(until[ev.ID]) {
				until[ev.ID] = end
			}
			if s.bans == 0 {
				s.failures, s.alias = uint64(ev.Failures), ev.Fields["alias"]
			}
			s.bans++
		}
	}
	for id, s := range out {
		if s.bans == 0 {
			delete(out, id)
		}
	}
	return out
}

func (ref *reference) rooms() map[string]roomRow {
	out := make(map[string]roomRow)
	for _, ev := range ref.events {
		alias := ev.Fields["alias"]
		if alias == "" {
			continue
		}
		r := out[alias]
		r.Alias = alias
		switch ev.Kind {
		case jail.Attempt:
			r.Attempts++
		case jail.Failure:
			r.Failures++
		case jail.Ignored:
			r.Ignored++
		case jail.Ban:
			r.Bans++
		case jail.Attack:
			r.Attacks++
		}
		out[alias] = r
	}
	return out
}

// replayLog replays a generated reverse proxy log (PIN guessers,
// registration guessers, alias scanners among everyday traffic) through
// the built-in jails, calling event for every event.
func replayLog(t testing.TB, lines int, event func(jail.Event)) []replay.Summary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.access.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w := rplog.NewWriter(bw, 1)
	if err := w.Traffic(rplog.TrafficOptions{Start: t0, Lines: lines}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", config.Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	sums, err := replay.Run(context.Background(), cfg, []string{path}, replay.Options{
		Now: func() time.Time { return t0 },
	}, func(ev jail.Event) error {
		event(ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestReplayMatchesReference replays a generated log through the built-in
// jails and checks the report against the events themselves: every banned
// source with the guesses it got through before and while banned, and
// every room's counts. With a small MaxSources the counts it still shows
// exactly must stay exact, and the others must be lower bounds.
func TestReplayMatchesReference(t *testing.T) {
	refs := make(map[string]*reference)
	var evs []jail.Event
	sums := replayLog(t, 40_000, func(ev jail.Event) {
		if refs[ev.Jail] == nil {
			refs[ev.Jail] = &reference{}
		}
		refs[ev.Jail].events = append(refs[ev.Jail].events, ev)
		evs = append(evs, ev)
	})

	tests := []struct {
		name       string
		maxSources int
		exact      bool
	}{
		{"every source remembered", 0, true},
		{"a few sources remembered", 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := record(Options{Rows: math.MaxInt32, MaxSources: tt.maxSources}, evs)
			for _, s := range sums {
				r.SetStats(s.Jail, s.Stats)
			}
			p := r.page()
			var banned, lowerBounds int
			for _, v := range p.Jails {
				ref := refs[v.Name]
				if ref == nil {
					continue
				}
				if v.Stats.Failures != v.Failures || v.Stats.Bans != v.Bans || v.Stats.Ignored != v.Ignored {
					t.Errorf("%s: report counts %d failures, %d bans, %d ignored; the jail %d, %d, %d",
						v.Name, v.Failures, v.Bans, v.Ignored, v.Stats.Failures, v.Stats.Bans, v.Stats.Ignored)
				}
				want := ref.sources()
				banned += len(want)
				if tt.exact && len(v.Sources) != len(want) {
					t.Errorf("%s: %d banned sources, want %d", v.Name, len(v.Sources), len(want))
				}
				for _, s := range v.Sources {
					w := want[s.ID]
					if w == nil {
						t.Errorf("%s: %s listed as banned, never was", v.Name, s.ID)
						continue
					}
					before, lower := strings.CutPrefix(s.BeforeBan, "≥ ")
					n, err := strconv.ParseUint(strings.ReplaceAll(before, ",", ""), 10, 64)
					if err != nil {
						t.Fatalf("%s: %s: attempts before ban %q: %v", v.Name, s.ID, s.BeforeBan, err)
					}
					if lower && tt.exact {
						t.Errorf("%s: %s: %s is a lower bound with nothing evicted", v.Name, s.ID, s.BeforeBan)
					}
					if lower {
						lowerBounds++
						if n > w.beforeBan || s.Total > w.total || s.WhileBanned > w.whileBanned {
							t.Errorf("%s: %s: lower bounds %+v exceed %+v", v.Name, s.ID, s, *w)
						}
					} else if n != w.beforeBan || s.WhileBanned != w.whileBanned || s.Total != w.total {
						t.Errorf("%s: %s: got %+v, want %+v", v.Name, s.ID, s, *w)
					}
					if s.Bans != w.bans || s.Failures != w.failures || s.Room != w.alias {
						t.Errorf("%s: %s: %d bans, first at %d failures on %q; want %d, %d, %q",
							v.Name, s.ID, s.Bans, s.Failures, s.Room, w.bans, w.failures, w.alias)
					}
				}
				if !tt.exact {
					continue
				}
				rooms := ref.rooms()
				if len(v.Rooms) != len(rooms) {
					t.Errorf("%s: %d rooms, want %d", v.Name, len(v.Rooms), len(rooms))
				}
				for _, got := range roomRows(v.Rooms) {
					if want := rooms[got.Alias]; got != want {
						t.Errorf("%s: room %+v, want %+v", v.Name, got, want)
					}
				}
			}
			if banned == 0 {
				t.Fatal("the generated log banned nobody: nothing was compared")
			}
			if !tt.exact && lowerBounds == 0 {
				t.Error("no lower bound shown: the source limit was never reached")
			}
		})
	}
}

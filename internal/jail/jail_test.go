package jail_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
)

var t0 = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)

// rpLine is one line of the RP's pexapplog API log.
func rpLine(addr, path string, status int, t time.Time) string {
	return fmt.Sprintf(`%s - - [%s]  "POST %s HTTP/1.1" %d 46 "-" "Mozilla/5.0" "10.44.0.11:443" "%d" "0.004"`,
		addr, t.Format("02/Jan/2006:15:04:05 -0700"), path, status, status)
}

func pin(addr, alias string, status int, t time.Time) string {
	return rpLine(addr, "/api/client/v2/conferences/"+alias+"/request_token", status, t)
}

// newJail builds a built-in jail with jail.local lines added to its
// section.
func newJail(t *testing.T, name string, local string, opts jail.Options) *jail.Jail {
	t.Helper()
	dir := t.TempDir()
	text := "[" + name + "]\nlogpath = /dev/null\n" + local + "\n"
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(dir, config.Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Problems {
		t.Fatalf("configuration: %v", p)
	}
	jc := cfg.Jail(name)
	j, err := jail.New(jc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// step is one log line at an offset from t0.
type step struct {
	at   time.Duration
	line func(t time.Time) string
}

func guess(addr, alias string, at time.Duration) step {
	return step{at, func(t time.Time) string { return pin(addr, alias, 403, t) }}
}

func join(addr, alias string, at time.Duration) step {
	return step{at, func(t time.Time) string { return pin(addr, alias, 200, t) }}
}

// guesses returns n 403s of addr on alias, every gap from start.
func guesses(addr, alias string, n int, start, gap time.Duration) []step {
	var out []step
	for i := range n {
		out = append(out, guess(addr, alias, start+time.Duration(i)*gap))
	}
	return out
}

// run feeds the steps in time order and returns the events, after Finish.
func run(t *testing.T, j *jail.Jail, steps []step) []jail.Event {
	t.Helper()
	slices.SortStableFunc(steps, func(a, b step) int { return int(a.at - b.at) })
	var evs []jail.Event
	emit := func(ev jail.Event) { evs = append(evs, ev) }
	for _, s := range steps {
		at := t0.Add(s.at)
		j.Line(context.Background(), []byte(s.line(at)), at, emit)
	}
	j.Finish(context.Background(), emit)
	return evs
}

func bansOf(evs []jail.Event) map[string]jail.Event {
	out := make(map[string]jail.Event)
	for _, ev := range evs {
		if ev.Kind == jail.Ban {
			if _, dup := out[ev.ID]; !dup {
				out[ev.ID] = ev
			}
		}
	}
	return out
}

// attemptsBefore counts the Attempt events of id up to and including the
// first ban's time.
func attemptsBefore(evs []jail.Event, id string) int {
	n := 0
	for _, ev := range evs {
		if ev.ID != id {
			continue
		}
		if ev.Kind == jail.Ban {
			return n
		}
		if ev.Kind == jail.Attempt {
			n++
		}
	}
	return -1
}

func TestPexipAccounting(t *testing.T) {
	const (
		guesser = "198.51.100.66"
		office  = "203.0.113.9"
	)
	// PexRTC logs 403 (PIN prompt) then 403 per wrong PIN then 200.
	typoJoin := func(addr, alias string, at time.Duration, typos int) []step {
		out := []step{guess(addr, alias, at)}
		for i := range typos {
			out = append(out, guess(addr, alias, at+time.Duration(2*i+1)*5*time.Second), guess(addr, alias, at+time.Duration(2*i+2)*5*time.Second))
		}
		return append(out, join(addr, alias, at+time.Duration(2*typos+1)*5*time.Second))
	}
	var officeDay []step
	for i := range 80 {
		officeDay = append(officeDay, typoJoin(office, fmt.Sprintf("room%d", i%7), time.Duration(i)*15*time.Second, i%3)...)
	}
	tests := []struct {
		name  string
		jail  string
		local string
		steps []step
		// bans maps IDs to the number of attempts they make before their
		// first ban; IDs not listed must not be banned.
		bans map[string]int
	}{
		{
			name:  "guesser banned at its sixth 403",
			jail:  "pexiprp",
			steps: guesses(guesser, "meet.bob", 30, 0, 5*time.Second),
			bans:  map[string]int{guesser: 6},
		},
		{
			name:  "strict mode counts every 403",
			jail:  "pexiprp",
			local: "mode = strict\nroombudget = 0",
			steps: append(guesses(guesser, "meet.bob", 30, 0, 5*time.Second), typoJoin(office, "meet.alice", 0, 2)...),
			bans:  map[string]int{guesser: 5, office: 5},
		},
		{
			name:  "office NAT: 80 joins in 20 minutes, up to two typos each",
			jail:  "pexiprp",
			steps: officeDay,
		},
		{
			name:  "a join does not forgive another room",
			jail:  "pexiprp",
			steps: append(guesses(office, "secret", 6, 0, 2*time.Second), join(office, "public", 3*time.Second)),
			bans:  map[string]int{office: 6},
		},
		{
			name: "held 403s count when no 200 comes",
			jail: "pexiprp",
			// 5 guesses every 3 minutes: each burst is held, then counts.
			steps: append(guesses(guesser, "r", 3, 0, time.Second), guesses(guesser, "r", 3, 3*time.Minute, time.Second)...),
			bans:  map[string]int{guesser: 6},
		},
		{
			name:  "IPv6 attacker rotating inside a /64",
			jail:  "pexiprp",
			steps: rotating("2001:db8:7:9::", 20, 5*time.Second),
			bans:  map[string]int{"2001:db8:7:9::/64": 6},
		},
		{
			name:  "slow guesser: 4 every 5 minutes",
			jail:  "pexiprp-slow",
			steps: slow(guesser, 40),
			bans:  map[string]int{guesser: 20},
		},
		{
			name:  "registration guessing",
			jail:  "pexip-registration",
			steps: regs(guesser, 20),
			bans:  map[string]int{guesser: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJail(t, tt.jail, tt.local, jail.Options{})
			evs := run(t, j, tt.steps)
			bans := bansOf(evs)
			for id, want := range tt.bans {
				if _, ok := bans[id]; !ok {
					t.Errorf("%s not banned", id)
					continue
				}
				if got := attemptsBefore(evs, id); got != want {
					t.Errorf("%s: %d attempts before its ban, want %d", id, got, want)
				}
			}
			for id, ev := range bans {
				if _, ok := tt.bans[id]; !ok {
					t.Errorf("unexpected ban %+v", ev)
				}
			}
		})
	}
}

func rotating(prefix string, n int, gap time.Duration) []step {
	var out []step
	for i := range n {
		out = append(out, guess(fmt.Sprintf("%s%x", prefix, 0x1000+i*7919), "meet.bob", time.Duration(i)*gap))
	}
	return out
}

func slow(addr string, n int) []step {
	var out []step
	for i := range n {
		out = append(out, guess(addr, "meet.bob", time.Duration(i/4)*5*time.Minute+time.Duration(i%4)*10*time.Second))
	}
	return out
}

func regs(addr string, n int) []step {
	var out []step
	for i := range n {
		at := time.Duration(i) * 10 * time.Second
		out = append(out, step{at, func(t time.Time) string {
			return rpLine(addr, "/api/client/v2/registrations/alice/request_token", 401, t)
		}})
	}
	return out
}

func TestRoomUnderAttack(t *testing.T) {
	j := newJail(t, "pexiprp", "", jail.Options{})
	const member = "192.0.2.50"
	steps := []step{guess(member, "board", 0), join(member, "board", 5*time.Second)}
	// 300 addresses, 3 guesses each, spread over 10 minutes.
	for i := range 300 {
		addr := fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
		for k := range 3 {
			steps = append(steps, guess(addr, "board", time.Duration(i)*2*time.Second+time.Duration(k)*500*time.Millisecond))
		}
	}
	// The member joins again during the attack and must not be banned.
	steps = append(steps, guess(member, "board", 5*time.Minute), join(member, "board", 5*time.Minute+3*time.Second))
	evs := run(t, j, steps)
	var flagged time.Time
	for _, ev := range evs {
		if ev.Kind == jail.Attack {
			if ev.Fields["alias"] != "board" {
				t.Errorf("attack on %q, want board", ev.Fields["alias"])
			}
			if flagged.IsZero() {
				flagged = ev.Time
			}
		}
	}
	if flagged.IsZero() {
		t.Fatal("room never flagged")
	}
	bans := bansOf(evs)
	if _, ok := bans[member]; ok {
		t.Errorf("a member who joined was banned")
	}
	// Attempts after the flag that got through: a banned address's later
	// lines would not reach the proxy.
	after := make(map[string]int)
	banned := make(map[string]bool)
	for _, ev := range evs {
		switch {
		case ev.Kind == jail.Ban:
			banned[ev.ID] = true
		case ev.Kind == jail.Attempt && ev.Time.After(flagged) && !banned[ev.ID]:
			after[ev.ID]++
		}
	}
	for id, n := range after {
		if id != member && n > 1 {
			t.Errorf("%s made %d attempts after the room was flagged, want at most 1", id, n)
		}
	}
	if len(bans) < 290 {
		t.Errorf("%d of 300 attackers banned", len(bans))
	}
}

// TestForgedAddresses checks that only the address nginx logs first on the
// line is ever banned, whatever the client puts in the text it controls.
func TestForgedAddresses(t *testing.T) {
	const victim = "192.0.2.77"
	forged := pin(victim, "meet", 403, t0)
	var steps []step
	for i := range 12 {
		at := time.Duration(i) * time.Second
		// The attacker's user agent and URL carry a whole log line
		// naming the victim.
		steps = append(steps, step{at, func(t time.Time) string {
			l := pin("198.51.100.9", "meet", 403, t)
			l = strings.Replace(l, `"Mozilla/5.0"`, `"`+strings.ReplaceAll(forged, `"`, `\x22`)+`"`, 1)
			return l
		}}, step{at, func(t time.Time) string {
			return rpLine("198.51.100.10", "/api/client/v2/conferences/x%22%20403%20"+victim+"/request_token", 403, t)
		}}, step{at, func(t time.Time) string {
			return forged + " " + pin("198.51.100.11", "meet", 200, t)
		}})
	}
	j := newJail(t, "pexiprp", "mode = strict", jail.Options{})
	evs := run(t, j, steps)
	for id := range bansOf(evs) {
		if id == victim {
			t.Errorf("the forged address %s was banned", victim)
		}
	}
	if _, ok := bansOf(evs)["198.51.100.9"]; !ok {
		t.Errorf("the forger 198.51.100.9 was not banned")
	}
}

func TestIgnoreIP(t *testing.T) {
	j := newJail(t, "pexiprp", "ignoreip = 198.51.100.0/24\nmode = strict", jail.Options{})
	evs := run(t, j, guesses("198.51.100.66", "x", 20, 0, time.Second))
	if len(bansOf(evs)) != 0 {
		t.Fatal("an ignored address was banned")
	}
	ignored := 0
	for _, ev := range evs {
		if ev.Kind == jail.Ignored {
			ignored++
		}
	}
	if ignored != 20 {
		t.Errorf("%d ignored events, want 20", ignored)
	}
}

func TestLive(t *testing.T) {
	j := newJail(t, "pexiprp", "", jail.Options{Live: true})
	ctx := context.Background()
	now := t0
	var evs []jail.Event
	emit := func(ev jail.Event) { evs = append(evs, ev) }
	// Lines older than findtime are history, not an attack.
	for i := range 10 {
		j.Line(ctx, []byte(pin("198.51.100.1", "r", 403, now.Add(-time.Hour+time.Duration(i)*time.Second))), now, emit)
	}
	if len(bansOf(evs)) != 0 || j.Failing() != 0 {
		t.Fatalf("old lines counted: %d failing", j.Failing())
	}
	// Three held 403s count when their join window ends on the clock.
	for range 3 {
		j.Line(ctx, []byte(pin("198.51.100.2", "r", 403, now)), now, emit)
	}
	j.Tick(ctx, now.Add(time.Minute), emit)
	if j.Failing() != 0 {
		t.Fatal("held 403s counted before their window ended")
	}
	j.Tick(ctx, now.Add(2*time.Minute), emit)
	if j.Failing() != 1 {
		t.Fatalf("held 403s not counted after their window: %d failing", j.Failing())
	}
	// A ban starts at the wall clock even when the log's clock is behind.
	later := now.Add(10 * time.Minute)
	for range 6 {
		j.Line(ctx, []byte(pin("198.51.100.3", "r", 403, later.Add(-3*time.Minute))), later, emit)
	}
	ban, ok := bansOf(evs)["198.51.100.3"]
	if !ok || !ban.Time.Equal(later) {
		t.Fatalf("ban %+v, want one starting at %v", ban, later)
	}
}

func TestStateCommands(t *testing.T) {
	j := newJail(t, "pexiprp", "", jail.Options{Live: true})
	now := t0
	p := netip.MustParsePrefix("2001:db8:1::/48")
	ev, ok := j.BanManually(p, now)
	if !ok || ev.Kind != jail.Ban || ev.Prefix != p || ev.BanTime != 5*time.Minute {
		t.Fatalf("manual ban %+v %v", ev, ok)
	}
	if _, again := j.BanManually(p, now); again {
		t.Error("banned twice")
	}
	a := netip.MustParsePrefix("192.0.2.1/32")
	if _, ok := j.BanManually(a, now); !ok {
		t.Fatal("address not banned")
	}
	inside := netip.MustParsePrefix("2001:db8:1:2::5/128")
	if got := j.Banned(now); len(got) != 2 || !got[0].Overlaps(inside) && !got[1].Overlaps(inside) {
		t.Fatalf("banned %+v", got)
	}
	// Unbanning an address inside a banned prefix lifts the prefix.
	if lifted := j.Unban(netip.MustParsePrefix("2001:db8:1:2::5/128")); len(lifted) != 1 || lifted[0].Kind != jail.Unban {
		t.Fatalf("unban %+v", lifted)
	}
	if ended := j.Expire(now.Add(6 * time.Minute)); len(ended) != 1 || ended[0].ID != "192.0.2.1" {
		t.Fatalf("expired %+v", ended)
	}
	j.BanManually(a, now)
	// A restart restores bans that have not ended, with their prefixes.
	saved := j.Banned(now)
	k := newJail(t, "pexiprp", "", jail.Options{Live: true})
	k.RestoreBans(saved, now.Add(time.Minute))
	if got := k.Banned(now.Add(time.Minute)); len(got) != 1 || got[0].Prefix != a {
		t.Fatalf("restored %+v", got)
	}
	if all := k.UnbanAll(); len(all) != 1 || len(k.Banned(now)) != 0 {
		t.Fatalf("unban all %+v", all)
	}
}

package guessing

import (
	"math"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// pinFilter captures the conference alias, as pinjail's Pexip filters do;
// stockFilter does not, as Pexip's own fail2ban filter does not.
var (
	pinFilter = &config.Filter{Name: "pexiprp", FailRegex: []config.Regex{{
		Pattern: `^<ADDR> - \S+ \[[^\]]*\]\s+"POST /api/client/v2/conferences/<F-ALIAS>[^/"\s?]+</F-ALIAS>/request_token HTTP/\d\.\d" 403 `,
	}}}
	stockFilter = &config.Filter{Name: "pexiprp", FailRegex: []config.Regex{{
		Pattern: `^<HOST> - - .*  "POST /api/client/v2/conferences/.*/request_token HTTP/.*" 403 .*$`,
	}}}
)

// jail returns a jail counting every failure as it comes, with times in
// seconds and -1 for a permanent ban.
func jail(name string, maxRetry int, findTime, banTime int64) *config.Jail {
	j := &config.Jail{
		Name: name, Filter: stockFilter, MaxRetry: maxRetry,
		FindTime: time.Duration(findTime) * time.Second,
		BanTime:  time.Duration(banTime) * time.Second,
		Pexip:    config.DefaultPexip(),
	}
	if banTime == -1 {
		j.BanTime = config.Permanent
	}
	return j
}

// withRooms sets a room budget, for a filter that captures the alias.
func withRooms(j *config.Jail, budget int) *config.Jail {
	j.Filter = pinFilter
	j.Pexip.RoomBudget = budget
	return j
}

// withJoins turns on join accounting, holding 5 failures, for a filter that
// captures the alias.
func withJoins(j *config.Jail, f *config.Filter) *config.Jail {
	j.Filter = f
	j.Pexip.Joins = true
	j.Pexip.JoinHold = 5
	return j
}

func withIncrement(j *config.Jail, inc config.Increment) *config.Jail {
	inc.Enabled = true
	j.Increment = inc
	return j
}

const (
	day  = 24 * 60 * 60
	week = 7 * day
)

var (
	script = Attacker{Interval: time.Second}
	// instant guesses as Pexip's documentation counts them: every guess a
	// ban allows at once, each logging a PIN prompt and the wrong PIN.
	instant = Attacker{FailuresPerGuess: 2}
)

func TestExpected(t *testing.T) {
	tests := []struct {
		name     string
		jails    []*config.Jail
		attacker Attacker
		digits   int
		want     Estimate
	}{
		{
			// Pexip's documentation: 10 failures, 2 per guess, within 300 s
			// ban for 300 s, so 5 guesses per 300 s: 500,000 guesses take
			// 100,000 bans, the last guesses made as the 99,999th ends:
			// 29,999,700 s, 347.2 days ("approximately 500000/60/24 = 347
			// days").
			name:     "Pexip documentation, 6 digits",
			jails:    []*config.Jail{jail("pexiprp", 10, 300, 300)},
			attacker: instant, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 99_999 * 300},
		},
		{
			// "A four digit PIN would take just 5000/60/24 = 3.47 days."
			name:     "Pexip documentation, 4 digits",
			jails:    []*config.Jail{jail("pexiprp", 10, 300, 300)},
			attacker: instant, digits: 4,
			want: Estimate{Guesses: 5_000, Seconds: 999 * 300},
		},
		{
			// The community recipe's 5 failures of one request each.
			name:     "maxretry 5, one failure per guess",
			jails:    []*config.Jail{jail("pexiprp", 5, 300, 300)},
			attacker: Attacker{}, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 99_999 * 300},
		},
		{
			// At 1 guess/s a cycle is 4 s of guessing and 300 s of ban.
			name:     "maxretry 5, 1 guess/s",
			jails:    []*config.Jail{jail("pexiprp", 5, 300, 300)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 99_999*304 + 4},
		},
		{
			// Pexip's stock jail against a script that sends the PIN with
			// its first request: 10 guesses per ban, twice the documented
			// rate.
			name:     "Pexip stock jail, script",
			jails:    []*config.Jail{jail("pexiprp", 10, 300, 300)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 49_999*309 + 9},
		},
		{
			// Join accounting holds 5 failures and counts them all with
			// the 6th: 6 guesses per 305 s. Guess 500,000 is the 2nd of
			// cycle 83,334.
			name:     "join accounting",
			jails:    []*config.Jail{withJoins(jail("pexiprp", 5, 300, 300), pinFilter)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 83_333*305 + 1},
		},
		{
			name:     "join accounting, 4 digits",
			jails:    []*config.Jail{withJoins(jail("pexiprp", 5, 300, 300), pinFilter)},
			attacker: script, digits: 4,
			want: Estimate{Guesses: 5_000, Seconds: 833*305 + 1},
		},
		{
			// Without the alias there is no room to hold failures for.
			name:     "join accounting needs the alias",
			jails:    []*config.Jail{withJoins(jail("pexiprp", 5, 300, 300), stockFilter)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 99_999*304 + 4},
		},
		{
			// Bans of 300 s doubling to a 1-week cap (the 12th ban on).
			// bantime.increment's boost makes a known offender's failures
			// count 2, 3, then 5: 5, 3, 2, then 1 guess per ban, so guess
			// 5,000 comes as ban 4,992 ends: 300*(2^11-1) s for the first
			// 11 bans and a week for each of the 4,981 others.
			name: "bantime.increment",
			jails: []*config.Jail{withIncrement(jail("pexiprp", 5, 300, 300),
				config.Increment{MaxTime: week * time.Second})},
			attacker: Attacker{}, digits: 4,
			want: Estimate{Guesses: 5_000, Seconds: 300*2047 + 4_981*week},
		},
		{
			name: "bantime.increment, 6 digits",
			jails: []*config.Jail{withIncrement(jail("pexiprp", 5, 300, 300),
				config.Increment{MaxTime: week * time.Second})},
			attacker: Attacker{}, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 300*2047 + 499_981*week, Beyond: true},
		},
		{
			// A long-horizon jail on the same failures: the 20th guess fills
			// both jails, and the day-long ban sets the pace: 20 guesses
			// per 916 + 86,400 s.
			name:     "two jails",
			jails:    []*config.Jail{jail("pexiprp", 5, 300, 300), jail("pexiprp-slow", 20, day, day)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 24_999*(916+day) + 916},
		},
		{
			name:     "two jails, 4 digits",
			jails:    []*config.Jail{jail("pexiprp", 5, 300, 300), jail("pexiprp-slow", 20, day, day)},
			attacker: script, digits: 4,
			want: Estimate{Guesses: 5_000, Seconds: 249*(916+day) + 916},
		},
		{
			// One address cannot exhaust the default room budget: the
			// budget is for attacks spread over many addresses.
			name:     "room budget",
			jails:    []*config.Jail{withRooms(jail("pexiprp", 5, 300, 300), 10)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 500_000, Seconds: 99_999*304 + 4},
		},
		{
			// A budget of 1 it can: two unexplained failures go over it
			// and ban. The hour-long ban outlasts the room's 30 minutes
			// under attack.
			name:     "room budget of 1",
			jails:    []*config.Jail{withRooms(jail("pexiprp", 100, 300, 3600), 1)},
			attacker: script, digits: 4,
			want: Estimate{Guesses: 5_000, Seconds: 2_499*3601 + 1},
		},
		{
			name:     "permanent ban",
			jails:    []*config.Jail{jail("pexiprp", 3, 300, -1)},
			attacker: script, digits: 4,
			want: Estimate{Guesses: 3, Seconds: 2, Never: true},
		},
		{
			name:     "permanent ban in a second jail",
			jails:    []*config.Jail{jail("pexiprp", 5, 300, 300), jail("pexiprp-forever", 12, day, -1)},
			attacker: script, digits: 6,
			want: Estimate{Guesses: 12, Seconds: 304 + 305, Never: true},
		},
		{
			name:     "found before the permanent ban",
			jails:    []*config.Jail{jail("pexiprp", 10, 300, -1)},
			attacker: script, digits: 1,
			want: Estimate{Guesses: 5, Seconds: 4},
		},
		{
			// Past 292 years a ban saturates time.Duration; the estimate
			// does not.
			name:     "long bans",
			jails:    []*config.Jail{jail("pexiprp", 1, day, 100*365*day)},
			attacker: Attacker{}, digits: 2,
			want: Estimate{Guesses: 50, Seconds: 49 * 100 * 365 * day, Beyond: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expected(tt.jails, tt.digits, tt.attacker)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Expected() = %+v (%.2f days), want %+v (%.2f days)",
					got, got.Seconds/day, tt.want, tt.want.Seconds/day)
			}
		})
	}
}

// TestExpectedCombinedIsSlower checks that a jail added on the same failures
// only ever slows the attacker down.
func TestExpectedCombinedIsSlower(t *testing.T) {
	rp := withIncrement(withJoins(jail("pexiprp", 5, 300, 300), pinFilter), config.Increment{MaxTime: week * time.Second})
	slow := withIncrement(withJoins(jail("pexiprp-slow", 20, day, day), pinFilter), config.Increment{MaxTime: 4 * week * time.Second})
	for _, digits := range []int{4, 6, 8} {
		alone, err := Expected([]*config.Jail{rp}, digits, script)
		if err != nil {
			t.Fatal(err)
		}
		both, err := Expected([]*config.Jail{rp, slow}, digits, script)
		if err != nil {
			t.Fatal(err)
		}
		if both.Seconds < alone.Seconds {
			t.Errorf("%d digits: both jails %.0f s, pexiprp alone %.0f s", digits, both.Seconds, alone.Seconds)
		}
	}
}

// TestExpectedUnsettled runs a bantime.formula that never settles into a
// cap, so that no state repeats: the simulation stops at the horizon.
func TestExpectedUnsettled(t *testing.T) {
	j := withIncrement(jail("pexiprp", 5, 300, 300), config.Increment{Formula: "ban.Time * (ban.Count + 1)"})
	got, err := Expected([]*config.Jail{j}, 6, script)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Beyond || got.Years() < HorizonYears {
		t.Errorf("Expected() = %+v (%.0f years), want beyond %d years", got, got.Years(), HorizonYears)
	}
}

// TestExpectedRndTime checks that bantime.rndtime counts with its mean.
func TestExpectedRndTime(t *testing.T) {
	// Multipliers 1 1 keep bans at 300 s; rndtime adds 50 s on average to
	// every ban after the first, which the boost fills at the first guess.
	j := withIncrement(jail("pexiprp", 5, 300, 300),
		config.Increment{Multipliers: []float64{1, 1}, RndTime: 100 * time.Second})
	got, err := Expected([]*config.Jail{j}, 2, Attacker{})
	if err != nil {
		t.Fatal(err)
	}
	// Guesses 1-5, 6-8, 9-10, then one per ban: guess 50 after 42 bans.
	want := Estimate{Guesses: 50, Seconds: 300 + 41*350}
	if got != want {
		t.Errorf("Expected() = %+v, want %+v", got, want)
	}
}

func TestExpectedErrors(t *testing.T) {
	ok := jail("pexiprp", 5, 300, 300)
	tests := []struct {
		name     string
		jails    []*config.Jail
		digits   int
		attacker Attacker
	}{
		{"no jails", nil, 6, script},
		{"no digits", []*config.Jail{ok}, 0, script},
		{"too many digits", []*config.Jail{ok}, maxDigits + 1, script},
		{"negative interval", []*config.Jail{ok}, 6, Attacker{Interval: -time.Second}},
		{"negative failures", []*config.Jail{ok}, 6, Attacker{FailuresPerGuess: -1}},
		{"maxretry 0", []*config.Jail{jail("pexiprp", 0, 300, 300)}, 6, script},
		{"bad formula", []*config.Jail{withIncrement(jail("pexiprp", 5, 300, 300), config.Increment{Formula: "ban.Time +"})}, 6, script},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Expected(tt.jails, tt.digits, tt.attacker); err == nil {
				t.Errorf("Expected() = %+v, want an error", got)
			}
		})
	}
}

func TestChance(t *testing.T) {
	e := Estimate{Guesses: 6, Never: true}
	if got := e.Chance(4); math.Abs(got-0.0006) > 1e-12 {
		t.Errorf("Chance(4) = %v, want 0.0006", got)
	}
	if got := (Estimate{Guesses: 50}).Chance(1); got != 1 {
		t.Errorf("Chance(1) = %v, want 1", got)
	}
}

func BenchmarkExpected(b *testing.B) {
	rp := withIncrement(withJoins(jail("pexiprp", 5, 300, 300), pinFilter), config.Increment{MaxTime: week * time.Second})
	slow := withIncrement(withJoins(jail("pexiprp-slow", 20, day, day), pinFilter), config.Increment{MaxTime: 4 * week * time.Second})
	for _, bc := range []struct {
		name  string
		jails []*config.Jail
	}{
		{"pexip-doc", []*config.Jail{jail("pexiprp", 10, 300, 300)}},
		{"pexiprp", []*config.Jail{rp}},
		{"pexiprp+slow", []*config.Jail{rp, slow}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Expected(bc.jails, 8, script); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestExtrapolation checks the extrapolation from a repeated state against
// simulating every guess.
func TestExtrapolation(t *testing.T) {
	inc := config.Increment{MaxTime: 6 * 3600 * time.Second}
	tests := []struct {
		name     string
		jails    []*config.Jail
		attacker Attacker
	}{
		{"plain", []*config.Jail{jail("a", 5, 300, 300)}, script},
		{"findtime longer than bantime", []*config.Jail{jail("a", 5, 900, 120)}, Attacker{Interval: 7 * time.Second}},
		{"rate estimate", []*config.Jail{jail("a", 5, 60, 30)}, Attacker{Interval: 20 * time.Second}},
		{"increment", []*config.Jail{withIncrement(jail("a", 5, 300, 300), inc)}, script},
		{"increment, instant", []*config.Jail{withIncrement(jail("a", 5, 300, 300), inc)}, instant},
		{"joins", []*config.Jail{withJoins(jail("a", 5, 300, 300), pinFilter)}, script},
		{"joins expire", []*config.Jail{withJoins(jail("a", 5, 300, 300), pinFilter)}, Attacker{Interval: 50 * time.Second}},
		{"joins and increment", []*config.Jail{withIncrement(withJoins(jail("a", 5, 300, 300), pinFilter), inc)}, Attacker{Interval: 30 * time.Second, FailuresPerGuess: 2}},
		{"two jails", []*config.Jail{
			withIncrement(withJoins(jail("a", 5, 300, 300), pinFilter), inc),
			withIncrement(withJoins(jail("b", 20, 3600, 1800), pinFilter), config.Increment{MaxTime: 12 * 3600 * time.Second}),
		}, script},
		{"overall jails", []*config.Jail{
			withIncrement(jail("a", 5, 300, 300), config.Increment{MaxTime: 3600 * time.Second, OverallJails: true}),
			withIncrement(jail("b", 8, 3600, 600), config.Increment{MaxTime: 3600 * time.Second, OverallJails: true}),
		}, script},
		{"room budget of 1", []*config.Jail{withRooms(jail("a", 100, 300, 3600), 1)}, script},
		{"never banned", []*config.Jail{jail("a", 10, 60, 300)}, Attacker{Interval: 20 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range []int64{1, 7, 100, 2_000} {
				fast, err := newSim(tt.jails, tt.attacker)
				if err != nil {
					t.Fatal(err)
				}
				got, err := fast.run(target)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := newSim(tt.jails, tt.attacker)
				if err != nil {
					t.Fatal(err)
				}
				slow.simulateAll = true
				want, err := slow.run(target)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("guess %d: extrapolated %+v, simulated %+v", target, got, want)
				}
				if target == 2_000 && len(fast.times) == 2_000 {
					t.Errorf("guess %d: simulated every guess, no state repeated", target)
				}
			}
		})
	}
}

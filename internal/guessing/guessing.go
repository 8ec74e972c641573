// Package guessing estimates the time one address needs to find a random
// conference PIN by brute force against a set of jails.
//
// Rather than a formula, it runs the jails' own accounting on a simulated
// clock: the failure tracker, Pexip join and room accounting, and the ban
// policy with bantime.increment, wired as package jail wires them. The
// attacker guesses one room's PIN at a fixed pace whenever no jail bans it,
// and each wrong guess logs one or more failures that every jail counts. A
// ban takes effect at the failure that fills a ticket, and the attacker
// resumes the moment the last ban ends. The estimate is when it makes the
// guess that, on average, finds a random PIN: half the PIN space, as Pexip's
// documentation counts. With Pexip's stock jail (10 failures in 5 minutes,
// 2 per guess, ban for 5 minutes) that is 500,000 guesses for 6 digits at 5
// per 5 minutes, about 347 days.
//
// A run settles into a repeating pattern once bantime.increment has reached
// its cap. The simulation notices when the jails' state at a guess, relative
// to the clock, equals their state at an earlier guess, and extrapolates
// from there, so even 10-digit PINs cost a few hundred simulated guesses.
package guessing

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
)

// HorizonYears is how far ahead an estimate looks: an attacker that needs
// longer is Beyond it.
const HorizonYears = 1000

const (
	secondsPerYear = 365.25 * 24 * 60 * 60
	horizonSeconds = HorizonYears * secondsPerYear
	// maxSimulated bounds the guesses simulated one by one while waiting for
	// the jails' state to repeat; only exotic bantime.formula values that keep
	// changing without growing get near it.
	maxSimulated = 1 << 20
	// maxDigits keeps the PIN space within int64.
	maxDigits = 18
)

// Attacker describes how one address guesses.
type Attacker struct {
	// Interval is the time between two guesses while no jail bans the
	// attacker. 0 makes all the guesses a ban allows at once, which is how
	// Pexip's documentation counts.
	Interval time.Duration
	// FailuresPerGuess is how many failures one wrong guess logs: 1 for a
	// script that sends the PIN with its first request_token, 2 for the web
	// app, which asks without a PIN first and so logs a PIN prompt and then
	// the wrong PIN (Pexip's documentation counts 2). 0 means 1.
	FailuresPerGuess int
}

// Estimate is the expected cost of finding a random PIN.
type Estimate struct {
	// Guesses is half the PIN space, the expected number of guesses to find
	// a random PIN; or, when Never, the guesses made before the permanent ban.
	Guesses int64
	// Seconds is the time from the first guess to the last. When Beyond it is
	// only a lower bound.
	Seconds float64
	// Never is set when a permanent ban stops the attacker before.
	Never bool
	// Beyond is set when the attacker needs more than HorizonYears.
	Beyond bool
}

// Years returns the estimate's time in years of 365.25 days.
func (e Estimate) Years() float64 { return e.Seconds / secondsPerYear }

// Chance returns the probability that the attacker finds a random PIN of
// the given number of digits with the guesses of e: about 1/2 for an
// estimate that is not Never.
func (e Estimate) Chance(digits int) float64 {
	return math.Min(float64(e.Guesses)/math.Pow10(digits), 1)
}

// Expected returns how long an attacker needs to find a random PIN of the
// given number of digits through jails, which all see every failure it
// logs. Each jail counts as package jail counts; its filter matters only
// through whether it captures the conference alias, which Pexip's join and
// room accounting need.
func Expected(jails []*config.Jail, digits int, a Attacker) (Estimate, error) {
	switch {
	case len(jails) == 0:
		return Estimate{}, errors.New("guessing: no jails")
	case digits < 1 || digits > maxDigits:
		return Estimate{}, fmt.Errorf("guessing: %d digits: want 1 to %d", digits, maxDigits)
	case a.Interval < 0:
		return Estimate{}, fmt.Errorf("guessing: negative interval %v", a.Interval)
	case a.FailuresPerGuess < 0:
		return Estimate{}, fmt.Errorf("guessing: negative failures per guess %d", a.FailuresPerGuess)
	}
	s, err := newSim(jails, a)
	if err != nil {
		return Estimate{}, err
	}
	return s.run(pow10(digits) / 2)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// epochUnix is the simulated time of the first guess, 2000-01-01 UTC. Any
// time works; a round one keeps simulated log times readable.
const epochUnix = 946_684_800

// sim is one attacker against a set of jails.
type sim struct {
	jails    []*jailSim
	attacker Attacker
	// seen maps the jails' state before a guess to that guess's index;
	// times holds every simulated guess's time, in seconds since epoch.
	seen  map[string]int64
	times []float64
	key   []byte
	// simulateAll turns the extrapolation off, for tests to check it.
	simulateAll bool
}

func newSim(jails []*config.Jail, a Attacker) (*sim, error) {
	if a.FailuresPerGuess == 0 {
		a.FailuresPerGuess = 1
	}
	// One history for all jails, as the daemon shares its database, so
	// that bantime.overalljails sees every jail's bans.
	history := ban.NewMemHistory()
	s := &sim{attacker: a, seen: make(map[string]int64)}
	for _, cfg := range jails {
		j, err := newJailSim(cfg, history)
		if err != nil {
			return nil, err
		}
		s.jails = append(s.jails, j)
	}
	return s, nil
}

// run simulates guesses until the target-th, a permanent ban, the horizon,
// or a repeat of the jails' state, from which it extrapolates.
func (s *sim) run(target int64) (Estimate, error) {
	now := time.Unix(epochUnix, 0)
	for n := int64(0); n < target; n++ {
		var free bool
		var err error
		if now, free, err = s.waitBans(now); err != nil {
			return Estimate{}, err
		}
		if !free {
			return s.stopped(n), nil
		}
		at := seconds(now)
		if at > horizonSeconds {
			return Estimate{Guesses: target, Seconds: at, Beyond: true}, nil
		}
		if n >= maxSimulated {
			return Estimate{}, fmt.Errorf("guessing: no repeating pattern within %d guesses", maxSimulated)
		}
		if !s.simulateAll && s.appendState(now) {
			if first, ok := s.seen[string(s.key)]; ok {
				return s.extrapolate(first, n, at, target), nil
			}
			s.seen[string(s.key)] = n
		}
		s.times = append(s.times, at)
		for range s.attacker.FailuresPerGuess {
			for _, j := range s.jails {
				if err := j.failed(now); err != nil {
					return Estimate{}, err
				}
			}
		}
		now = now.Add(s.attacker.Interval)
	}
	return s.estimate(target, s.times[target-1]), nil
}

// appendState sets s.key to the jails' state at now, and reports whether
// it is known.
func (s *sim) appendState(now time.Time) bool {
	s.key = s.key[:0]
	for _, j := range s.jails {
		var ok bool
		if s.key, ok = j.appendState(s.key, now); !ok {
			return false
		}
	}
	return true
}

// waitBans returns the first time from now on at which no jail bans the
// attacker, counting the failures the join accounting releases meanwhile;
// free is false when a ban is permanent.
func (s *sim) waitBans(now time.Time) (_ time.Time, free bool, _ error) {
	for {
		end := now
		for _, j := range s.jails {
			if err := j.releaseDue(now); err != nil {
				return now, false, err
			}
			if j.permanent {
				return now, false, nil
			}
			if j.until.After(end) {
				end = j.until
			}
		}
		if end.Equal(now) {
			return now, true, nil
		}
		now = end
	}
}

// stopped is the estimate when a permanent ban came after n guesses.
func (s *sim) stopped(n int64) Estimate {
	e := Estimate{Guesses: n, Never: true}
	if n > 0 {
		e.Seconds = s.times[n-1]
	}
	return e
}

// extrapolate finishes a run whose state before guess n (at, in seconds)
// equals its state before guess first: the guesses in between repeat for
// ever, each period later by the same time.
func (s *sim) extrapolate(first, n int64, at float64, target int64) Estimate {
	period := n - first
	periodSeconds := at - s.times[first]
	last := target - 1 - first
	return s.estimate(target, s.times[first+last%period]+float64(last/period)*periodSeconds)
}

func (s *sim) estimate(guesses int64, at float64) Estimate {
	return Estimate{Guesses: guesses, Seconds: at, Beyond: at > horizonSeconds}
}

// seconds returns t's offset from the first guess in seconds; unlike
// time.Time.Sub it does not stop at 292 years.
func seconds(t time.Time) float64 {
	return float64(t.Unix()-epochUnix) + float64(t.Nanosecond())/1e9
}

package ban

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// defaultFormula is fail2ban's bantime.formula when none is set: the ban time
// doubles with every earlier ban, up to 2^20 times.
const defaultFormula = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor"

// Policy decides how long a jail bans an ID: bantime, or with
// bantime.increment a longer ban for an ID banned before (fail2ban's
// s/observer.py incrBanTime, with the formula of s/jail.py
// setBanTimeExtra). It is safe for concurrent use if its History is.
type Policy struct {
	jail    string
	banTime time.Duration
	inc     config.Increment
	history History
	rand    func() float64

	factor      value
	formula     *expr   // nil when multipliers are set
	multipliers []value // bantime.multipliers, as Python ints where whole
}

// Decision is the ban a Policy decided.
type Decision struct {
	// Duration is the ban's length, config.Permanent for ever.
	Duration time.Duration
	// Count is the number of bans of the ID, this one included.
	Count int
	// Increased is set when bantime.increment made the ban longer than
	// bantime; fail2ban then runs actionprolong.
	Increased bool
	// Restored is set when the failure is not newer than the ID's latest
	// recorded ban: a line read again, typically after a restart. fail2ban
	// marks such a ban restored: it is not recorded again, and actions with
	// norestored skip it.
	Restored bool
}

// NewPolicy compiles the jail's ban time options. history may be nil (a
// MemHistory is used) and so may rand, the source of bantime.rndtime, which
// returns a number in [0, 1).
func NewPolicy(jail string, banTime time.Duration, inc config.Increment, history History, rand func() float64) (*Policy, error) {
	if history == nil {
		history = NewMemHistory()
	}
	if rand == nil {
		rand = randFloat64
	}
	p := &Policy{jail: jail, banTime: banTime, inc: inc, history: history, rand: rand}

	factorSrc := inc.Factor
	if factorSrc == "" {
		factorSrc = "1"
	}
	factor, err := parseExpr(factorSrc, false)
	if err != nil {
		return nil, fmt.Errorf("bantime.factor %q: %w", inc.Factor, err)
	}
	if p.factor, err = factor.eval(&exprVars{}); err != nil {
		return nil, fmt.Errorf("bantime.factor %q: %w", inc.Factor, err)
	}

	if len(inc.Multipliers) > 0 {
		for _, m := range inc.Multipliers {
			if m == math.Trunc(m) && math.Abs(m) < 1<<62 {
				p.multipliers = append(p.multipliers, intValue(int64(m)))
			} else {
				p.multipliers = append(p.multipliers, floatValue(m))
			}
		}
	} else {
		src := inc.Formula
		if src == "" {
			src = defaultFormula
		}
		if p.formula, err = parseExpr(src, true); err != nil {
			return nil, fmt.Errorf("bantime.formula %q: %w", src, err)
		}
	}
	// A formula that fails for a second ban fails for every ban: say so
	// now rather than at the first repeat offender.
	if inc.Enabled {
		if _, err := p.grown(int64(max(banTime/time.Second, 1)), 1); err != nil {
			return nil, fmt.Errorf("bantime.formula %q for a second ban: %w", p.formulaText(), err)
		}
	}
	return p, nil
}

func randFloat64() float64 { return rand.Float64() }

func (p *Policy) formulaText() string {
	if p.formula != nil {
		return p.formula.src
	}
	return fmt.Sprint("multipliers ", p.multipliers)
}

// BanTime returns the jail's bantime.
func (p *Policy) BanTime() time.Duration { return p.banTime }

// Decide returns the ban for id, whose failure at time at filled its ticket.
// Without bantime.increment (or with a bantime that is not positive) it is
// bantime. With it, an ID the History has banned before gets the formula's
// ban time when that is longer. If the History or the formula fails, the
// returned Decision is bantime's and the error says why, as fail2ban logs the
// error and bans for bantime.
func (p *Policy) Decide(id string, at time.Time) (Decision, error) {
	d := Decision{Duration: p.banTime, Count: 1}
	if !p.inc.Enabled || p.banTime <= 0 {
		return d, nil
	}
	count, last, err := p.history.BanCount(p.jail, id, p.inc.OverallJails)
	if err != nil {
		return d, fmt.Errorf("ban history of %s: %w", id, err)
	}
	if count <= 0 {
		return d, nil
	}
	d.Count = count + 1
	d.Restored = !at.After(last)
	bt, err := p.BanTimeFor(count)
	if err != nil {
		return d, fmt.Errorf("ban time of %s after %d bans: %w", id, count, err)
	}
	// fail2ban only ever prolongs (s/observer.py banFound).
	if bt == config.Permanent || bt > p.banTime {
		d.Duration = bt
		d.Increased = true
	}
	return d, nil
}

// BanTimeFor returns the ban time bantime.increment gives an ID banned
// previous times before, with bantime.maxtime and bantime.rndtime applied; a
// result of exactly -1 second is config.Permanent, as in fail2ban. It does
// not check that the result is longer than bantime (Decide does). An ID never
// banned gets bantime.
func (p *Policy) BanTimeFor(previous int) (time.Duration, error) {
	if previous <= 0 || p.banTime <= 0 {
		return p.banTime, nil
	}
	// fail2ban's BanManager keeps bantime as int(seconds).
	v, err := p.increased(int64(p.banTime/time.Second), int64(previous))
	if err != nil {
		return 0, err
	}
	return secondsToDuration(v)
}

// increased is fail2ban's evformula: the grown ban time, capped by maxtime,
// plus the random part.
func (p *Policy) increased(base, count int64) (value, error) {
	bt, err := p.grown(base, count)
	if err != nil {
		return value{}, err
	}
	if p.inc.MaxTime > 0 {
		bt = extreme([]value{bt, durationSeconds(p.inc.MaxTime)}, "<")
	}
	if p.inc.RndTime > 0 {
		bt = floatValue(bt.float() + p.rand()*p.inc.RndTime.Seconds())
	}
	return bt, nil
}

// grown applies the multipliers, or the formula with fail2ban's max().
func (p *Policy) grown(base, count int64) (value, error) {
	if p.multipliers != nil {
		m := p.multipliers[min(count, int64(len(p.multipliers)-1))]
		x, err := binary("*", intValue(base), p.factor)
		if err != nil {
			return value{}, err
		}
		return binary("*", x, m)
	}
	r, err := p.formula.eval(&exprVars{time: base, count: count, factor: p.factor})
	if err != nil {
		return value{}, err
	}
	return extreme([]value{intValue(base), r}, ">"), nil
}

func durationSeconds(d time.Duration) value {
	if d%time.Second == 0 {
		return intValue(int64(d / time.Second))
	}
	return floatValue(d.Seconds())
}

// secondsToDuration converts a ban time in seconds, saturating at the
// longest time.Duration.
func secondsToDuration(v value) (time.Duration, error) {
	f := v.float()
	switch {
	case math.IsNaN(f):
		return 0, fmt.Errorf("ban time is not a number")
	case f == -1:
		return config.Permanent, nil
	case !v.isFloat() && v.i < math.MaxInt64/int64(time.Second) && v.i > math.MinInt64/int64(time.Second):
		return time.Duration(v.i) * time.Second, nil
	case f*1e9 >= math.MaxInt64:
		return time.Duration(math.MaxInt64), nil
	case f*1e9 <= math.MinInt64:
		return time.Duration(math.MinInt64), nil
	}
	return time.Duration(math.Round(f * 1e9)), nil
}

// ExtraAttempts returns the attempts bantime.increment adds to a failure of
// an ID banned before, so that a known offender is banned sooner (fail2ban's
// s/observer.py failureFound): with n earlier bans in this jail a failure
// counts min(2^(n-1) + 1, maxretry) instead of 1. It is 0 without
// bantime.increment, for an ID never banned, and for a failure not newer
// than the ID's latest ban (a line read again).
func (p *Policy) ExtraAttempts(id string, at time.Time, maxRetry int) (int, error) {
	if !p.inc.Enabled {
		return 0, nil
	}
	count, last, err := p.history.BanCount(p.jail, id, false)
	if err != nil {
		return 0, fmt.Errorf("ban history of %s: %w", id, err)
	}
	if count <= 0 || !at.After(last) {
		return 0, nil
	}
	retry := min(1<<(min(count, 20)-1)+1, maxRetry)
	return max(retry-1, 0), nil
}

// Record tells the History about a ban made, when the History is a
// Recorder. As in fail2ban, callers do not record a restored ban
// (Decision.Restored) again.
func (p *Policy) Record(e Entry) error {
	r, ok := p.history.(Recorder)
	if !ok {
		return nil
	}
	if err := r.RecordBan(p.jail, e); err != nil {
		return fmt.Errorf("recording the ban of %s: %w", e.ID, err)
	}
	return nil
}

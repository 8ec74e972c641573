package guessing

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/pexip"
	"github.com/pinjail/pinjail/internal/tracker"
)

// The attacker's address and the room it guesses the PIN of.
const (
	attackerID = "192.0.2.1"
	room       = "meet"
)

const (
	// boostSaturation is the ban count from which bantime.increment's boost
	// to a known offender's failures stops growing (ban.Policy.ExtraAttempts
	// caps the count at 20).
	boostSaturation = 20
	// stableBans is how many bans in a row must have the same ban time for
	// bantime.increment to count as capped; searchBans is how many bans to
	// look through for them.
	stableBans = 32
	searchBans = 1000
)

// jailSim is one jail's accounting of the attacker's failures, wired as
// jail.Jail wires it, on log time like a replay.
//
// Pexip accounting needs the room a failure is on, which the filter
// captures as <F-ALIAS>; without it the jail counts every failure as it
// comes.
type jailSim struct {
	cfg     *config.Jail
	tracker *tracker.Tracker
	joins   *pexip.Joins // nil without join accounting
	// rooms is nil without a room budget, and when one address cannot
	// exhaust it: the budget is for attacks spread over many addresses.
	rooms   *pexip.Rooms
	policy  *ban.Policy
	history ban.History
	// countCap is the ban count past which more bans change nothing; -1
	// when bantime.increment never settles.
	countCap int
	// joinWindow is the join accounting's window; roomRest is how long
	// after the attacker's last failure on it a room is as if new.
	joinWindow, roomRest time.Duration

	until       time.Time // end of the current ban
	permanent   bool
	lastCleanup time.Time
	released    []pexip.Failure
	// joinTimes holds the failures fed to the join accounting within its
	// window, for the state key: the held ones are the latest.
	joinTimes []time.Time
	// lastRoomFailure is the attacker's latest failure fed to the room
	// budget.
	lastRoomFailure time.Time
}

func newJailSim(cfg *config.Jail, history ban.History) (*jailSim, error) {
	if cfg.MaxRetry < 1 {
		return nil, fmt.Errorf("guessing: jail %s: maxretry %d: want at least 1", cfg.Name, cfg.MaxRetry)
	}
	// bantime.rndtime adds rand()*rndtime to increased bans; 0.5 gives its
	// mean, which is what an expectation needs.
	policy, err := ban.NewPolicy(cfg.Name, cfg.BanTime, cfg.Increment, history, func() float64 { return 0.5 })
	if err != nil {
		return nil, fmt.Errorf("guessing: jail %s: %w", cfg.Name, err)
	}
	j := &jailSim{
		cfg: cfg,
		tracker: tracker.New(tracker.Options{
			FindTime: cfg.FindTime,
			MaxRetry: cfg.MaxRetry,
			MaxIDs:   1,
		}),
		policy:  policy,
		history: history,
	}
	if j.countCap, err = countCap(policy, cfg.Increment); err != nil {
		return nil, fmt.Errorf("guessing: jail %s: %w", cfg.Name, err)
	}
	if !capturesAlias(cfg.Filter) {
		return j, nil
	}
	p := cfg.Pexip
	if p.Joins {
		j.joins = pexip.NewJoins(pexip.JoinOptions{Window: p.JoinWindow, Hold: p.JoinHold})
		j.joinWindow = orDefault(p.JoinWindow, pexip.DefaultJoinOptions().Window)
	}
	if p.RoomBudget <= 0 {
		return j, nil
	}
	opts := pexip.RoomOptions{Budget: p.RoomBudget, Window: p.RoomWindow, AttackPeriod: p.RoomAttack}
	if exhaustibleAlone(opts) {
		j.rooms = pexip.NewRooms(opts)
		def := pexip.DefaultRoomOptions()
		// A room forgets failures older than its window, and stays under
		// attack for AttackPeriod after the latest.
		j.roomRest = max(orDefault(p.RoomWindow, def.Window), orDefault(p.RoomAttack, def.AttackPeriod))
	}
	return j, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// exhaustibleAlone reports whether one address can put a room with
// options opts under attack, by trying the densest attack there is: all
// its failures at one instant, enough to go over the budget even though the
// first may be a PIN prompt.
func exhaustibleAlone(opts pexip.RoomOptions) bool {
	rooms := pexip.NewRooms(opts)
	k := pexip.Key{ID: attackerID, Alias: room}
	for range opts.Budget + 2 {
		if v := rooms.Counted(k, time.Unix(epochUnix, 0)); v.Flagged {
			return true
		}
	}
	return false
}

func capturesAlias(f *config.Filter) bool {
	if f == nil {
		return false
	}
	for _, re := range f.FailRegex {
		if strings.Contains(strings.ToUpper(re.Pattern), "<F-ALIAS>") {
			return true
		}
	}
	return false
}

// countCap returns the ban count from which bantime.increment gives the
// same ban time and the same boost for ever: 0 without it, -1 when its ban
// time keeps changing.
func countCap(p *ban.Policy, inc config.Increment) (int, error) {
	if !inc.Enabled {
		return 0, nil
	}
	// run is where the latest streak of equal ban times started.
	run, last := 0, time.Duration(0)
	for n := range searchBans + stableBans {
		d, err := p.BanTimeFor(n)
		if err != nil {
			return 0, fmt.Errorf("ban time after %d bans: %w", n, err)
		}
		if n == 0 || d != last {
			run, last = n, d
		}
		if n-run+1 >= stableBans {
			return max(run, boostSaturation), nil
		}
	}
	return -1, nil
}

// failed feeds the jail one failure of the attacker at now, as
// jail.Jail.failure does.
func (j *jailSim) failed(now time.Time) error {
	if j.banned(now) {
		return nil
	}
	if j.rooms != nil {
		j.lastRoomFailure = now
		if j.rooms.Attacked(pexip.Key{ID: attackerID, Alias: room}, now) {
			return j.ban(now)
		}
	}
	if j.joins == nil {
		return j.counted(now, now)
	}
	j.joinTimes = append(trimBefore(j.joinTimes, now.Add(-j.joinWindow)), now)
	j.released = j.joins.Failed(pexip.Failure{Key: pexip.Key{ID: attackerID, Alias: room}, Time: now}, j.released[:0])
	return j.count(now)
}

// releaseDue counts the held failures whose join window ended by now, each
// batch at its deadline, as jail.Jail.Tick does.
func (j *jailSim) releaseDue(now time.Time) error {
	if j.joins == nil {
		return nil
	}
	for {
		d, ok := j.joins.Deadline()
		if !ok || d.After(now) {
			return nil
		}
		j.released = j.joins.Expire(d, j.released[:0])
		if err := j.count(d); err != nil {
			return err
		}
	}
}

func (j *jailSim) count(decided time.Time) error {
	for _, f := range j.released {
		if err := j.counted(f.Time, decided); err != nil {
			return err
		}
	}
	return nil
}

// counted counts one unexplained failure against the room's budget, then
// against the attacker, as jail.Jail.counted does.
func (j *jailSim) counted(at, decided time.Time) error {
	if j.rooms != nil && !j.banned(decided) {
		k := pexip.Key{ID: attackerID, Alias: room}
		if j.rooms.Attacked(k, decided) {
			return j.ban(decided)
		}
		if v := j.rooms.Counted(k, at); len(v.Ban) > 0 {
			return j.ban(decided)
		}
	}
	return j.add(at, decided)
}

// add counts one failure logged at at and bans when the ticket is full, as
// jail.Jail.add does.
func (j *jailSim) add(at, decided time.Time) error {
	if j.banned(decided) {
		return nil
	}
	extra, err := j.policy.ExtraAttempts(attackerID, at, j.cfg.MaxRetry)
	if err != nil {
		return fmt.Errorf("guessing: jail %s: %w", j.cfg.Name, err)
	}
	if _, full := j.tracker.Add(tracker.Failure{ID: attackerID, Time: at, Attempts: 1 + extra}); full {
		if err := j.ban(decided); err != nil {
			return err
		}
	}
	if at.Sub(j.lastCleanup) > j.cfg.FindTime/4 {
		j.tracker.Cleanup(at)
		j.lastCleanup = at
	}
	return nil
}

// ban bans the attacker from start for the time the policy decides.
func (j *jailSim) ban(start time.Time) error {
	d, err := j.policy.Decide(attackerID, start)
	if err != nil {
		return fmt.Errorf("guessing: jail %s: %w", j.cfg.Name, err)
	}
	switch {
	case d.Duration == config.Permanent:
		j.permanent = true
	case d.Duration < 0:
		// Like fail2ban, ban.Manager drops a ban that has already expired.
		return nil
	default:
		j.until = start.Add(d.Duration)
	}
	if d.Restored {
		return nil
	}
	return j.policy.Record(ban.Entry{ID: attackerID, Start: start, Duration: d.Duration, Count: d.Count})
}

func (j *jailSim) banned(t time.Time) bool {
	return j.permanent || t.Before(j.until)
}

// appendState appends to b the jail's state at now, with every time
// relative to now: two guesses with the same state are followed by the same
// events, shifted in time. The attacker is free at now. It returns false
// when the state cannot be told: the room budget's is hidden, and known
// only once the room is at rest.
func (j *jailSim) appendState(b []byte, now time.Time) ([]byte, bool) {
	if j.rooms != nil && now.Sub(j.lastRoomFailure) < j.roomRest {
		return b, false
	}
	rel := func(t time.Time) int64 { return int64(now.Sub(t)) }
	banCount := func(overall bool) int64 {
		n, _, _ := j.history.BanCount(j.cfg.Name, attackerID, overall)
		if j.countCap >= 0 {
			n = min(n, j.countCap)
		}
		return int64(n)
	}
	b = binary.AppendVarint(b, banCount(false))
	if j.cfg.Increment.OverallJails {
		b = binary.AppendVarint(b, banCount(true))
	}

	if t, ok := j.tracker.Get(attackerID); ok {
		b = binary.AppendVarint(b, int64(t.Retry))
		b = binary.AppendVarint(b, rel(t.First))
		b = binary.AppendVarint(b, rel(t.Last))
	} else {
		b = binary.AppendVarint(b, -1)
	}

	held := 0
	if j.joins != nil {
		held = j.joins.Held()
		b = binary.AppendVarint(b, int64(held))
		for _, t := range j.joinTimes[len(j.joinTimes)-held:] {
			b = binary.AppendVarint(b, rel(t))
		}
		// A held failure not newer than the latest ban gets no boost.
		_, last, _ := j.history.BanCount(j.cfg.Name, attackerID, false)
		b = binary.AppendVarint(b, within(rel(last), j.joinWindow))
	}

	// The next cleanup comes with the next failure counted, whose time is
	// the oldest held one or later; once due for that one it is due for
	// all, and when the last one was no longer matters.
	oldest := now
	if held > 0 {
		oldest = j.joinTimes[len(j.joinTimes)-held]
	}
	if oldest.Sub(j.lastCleanup) > j.cfg.FindTime/4 {
		return binary.AppendVarint(b, -1), true
	}
	return binary.AppendVarint(b, rel(j.lastCleanup)), true
}

// within returns d when it is in [0, limit), -1 otherwise: a time that
// lies outside a window no longer matters.
func within(d int64, limit time.Duration) int64 {
	if d < 0 || d >= int64(limit) {
		return -1
	}
	return d
}

// trimBefore drops the leading times not after cut.
func trimBefore(ts []time.Time, cut time.Time) []time.Time {
	n := 0
	for n < len(ts) && !ts[n].After(cut) {
		n++
	}
	if n == 0 {
		return ts
	}
	return append(ts[:0], ts[n:]...)
}

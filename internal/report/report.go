// Package report turns the events of a replay into a self-contained HTML
// report for an administrator: per jail and per Pexip room, how many
// attempts reached the service, how many counted as failures, who was
// banned and how many guesses each got through before its first ban,
// which rooms came under attack, and a timeline of it all.
//
// A [Recorder] keeps aggregates, never events, so its memory is bounded by
// its [Options] however long the logs are: counters per jail and per
// room, per-minute timeline buckets (coarsened when there are too many),
// and one small record per source that failed, evicting the least recently
// seen sources beyond a limit. [Recorder.Write] renders the report with
// html/template; the page loads nothing (inline CSS and SVG), so it can be
// mailed or opened offline.
package report

import (
	"cmp"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

// Defaults of [Options].
const (
	DefaultMaxSources = 1 << 16
	DefaultMaxRooms   = 10_000
	DefaultMaxBuckets = 50_000
	DefaultRows       = 30
	DefaultTitle      = "pinjail replay report"
)

// maxAttackMarkers bounds the attack markers kept per jail for the chart;
// more would not be told apart on it anyway.
const maxAttackMarkers = 1000

// Options bound a [Recorder]'s memory and shape its report. Every field may
// be left zero for its default.
//
// A jail's aggregates take at most about MaxSources × 150 bytes (plus the
// IDs), MaxRooms × 100 bytes (plus the aliases) and MaxBuckets × 80 bytes:
// some 15 MB with the defaults, reached only when a log has that many
// distinct sources, rooms and minutes.
type Options struct {
	// Title heads the report.
	Title string
	// Location is the time zone times are shown in; the zone of the first
	// event's time (the log's own offset) when nil.
	Location *time.Location
	// Now returns the time the report is generated at; time.Now when nil.
	Now func() time.Time
	// MaxSources bounds the sources (IDs that failed) remembered per jail.
	// Beyond it, the least recently seen sources that were never banned
	// are forgotten first; a source that comes back afterwards and is
	// banned has its attempts before the ban shown as a lower bound.
	MaxSources int
	// MaxRooms bounds the rooms counted one by one per jail; failures on
	// further rooms are counted together as other rooms.
	MaxRooms int
	// MaxBuckets bounds the timeline buckets per jail; when a log spans
	// more, buckets are widened (1m, 5m, 15m, 30m, 1h, ...).
	MaxBuckets int
	// Rows is the number of rows each table shows.
	Rows int
}

// Recorder accumulates the aggregates of a report from jail events. The
// zero value is not usable; call [NewRecorder]. A Recorder is not safe for
// concurrent use.
type Recorder struct {
	opts  Options
	loc   *time.Location
	jails map[string]*jailStats
	// last is the jail of the previous event: a replay's events come from
	// a handful of jails, mostly one after another from the same.
	last *jailStats
}

// NewRecorder returns an empty Recorder.
func NewRecorder(opts Options) *Recorder {
	opts.Title = cmp.Or(opts.Title, DefaultTitle)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxSources <= 0 {
		opts.MaxSources = DefaultMaxSources
	}
	if opts.MaxRooms <= 0 {
		opts.MaxRooms = DefaultMaxRooms
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = DefaultMaxBuckets
	}
	if opts.Rows <= 0 {
		opts.Rows = DefaultRows
	}
	return &Recorder{opts: opts, loc: opts.Location, jails: make(map[string]*jailStats)}
}

// jailStats is what the report knows of one jail.
type jailStats struct {
	name string
	// stats are the jail's own totals, when the caller passed them.
	stats    jail.Stats
	hasStats bool

	attempts, failures, ignored, bans uint64
	// banned counts sources at their first ban.
	banned uint64
	// first and last bound the times of the jail's events.
	first, last time.Time

	timeline timeline
	rooms    map[string]*room
	// otherRooms counts the rooms beyond MaxRooms together.
	otherRooms room
	sources    sources
	// attacks are the times rooms were put under attack, for the chart;
	// attacksDropped counts those beyond maxAttackMarkers.
	attacks        []attack
	attacksDropped int
}

// room counts what happened on one Pexip conference alias.
type room struct {
	attempts, failures, ignored, bans uint64
	// attacks is how many times the room was put under attack, first and
	// lastAttack when.
	attacks                 int
	firstAttack, lastAttack time.Time
}

type attack struct {
	alias string
	t     time.Time
}

// SetStats records a jail's own totals (lines read, lines matched), which
// events do not carry. It also makes the jail appear in the report when
// it had no events.
func (r *Recorder) SetStats(jailName string, s jail.Stats) {
	j := r.jail(jailName)
	j.stats, j.hasStats = s, true
}

// Record adds one event to the aggregates. It allocates only for what it
// has not seen before: a jail, a room, a source, a timeline bucket or an
// attack.
func (r *Recorder) Record(ev jail.Event) {
	if r.loc == nil && !ev.Time.IsZero() {
		r.loc = ev.Time.Location()
	}
	j := r.jail(ev.Jail)
	j.span(ev.Time)
	alias := ev.Fields["alias"]
	switch ev.Kind {
	case jail.Attempt:
		j.attempts++
		j.timeline.add(ev.Time, attemptsSeries)
		if rm := j.room(alias, r.opts.MaxRooms); rm != nil {
			rm.attempts++
		}
		j.sources.attempt(ev.ID, ev.Time)
	case jail.Failure:
		j.failures++
		j.timeline.add(ev.Time, failuresSeries)
		if rm := j.room(alias, r.opts.MaxRooms); rm != nil {
			rm.failures++
		}
	case jail.Ignored:
		j.ignored++
		if rm := j.room(alias, r.opts.MaxRooms); rm != nil {
			rm.ignored++
		}
	case jail.Ban:
		j.bans++
		j.timeline.add(ev.Time, bansSeries)
		if rm := j.room(alias, r.opts.MaxRooms); rm != nil {
			rm.bans++
		}
		if j.sources.ban(ev, alias) {
			j.banned++
		}
	case jail.Attack:
		if rm := j.room(alias, r.opts.MaxRooms); rm != nil {
			if rm.attacks == 0 || ev.Time.Before(rm.firstAttack) {
				rm.firstAttack = ev.Time
			}
			if ev.Time.After(rm.lastAttack) {
				rm.lastAttack = ev.Time
			}
			rm.attacks++
		}
		if len(j.attacks) < maxAttackMarkers {
			j.attacks = append(j.attacks, attack{alias, ev.Time})
		} else {
			j.attacksDropped++
		}
	}
}

func (r *Recorder) jail(name string) *jailStats {
	if r.last != nil && r.last.name == name {
		return r.last
	}
	j := r.jails[name]
	if j == nil {
		j = &jailStats{
			name:     name,
			timeline: newTimeline(r.opts.MaxBuckets),
			rooms:    make(map[string]*room),
			sources:  newSources(r.opts.MaxSources),
		}
		r.jails[name] = j
	}
	r.last = j
	return j
}

func (j *jailStats) span(t time.Time) {
	if t.IsZero() {
		return
	}
	if j.first.IsZero() || t.Before(j.first) {
		j.first = t
	}
	if t.After(j.last) {
		j.last = t
	}
}

// room returns the counters of alias, nil when the event names no room.
func (j *jailStats) room(alias string, limit int) *room {
	if alias == "" {
		return nil
	}
	if rm := j.rooms[alias]; rm != nil {
		return rm
	}
	if len(j.rooms) >= limit {
		return &j.otherRooms
	}
	rm := &room{}
	j.rooms[alias] = rm
	return rm
}

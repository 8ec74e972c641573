// Package jail runs one configured jail over log lines: the filter finds
// failures, the tracker counts them per ID over findtime, the allow list
// spares addresses that must never be banned, and the ban manager decides
// bans and their durations. It is the engine both `pinjail replay` (on log
// time) and the daemon (on wall time, with sources and enforcement around
// it) use.
package jail

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/dates"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/tracker"
)

// EventKind tells what an Event reports.
type EventKind int

const (
	// Failure is a failure counted against an ID.
	Failure EventKind = iota
	// Ban is a new ban, or a longer one for an ID already banned.
	Ban
	// Ignored is a failure of an allow-listed address.
	Ignored
)

func (k EventKind) String() string {
	switch k {
	case Ban:
		return "ban"
	case Ignored:
		return "ignored"
	default:
		return "failure"
	}
}

// Event is what the jail reports for one failure.
type Event struct {
	Kind EventKind
	Jail string
	ID   string
	// Addr is the address to block; invalid for IDs that are not
	// addresses (a raw host or an <F-ID>), which are counted but never
	// reach the firewall.
	Addr netip.Addr
	Time time.Time
	// BanTime is the ban's duration (config.Permanent for ever) and
	// BanCount how many times the ID has been banned, this one included.
	BanTime  time.Duration
	BanCount int
	// Failures is the ID's failure count when it was banned.
	Failures int
	Fields   map[string]string
	Matches  []string
}

// Stats are a jail's running totals.
type Stats struct {
	Lines, Matched, Failures, Ignored, Bans uint64
}

// Options carries the jail's dependencies. Every field may be left zero.
type Options struct {
	Logger *slog.Logger
	// Resolver resolves hostnames in logs and DNS names in ignoreip;
	// net.DefaultResolver when nil.
	Resolver Resolver
	// History answers how often an ID was banned before, for
	// bantime.increment; an in-memory history when nil.
	History ban.History
	// Rand returns a number in [0, 1) for bantime.rndtime.
	Rand func() float64
}

// Resolver is what the filter and the allow list need of DNS; a
// *net.Resolver has both.
type Resolver interface {
	filter.Resolver
	ban.Resolver
}

// Jail is one running jail. Line must not be called concurrently; the
// accessors may be called from any goroutine.
type Jail struct {
	cfg     *config.Jail
	log     *slog.Logger
	filter  *filter.Filter
	tracker *tracker.Tracker
	bans    *ban.Manager
	policy  *ban.Policy
	allow   *ban.AllowList
	res     filter.Result

	lines, matched, failures, ignored, banned atomic.Uint64
	lastCleanup                               time.Time
}

// New builds the jail's stages from its configuration.
func New(cfg *config.Jail, opts Options) (*Jail, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("jail", cfg.Name)
	if cfg.Filter == nil {
		return nil, fmt.Errorf("jail %s: no filter", cfg.Name)
	}
	loc, err := location(cfg.LogTimezone)
	if err != nil {
		return nil, fmt.Errorf("jail %s: logtimezone: %w", cfg.Name, err)
	}
	var fres filter.Resolver
	var bres ban.Resolver
	if opts.Resolver != nil {
		fres, bres = opts.Resolver, opts.Resolver
	}
	f, err := filter.New(cfg.Filter, filter.Options{
		UseDNS:   cfg.UseDNS,
		Location: loc,
		Resolver: fres,
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("jail %s: %w", cfg.Name, err)
	}
	for _, w := range f.Warnings() {
		log.Warn("filter", "warning", w)
	}
	history := opts.History
	if history == nil {
		history = ban.NewMemHistory()
	}
	policy, err := ban.NewPolicy(cfg.Name, cfg.BanTime, cfg.Increment, history, opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("jail %s: %w", cfg.Name, err)
	}
	allow, err := ban.NewAllowList(cfg.IgnoreIP, cfg.IgnoreSelf, cfg.IgnoreCommand, ban.AllowOptions{
		Resolver: bres,
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("jail %s: ignoreip: %w", cfg.Name, err)
	}
	return &Jail{
		cfg:    cfg,
		log:    log,
		filter: f,
		tracker: tracker.New(tracker.Options{
			FindTime:   cfg.FindTime,
			MaxRetry:   cfg.MaxRetry,
			MaxMatches: cfg.MaxMatches,
			MaxIDs:     cfg.MaxTrackedIDs,
		}),
		bans:   ban.NewManager(),
		policy: policy,
		allow:  allow,
	}, nil
}

// Name returns the jail's name.
func (j *Jail) Name() string { return j.cfg.Name }

// Config returns the jail's configuration.
func (j *Jail) Config() *config.Jail { return j.cfg }

// Bans returns the jail's ban manager.
func (j *Jail) Bans() *ban.Manager { return j.bans }

// Tracker returns the jail's failure tracker.
func (j *Jail) Tracker() *tracker.Tracker { return j.tracker }

// Stats returns the running totals.
func (j *Jail) Stats() Stats {
	return Stats{
		Lines: j.lines.Load(), Matched: j.matched.Load(), Failures: j.failures.Load(),
		Ignored: j.ignored.Load(), Bans: j.banned.Load(),
	}
}

// Line runs one log line through the jail and reports what it found
// through emit. now is the current time: it resolves dates without a year
// and dates a line that has none.
func (j *Jail) Line(ctx context.Context, line []byte, now time.Time, emit func(Event)) {
	j.lines.Add(1)
	j.filter.Process(line, now, &j.res)
	if len(j.res.Failures) == 0 {
		return
	}
	j.matched.Add(1)
	for i := range j.res.Failures {
		j.failure(ctx, &j.res.Failures[i], emit)
	}
}

// failure counts one failure and bans its ID when it reaches maxretry.
func (j *Jail) failure(ctx context.Context, f *filter.Failure, emit func(Event)) {
	if f.NoFail || f.ID == "" {
		return
	}
	at := f.Time
	// An ID under a ban cannot reach the service, so what it logs meanwhile
	// comes from connections that were open before the ban; fail2ban does
	// not count those either.
	if j.bans.IsBanned(f.ID, at) {
		return
	}
	ev := Event{Jail: j.cfg.Name, ID: f.ID, Addr: f.Addr, Time: at, Fields: f.Fields}
	if j.allow.Contains(ctx, f.ID, f.Addr, f.Fields) {
		j.ignored.Add(1)
		ev.Kind = Ignored
		emit(ev)
		return
	}
	j.failures.Add(1)
	attempts := max(f.Attempts, 1)
	extra, err := j.policy.ExtraAttempts(f.ID, at, j.cfg.MaxRetry)
	if err != nil {
		j.log.Warn("ban history", "id", f.ID, "err", err)
	}
	attempts += extra
	ticket, full := j.tracker.Add(tracker.Failure{ID: f.ID, Time: at, Attempts: attempts, Match: firstLine(f.Lines)})
	ev.Kind = Failure
	emit(ev)
	if full {
		j.ban(ticket, f, emit)
	}
	if at.Sub(j.lastCleanup) > j.cfg.FindTime/4 {
		j.tracker.Cleanup(at)
		j.lastCleanup = at
	}
}

func (j *Jail) ban(t tracker.Ticket, f *filter.Failure, emit func(Event)) {
	d, err := j.policy.Decide(t.ID, t.Last)
	if err != nil {
		// Decide still returns bantime's decision, as fail2ban falls back.
		j.log.Warn("ban time", "id", t.ID, "err", err)
	}
	if full, ok := j.tracker.Get(t.ID); ok {
		t.Matches = full.Matches
	}
	entry, outcome := j.bans.Ban(ban.Entry{
		ID: t.ID, Addr: f.Addr, Start: t.Last, Duration: d.Duration, Count: d.Count,
		Failures: t.Failures, Matches: t.Matches, Fields: f.Fields,
	}, t.Last)
	if outcome != ban.Added {
		return
	}
	if !d.Restored {
		if err := j.policy.Record(entry); err != nil {
			j.log.Warn("ban history", "id", t.ID, "err", err)
		}
	}
	j.banned.Add(1)
	emit(Event{
		Kind: Ban, Jail: j.cfg.Name, ID: t.ID, Addr: f.Addr, Time: t.Last,
		BanTime: entry.Duration, BanCount: entry.Count, Failures: t.Failures,
		Fields: f.Fields, Matches: t.Matches,
	})
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

func location(tz string) (*time.Location, error) {
	if tz == "" {
		return nil, nil
	}
	return dates.ParseZone(tz)
}

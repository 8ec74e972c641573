// Package jail runs one configured jail over log lines: the filter finds
// failures, the tracker counts them per ID over findtime, the allow list
// spares addresses that must never be banned, and the ban manager decides
// bans and their durations. It is the engine both `pinjail replay` (on log
// time) and the daemon (on wall time, with sources and enforcement around
// it) use.
//
// Failures that name a Pexip conference (an "alias" field) can go through
// Pexip accounting first: join accounting (package pexip) holds the 403s
// of an attempt until a 200 shows they were a join, and a per-room budget
// bans every address failing on a room under a distributed attack.
package jail

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/dates"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/pexip"
	"github.com/pinjail/pinjail/internal/tracker"
)

// EventKind tells what an Event reports.
type EventKind int

const (
	// Attempt is a failure line as the filter matched it, before any
	// accounting: for a Pexip jail, one 403 that reached Pexip.
	Attempt EventKind = iota
	// Failure is a failure counted against an ID.
	Failure
	// Ban is a new ban, or a longer one for an ID already banned.
	Ban
	// Unban is a ban lifted: expired, or by hand.
	Unban
	// Ignored is a failure of an allow-listed address.
	Ignored
	// Attack is a room put under attack by its failure budget; Fields
	// holds its "alias".
	Attack
)

func (k EventKind) String() string {
	switch k {
	case Attempt:
		return "attempt"
	case Ban:
		return "ban"
	case Unban:
		return "unban"
	case Ignored:
		return "ignored"
	case Attack:
		return "attack"
	default:
		return "failure"
	}
}

// Event is what the jail reports.
type Event struct {
	Kind EventKind
	Jail string
	ID   string
	// Addr is the address the failure came from; invalid for IDs that are
	// not addresses (a raw host or an <F-ID>), which are counted but never
	// reach the firewall.
	Addr netip.Addr
	// Prefix is what a ban blocks: Addr as a single-address prefix, or the
	// prefix failures are counted by (ipv6prefix, ipv4prefix).
	Prefix netip.Prefix
	Time   time.Time
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
	// Live is set when lines arrive as they are logged (the daemon): a
	// failure logged longer than findtime ago is not counted, as in
	// fail2ban's daemon, and bans start at now rather than at the log time
	// of the failure, so that a skewed log clock cannot shorten them.
	Live bool
	// Helpers lets Lines match part of a large batch on another
	// goroutine; nil keeps every line on the caller's.
	Helpers *Helpers
}

// Resolver is what the filter and the allow list need of DNS; a
// *net.Resolver has both.
type Resolver interface {
	filter.Resolver
	ban.Resolver
}

// Jail is one running jail. Line and Lines must not be called
// concurrently; the accessors may be called from any goroutine.
type Jail struct {
	cfg     *config.Jail
	log     *slog.Logger
	filter  *filter.Filter
	tracker *tracker.Tracker
	bans    *ban.Manager
	policy  *ban.Policy
	allow   *ban.AllowList
	live    bool
	res     filter.Result

	// joins and rooms are the Pexip accounting; nil when off.
	joins    *pexip.Joins
	rooms    *pexip.Rooms
	released []pexip.Failure

	// Lines' parallel matching: independent is the filter's
	// Independent; self and helper (which matches on a clone of the
	// filter) are made at the first parallel batch; share is the
	// helper's part of a batch in thousandths.
	helpers      *Helpers
	independent  bool
	self, helper *matcher
	dates        []filter.LineDate
	share        int

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
		// Journal entries come dated: Line's now is the entry's time.
		Journal: strings.HasPrefix(cfg.Backend, "systemd"),
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
	j := &Jail{
		cfg:    cfg,
		log:    log,
		filter: f,
		live:   opts.Live,
		tracker: tracker.New(tracker.Options{
			FindTime:   cfg.FindTime,
			MaxRetry:   cfg.MaxRetry,
			MaxMatches: cfg.MaxMatches,
			MaxIDs:     cfg.MaxTrackedIDs,
		}),
		bans:   ban.NewManager(),
		policy: policy,
		allow:  allow,

		helpers:     opts.Helpers,
		independent: f.Independent(),
	}
	if p := cfg.Pexip; p.Joins {
		j.joins = pexip.NewJoins(pexip.JoinOptions{Window: p.JoinWindow, Hold: p.JoinHold, MaxAttempts: cfg.MaxTrackedIDs})
	}
	if p := cfg.Pexip; p.RoomBudget > 0 {
		j.rooms = pexip.NewRooms(pexip.RoomOptions{Budget: p.RoomBudget, Window: p.RoomWindow, AttackPeriod: p.RoomAttack})
	}
	return j, nil
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
// and dates a line that has none. For a journal jail it is the entry's
// time.
func (j *Jail) Line(ctx context.Context, line []byte, now time.Time, emit func(Event)) {
	j.lines.Add(1)
	j.filter.Process(line, now, &j.res)
	if len(j.res.Failures) == 0 {
		return
	}
	j.matched.Add(1)
	for i := range j.res.Failures {
		j.failure(ctx, &j.res.Failures[i], now, emit)
	}
}

// Tick counts the held 403s whose join window ended by now and forgets
// old room state. The daemon calls it every second; in a replay every
// Pexip line moves the accounting's clock.
func (j *Jail) Tick(ctx context.Context, now time.Time, emit func(Event)) {
	j.releaseDue(ctx, now, now, emit)
	if j.rooms != nil {
		j.rooms.Prune(now)
	}
	// A quiet jail must forget stale failures too, as fail2ban's
	// cleanup does, rather than rescale them at the next failure.
	if now.Sub(j.lastCleanup) > j.cfg.FindTime/4 {
		j.tracker.Cleanup(now)
		j.lastCleanup = now
	}
}

// Finish counts every 403 still held, as if their join windows had
// passed: the end of a replayed log, where no 200 can come any more.
func (j *Jail) Finish(ctx context.Context, emit func(Event)) {
	j.releaseDue(ctx, time.Unix(1<<40, 0), time.Time{}, emit)
}

// releaseDue counts the held 403s due by t, each batch at its own
// deadline (or at now when live), so that a replay bans when the daemon
// would have.
func (j *Jail) releaseDue(ctx context.Context, t, now time.Time, emit func(Event)) {
	if j.joins == nil {
		return
	}
	for {
		d, ok := j.joins.Deadline()
		if !ok || d.After(t) {
			return
		}
		j.released = j.joins.Expire(d, j.released[:0])
		j.count(ctx, j.released, j.clock(d, now), emit)
	}
}

// failure handles one failure the filter found.
func (j *Jail) failure(ctx context.Context, f *filter.Failure, now time.Time, emit func(Event)) {
	if f.ID == "" {
		return
	}
	at := f.Time
	if j.live && at.Before(now.Add(-j.cfg.FindTime)) {
		// fail2ban's daemon ignores lines older than findtime: they are
		// a log read from its start, not an attack in progress.
		return
	}
	id, prefix := j.idOf(f.ID, f.Addr)
	alias := roomOf(f.Fields["alias"])
	if alias != "" && !j.live {
		j.releaseDue(ctx, at, now, emit)
	}
	if f.NoFail {
		if alias == "" {
			return
		}
		// A join: the 403s before it on this room were the way in.
		k := pexip.Key{ID: id, Alias: alias}
		if j.rooms != nil {
			j.rooms.Joined(k, at)
		}
		if j.joins != nil {
			j.released = j.joins.Joined(k, at, j.released[:0])
			j.count(ctx, j.released, j.clock(at, now), emit)
		}
		return
	}
	ev := Event{Jail: j.cfg.Name, ID: id, Addr: f.Addr, Prefix: prefix, Time: at, Fields: f.Fields}
	ev.Kind = Attempt
	emit(ev)
	// An ID under a ban cannot reach the service, so what it logs meanwhile
	// comes from connections that were open before the ban; fail2ban does
	// not count those either.
	decided := j.clock(at, now)
	if j.bans.IsBanned(id, decided) {
		return
	}
	if j.allow.Contains(ctx, f.ID, f.Addr, f.Fields) {
		j.ignored.Add(1)
		ev.Kind = Ignored
		emit(ev)
		return
	}
	pf := pexip.Failure{
		Key: pexip.Key{ID: id, Alias: alias}, Time: at, Addr: f.Addr, Prefix: prefix,
		Line: firstLine(f.Lines), Fields: f.Fields,
	}
	if alias == "" || (j.joins == nil && j.rooms == nil) {
		j.add(ctx, pf, max(f.Attempts, 1), decided, emit)
		return
	}
	if j.rooms != nil && j.rooms.Attacked(pf.Key, at) {
		// The room is under attack: no holding, no counting.
		j.roomBan(j.ticket(id, at), pf.Addr, pf.Prefix, alias, decided, emit)
		return
	}
	if j.joins == nil {
		j.counted(ctx, pf, decided, emit)
		return
	}
	j.released = j.joins.Failed(pf, j.released[:0])
	j.count(ctx, j.released, decided, emit)
}

// count counts failures the join accounting released at decided.
func (j *Jail) count(ctx context.Context, fs []pexip.Failure, decided time.Time, emit func(Event)) {
	for _, f := range fs {
		j.counted(ctx, f, decided, emit)
	}
}

// counted counts one unexplained Pexip 403: against its room's budget,
// then against its ID.
func (j *Jail) counted(ctx context.Context, f pexip.Failure, decided time.Time, emit func(Event)) {
	if j.rooms != nil && f.Alias != "" && !j.bans.IsBanned(f.ID, decided) {
		if j.rooms.Attacked(f.Key, decided) {
			j.roomBan(j.ticket(f.ID, f.Time), f.Addr, f.Prefix, f.Alias, decided, emit)
			return
		}
		v := j.rooms.Counted(f.Key, f.Time)
		if v.Flagged {
			j.log.Warn("room under attack: banning every address that fails a PIN on it",
				"alias", f.Alias, "for", j.cfg.Pexip.RoomAttack)
			emit(Event{Kind: Attack, Jail: j.cfg.Name, Time: decided, Fields: map[string]string{"alias": f.Alias}})
		}
		for _, id := range v.Ban {
			addr, prefix := f.Addr, f.Prefix
			if id != f.ID {
				addr, prefix = parseID(id)
			}
			j.roomBan(j.ticket(id, f.Time), addr, prefix, f.Alias, decided, emit)
		}
	}
	j.add(ctx, f, 1, decided, emit)
}

// ticket returns id's failure ticket as of a failure at t, or a ticket of
// that one failure.
func (j *Jail) ticket(id string, t time.Time) tracker.Ticket {
	tk, ok := j.tracker.Get(id)
	if !ok {
		return tracker.Ticket{ID: id, First: t, Last: t, Retry: 1, Failures: 1}
	}
	tk.Last = t
	return tk
}

// add counts one failure and bans its ID when it reaches maxretry. decided
// is when: the failure's own time, or later when join accounting held it,
// or the wall clock when live.
func (j *Jail) add(ctx context.Context, f pexip.Failure, attempts int, decided time.Time, emit func(Event)) {
	at := f.Time
	if j.bans.IsBanned(f.ID, decided) {
		return
	}
	j.failures.Add(1)
	extra, err := j.policy.ExtraAttempts(f.ID, at, j.cfg.MaxRetry)
	if err != nil {
		j.log.Warn("ban history", "id", f.ID, "err", err)
	}
	ticket, full := j.tracker.Add(tracker.Failure{ID: f.ID, Time: at, Attempts: attempts + extra, Match: f.Line})
	emit(Event{Kind: Failure, Jail: j.cfg.Name, ID: f.ID, Addr: f.Addr, Prefix: f.Prefix, Time: at, Fields: f.Fields})
	if full {
		j.ban(ticket, f.Addr, f.Prefix, f.Fields, decided, 0, emit)
	}
	if at.Sub(j.lastCleanup) > j.cfg.FindTime/4 {
		j.tracker.Cleanup(at)
		j.lastCleanup = at
	}
}

// roomBan bans an address failing on a room under attack, for at least
// the attack period, so that it gets no guess in until the attack is over.
func (j *Jail) roomBan(t tracker.Ticket, addr netip.Addr, prefix netip.Prefix, alias string, start time.Time, emit func(Event)) {
	j.ban(t, addr, prefix, map[string]string{"alias": alias}, start, j.cfg.Pexip.RoomAttack, emit)
}

// ban bans t.ID from start for what the ban policy decides, and at least
// atLeast.
func (j *Jail) ban(t tracker.Ticket, addr netip.Addr, prefix netip.Prefix, fields map[string]string, start time.Time, atLeast time.Duration, emit func(Event)) {
	d, err := j.policy.Decide(t.ID, start)
	if err != nil {
		// Decide still returns bantime's decision, as fail2ban falls back.
		j.log.Warn("ban time", "id", t.ID, "err", err)
	}
	if d.Duration != config.Permanent && d.Duration < atLeast {
		d.Duration = atLeast
	}
	if full, ok := j.tracker.Get(t.ID); ok {
		t.Matches = full.Matches
	}
	entry, outcome := j.bans.Ban(ban.Entry{
		ID: t.ID, Addr: addr, Prefix: prefix, Start: start, Duration: d.Duration, Count: d.Count,
		Failures: t.Failures, Matches: t.Matches, Fields: fields,
	}, start)
	if outcome != ban.Added {
		return
	}
	if !d.Restored {
		if err := j.policy.Record(entry); err != nil {
			j.log.Warn("ban history", "id", t.ID, "err", err)
		}
	}
	j.banned.Add(1)
	emit(banEvent(j.cfg.Name, Ban, entry))
}

// clock is the time a decision is taken at: the failure's log time in a
// replay, the wall clock when live.
func (j *Jail) clock(logTime, now time.Time) time.Time {
	if j.live {
		return now
	}
	return logTime
}

// idOf returns the ID failures of id are counted by and the prefix a ban
// blocks: the address's ipv4prefix or ipv6prefix when it is an address.
func (j *Jail) idOf(id string, addr netip.Addr) (string, netip.Prefix) {
	if !addr.IsValid() {
		return id, netip.Prefix{}
	}
	a := addr.Unmap()
	bits := j.cfg.IPv4Prefix
	if a.Is6() {
		bits = j.cfg.IPv6Prefix
	}
	if bits <= 0 || bits >= a.BitLen() {
		return id, netip.PrefixFrom(a, a.BitLen())
	}
	p, _ := a.Prefix(bits)
	return p.String(), p
}

// roomOf returns the room an alias names as logged: percent-decoded and
// lower-cased, as Infinity matches aliases, so that meet.dave%40example.com
// and Meet.Dave@example.com share one join accounting and one budget.
func roomOf(alias string) string {
	if strings.IndexByte(alias, '%') >= 0 {
		if dec, err := url.PathUnescape(alias); err == nil {
			alias = dec
		}
	}
	for i := 0; i < len(alias); i++ {
		if c := alias[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(alias)
		}
	}
	return alias
}

// parseID returns the address or prefix an ID names.
func parseID(id string) (netip.Addr, netip.Prefix) {
	if p, err := netip.ParsePrefix(id); err == nil {
		return netip.Addr{}, p.Masked()
	}
	if a, err := netip.ParseAddr(id); err == nil {
		a = a.Unmap()
		return a, netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Addr{}, netip.Prefix{}
}

func banEvent(jail string, kind EventKind, e ban.Entry) Event {
	return Event{
		Kind: kind, Jail: jail, ID: e.ID, Addr: e.Addr, Prefix: e.Prefix, Time: e.Start,
		BanTime: e.Duration, BanCount: e.Count, Failures: e.Failures,
		Fields: e.Fields, Matches: e.Matches,
	}
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

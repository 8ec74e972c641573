package enforce

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Log is a dry-run Enforcer: it changes no firewall, logs what it would do
// and keeps a record of it, and simulates the bans, including their expiry,
// so that callers and tests can see what would be banned.
type Log struct {
	logger *slog.Logger
	now    func() time.Time

	stageMu sync.Mutex
	pending Pending

	mu      sync.Mutex
	jails   map[string]*logJail
	records []Record
}

type logJail struct {
	match Match
	// bans maps each banned prefix to its deadline; the zero time means
	// permanent.
	bans map[netip.Prefix]time.Time
}

// Op names what a [Record] did.
type Op string

// The operations a Log records.
const (
	OpStart Op = "start"
	OpStop  Op = "stop"
	OpBan   Op = "ban"
	OpUnban Op = "unban"
	OpFlush Op = "flush"
	// OpRestore is a ban written back by Reconcile.
	OpRestore Op = "restore"
)

// Record is one operation a Log performed.
type Record struct {
	Op   Op
	Jail string
	// Match is set for OpStart.
	Match Match
	// Prefix and Timeout are set for OpBan, OpUnban and OpRestore.
	Prefix  netip.Prefix
	Timeout time.Duration
}

// NewLog returns a dry-run Enforcer that logs to logger and reads the time
// from now. Nil arguments mean a discarding logger and time.Now.
func NewLog(logger *slog.Logger, now func() time.Time) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Log{logger: logger, now: now, jails: make(map[string]*logJail)}
}

var _ Enforcer = (*Log)(nil)

// Start validates spec and records the rule it would create.
func (l *Log) Start(ctx context.Context, spec Spec) error {
	m, err := spec.Resolve(ctx)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	j := l.jails[spec.Jail]
	if j == nil {
		j = &logJail{bans: make(map[netip.Prefix]time.Time)}
		l.jails[spec.Jail] = j
	}
	j.match = m
	l.record(ctx, Record{Op: OpStart, Jail: spec.Jail, Match: m})
	return nil
}

// Stop forgets the jail and its bans.
func (l *Log) Stop(ctx context.Context, jail string) error {
	l.stageMu.Lock()
	l.pending.DropJail(jail)
	l.stageMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.jails, jail)
	l.record(ctx, Record{Op: OpStop, Jail: jail})
	return nil
}

// Add stages a ban.
func (l *Log) Add(b Ban) {
	l.stageMu.Lock()
	defer l.stageMu.Unlock()
	l.pending.Add(b)
}

// Delete stages an unban.
func (l *Log) Delete(jail string, p netip.Prefix) {
	l.stageMu.Lock()
	defer l.stageMu.Unlock()
	l.pending.Delete(jail, p)
}

// Commit logs and records the staged changes and applies them to the
// simulated bans.
func (l *Log) Commit(ctx context.Context) error {
	l.stageMu.Lock()
	changes := l.pending.Take()
	l.stageMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var failed []FailedChange
	for _, c := range changes {
		j := l.jails[c.Jail]
		if j == nil {
			failed = append(failed, FailedChange{c, ErrNotStarted})
			continue
		}
		p, err := NormalizePrefix(c.Prefix)
		if err != nil {
			failed = append(failed, FailedChange{c, err})
			continue
		}
		if c.Delete {
			delete(j.bans, p)
			l.record(ctx, Record{Op: OpUnban, Jail: c.Jail, Prefix: p})
			continue
		}
		j.bans[p] = deadline(now, c.Timeout)
		l.record(ctx, Record{Op: OpBan, Jail: c.Jail, Prefix: p, Timeout: c.Timeout})
	}
	if failed != nil {
		return &CommitError{Failed: failed}
	}
	return nil
}

// Flush removes the jail's simulated bans and its staged changes.
func (l *Log) Flush(ctx context.Context, jail string) error {
	l.stageMu.Lock()
	l.pending.DropJail(jail)
	l.stageMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	j := l.jails[jail]
	if j == nil {
		return ErrNotStarted
	}
	clear(j.bans)
	l.record(ctx, Record{Op: OpFlush, Jail: jail})
	return nil
}

// Reconcile replaces each jail's simulated bans with want and records the
// wanted bans the simulation did not have (because they had expired there,
// for instance) as restored.
func (l *Log) Reconcile(ctx context.Context, want func(jail string) []Ban) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	restored := 0
	for _, name := range slices.Sorted(maps.Keys(l.jails)) {
		j := l.jails[name]
		bans := make(map[netip.Prefix]time.Time)
		for _, b := range want(name) {
			p, err := NormalizePrefix(b.Prefix)
			if err != nil {
				continue
			}
			bans[p] = deadline(now, b.Timeout)
			if !j.banned(p, now) {
				restored++
				l.record(ctx, Record{Op: OpRestore, Jail: name, Prefix: p, Timeout: b.Timeout})
			}
		}
		j.bans = bans
	}
	return restored, nil
}

// Close does nothing.
func (l *Log) Close() error { return nil }

// Records returns a copy of what the Log did so far.
func (l *Log) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// Banned returns the jail's simulated bans that have not expired, ordered by
// prefix, each with its remaining time.
func (l *Log) Banned(jail string) []Ban {
	l.mu.Lock()
	defer l.mu.Unlock()
	j := l.jails[jail]
	if j == nil {
		return nil
	}
	now := l.now()
	var bans []Ban
	for p, end := range j.bans {
		if !j.banned(p, now) {
			continue
		}
		var left time.Duration
		if !end.IsZero() {
			left = end.Sub(now)
		}
		bans = append(bans, Ban{Jail: jail, Prefix: p, Timeout: left})
	}
	slices.SortFunc(bans, func(a, b Ban) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
	return bans
}

func (j *logJail) banned(p netip.Prefix, now time.Time) bool {
	end, ok := j.bans[p]
	return ok && (end.IsZero() || end.After(now))
}

func (l *Log) record(ctx context.Context, r Record) {
	l.records = append(l.records, r)
	attrs := []slog.Attr{slog.String("op", string(r.Op)), slog.String("jail", r.Jail)}
	switch r.Op {
	case OpStart:
		attrs = append(attrs, slog.String("rule", r.Match.String()))
	case OpBan, OpRestore:
		attrs = append(attrs, slog.String("prefix", r.Prefix.String()), slog.Duration("timeout", r.Timeout))
	case OpUnban:
		attrs = append(attrs, slog.String("prefix", r.Prefix.String()))
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "dry run: firewall unchanged", attrs...)
}

// deadline returns when a ban of the given remaining time ends, the zero
// time for a permanent one.
func deadline(now time.Time, timeout time.Duration) time.Time {
	if timeout <= 0 {
		return time.Time{}
	}
	return now.Add(timeout)
}

package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/enforce"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/source"
	"github.com/pinjail/pinjail/internal/source/file"
	"github.com/pinjail/pinjail/internal/source/journal"
	"github.com/pinjail/pinjail/internal/store"
	"github.com/pinjail/pinjail/internal/tracker"
)

// runner is one live jail: its source goroutine feeds its engine.
type runner struct {
	name string
	cfg  *config.Jail
	d    *Daemon

	// mu serialises the engine between the source goroutine and control
	// requests.
	mu       sync.Mutex
	j        *jail.Jail
	lastSave time.Time
	saveCost time.Duration // how long the last save took
	// ticketsSaved is set while the database holds the jail's failure
	// tickets as of its last save, so that a save writes what changed
	// since; the first save, and one after a failed save, rewrites them
	// all.
	ticketsSaved bool

	files   *file.Follower  // nil for journal jails
	journal *journal.Reader // nil for file jails
	cancel  context.CancelFunc
	done    chan struct{}

	// nft is set when the jail bans in pinjail's nftables table; shell
	// holds its fail2ban shell actions, nil when it has none.
	nft   bool
	shell *actions
}

// startJailLocked builds and starts one jail. prev, when not nil, is the
// jail it replaces on reload: its bans and failure counts carry over.
func (d *Daemon) startJailLocked(ctx context.Context, jc *config.Jail, prev *runner) error {
	j, err := jail.New(jc, jail.Options{Logger: d.log, History: d.store, Live: true, Helpers: d.helpers})
	if err != nil {
		return err
	}
	r := &runner{name: jc.Name, cfg: jc, d: d, j: j, done: make(chan struct{}), nft: usesNftables(jc)}
	if r.nft {
		if err := d.enf.Start(ctx, enforceSpec(jc)); err != nil {
			return fmt.Errorf("firewall: %w", err)
		}
	} else if prev != nil && prev.nft {
		if err := d.enf.Stop(ctx, jc.Name); err != nil {
			d.log.Error("firewall: stopping jail", "jail", jc.Name, "err", err)
		}
	}
	if r.shell, err = d.startActions(ctx, jc); err != nil {
		return fmt.Errorf("actions: %w", err)
	}
	now := d.now()
	if prev != nil {
		j.RestoreTickets(prev.j.Tickets())
		j.RestoreBans(prev.j.Banned(now), now)
	} else if err := r.restore(ctx, now); err != nil {
		d.log.Warn("restoring state", "jail", jc.Name, "err", err)
	}
	if r.nft {
		for _, b := range r.firewallBans(now) {
			d.enf.Add(b)
		}
		d.commit(ctx)
	}
	// Shell actions start empty: give them the bans that hold. Restored
	// marks them, so actions with norestored (mails) stay quiet.
	for _, e := range j.Banned(now) {
		b := actionBan(e)
		b.Restored = true
		r.shell.ban(d, r.name, b)
	}
	if err := r.openSource(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go r.run(rctx)
	d.jails[jc.Name] = r
	return nil
}

// restore loads the jail's bans, failure counts and log positions.
func (r *runner) restore(ctx context.Context, now time.Time) error {
	bans, err := r.d.store.ActiveBans(ctx, r.name, now)
	if err != nil {
		return err
	}
	infos := make([]ban.Entry, 0, len(bans))
	for _, b := range bans {
		infos = append(infos, ban.Entry{
			ID: b.ID, Start: b.Time, Duration: b.BanTime, Count: b.Count,
			Failures: b.Failures, Matches: b.Matches, Fields: b.Fields,
		})
	}
	r.j.RestoreBans(infos, now)
	tickets, err := r.d.store.Tickets(ctx, r.name)
	if err != nil {
		return err
	}
	ts := make([]tracker.Ticket, len(tickets))
	for i, t := range tickets {
		ts[i] = tracker.Ticket{ID: t.ID, First: t.First, Last: t.Last, Retry: t.Count, Failures: t.Count, Matches: t.Matches}
	}
	r.j.RestoreTickets(ts)
	if len(infos) > 0 || len(ts) > 0 {
		r.d.log.Info("restored", "jail", r.name, "bans", len(infos), "failing", len(ts))
	}
	return nil
}

func (r *runner) openSource(ctx context.Context) error {
	log := r.d.log.With("jail", r.name)
	if strings.HasPrefix(r.cfg.Backend, "systemd") {
		cursor, err := r.d.store.Cursor(ctx, r.name)
		if err != nil {
			log.Warn("journal cursor", "err", err)
		}
		jr, err := journal.New(journal.Options{
			Matches: r.cfg.Filter.JournalMatch,
			Cursor:  cursor,
			Since:   r.d.now().Add(-r.cfg.FindTime),
			Logger:  log,
		})
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		r.journal = jr
		return nil
	}
	positions, err := r.d.store.Positions(ctx, r.name)
	if err != nil {
		log.Warn("log positions", "err", err)
	}
	start := make(map[string]file.Position, len(positions))
	for _, p := range positions {
		start[p.Path] = file.Position{Path: p.Path, Inode: p.Inode, Offset: p.Offset, FirstLineHash: p.FirstLineHash}
	}
	paths := make([]file.Path, len(r.cfg.LogPaths))
	for i, lp := range r.cfg.LogPaths {
		paths[i] = file.Path{Pattern: lp.Path, Tail: lp.Tail}
	}
	fl, err := file.New(paths, file.Options{Backend: r.cfg.Backend, Start: start, Logger: log})
	if err != nil {
		return fmt.Errorf("log files: %w", err)
	}
	r.files = fl
	return nil
}

func (r *runner) source() source.Source {
	if r.journal != nil {
		return r.journal
	}
	return r.files
}

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	// The jail's events are applied after its lock is released: the
	// firewall's own lock is taken by a reconcile that asks every jail for
	// its bans, so holding both here could deadlock.
	var events []jail.Event
	collect := func(ev jail.Event) {
		if hasEffect(ev) {
			events = append(events, ev)
		}
	}
	// A batch is the lines read together, a thousand or so at most: one
	// reading of the clock, one hold of the lock, and one firewall commit
	// and database transaction for its bans serve them all, and delay none
	// of them by more than the batch takes.
	err := r.source().Run(ctx, func(lines []source.Line) {
		now := r.d.now()
		r.mu.Lock()
		r.j.Lines(ctx, lines, now, collect)
		r.mu.Unlock()
		if len(events) > 0 {
			r.d.apply(ctx, r, events)
			clear(events) // drop the events' matches and fields
			events = events[:0]
		}
		// A save writes the failure tickets changed since the last one;
		// under a flood of distinct addresses that is most of them, so the
		// interval grows with its cost and saving never takes more than a
		// tenth of the jail's time.
		if now.Sub(r.lastSave) >= max(r.d.opts.Settings.SaveInterval, 10*r.saveCost) {
			r.mu.Lock()
			r.d.saveStateLocked(ctx, r)
			r.mu.Unlock()
			r.lastSave = r.d.now()
			r.saveCost = r.lastSave.Sub(now)
		}
	})
	if err != nil {
		r.d.log.Error("log source stopped", "jail", r.name, "err", err)
	}
}

// shutdown stops the source and waits for it.
func (r *runner) shutdown() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.shell.stop(r.d, r.name, r.j.Banned(r.d.now()))
}

// hasEffect reports whether apply has anything to do for ev; attempts and
// counted failures change only the jail itself.
func hasEffect(ev jail.Event) bool {
	return ev.Kind != jail.Attempt && ev.Kind != jail.Failure
}

// apply puts a jail's events into effect: bans into the firewall (one
// commit for all), the shell actions and the database (one transaction),
// attacks to the webhook, and all into the metrics. It must run without
// the jail's lock.
func (d *Daemon) apply(ctx context.Context, r *runner, evs []jail.Event) {
	var batch store.Batch
	staged := false
	for _, ev := range evs {
		d.met.event(r.name, ev)
		if ev.Kind == jail.Attack {
			d.attacked(r, ev)
		}
		if ev.Kind != jail.Ban {
			continue
		}
		if p, ok := banPrefix(ev); ok && r.nft {
			d.enf.Add(enforce.Ban{Jail: r.name, Prefix: p, Timeout: timeout(ev.BanTime)})
			staged = true
		} else if !ok && r.nft {
			d.log.Warn("ban of an ID that is not an address: recorded, not enforced", "jail", r.name, "id", ev.ID)
		}
		r.shell.ban(d, r.name, eventBan(ev))
		d.log.Info("ban", "jail", r.name, "id", ev.ID, "bantime", ev.BanTime, "failures", ev.Failures)
		batch.AddBan(store.BanRecord{
			Jail: r.name, ID: ev.ID, Time: ev.Time, BanTime: ev.BanTime, Count: ev.BanCount,
			Failures: ev.Failures, Matches: ev.Matches, Fields: ev.Fields,
		})
	}
	if staged {
		d.commit(ctx)
	}
	if batch.Len() > 0 {
		if err := d.store.Apply(context.WithoutCancel(ctx), &batch); err != nil {
			d.log.Error("database: saving bans", "jail", r.name, "err", err)
		}
	}
}

func timeout(d time.Duration) time.Duration {
	if d == config.Permanent {
		return 0
	}
	return d
}

// saveState saves a stopped or idle jail's positions and failure counts.
func (d *Daemon) saveState(r *runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.saveStateLocked(context.Background(), r)
}

// saveStateLocked saves positions and failure counts in one transaction.
// It runs between two lines of the jail's source, so the counts are
// exactly those of the lines before the saved positions: after a crash the
// jail resumes there and counts every failure once.
func (d *Daemon) saveStateLocked(ctx context.Context, r *runner) {
	var b store.Batch
	if r.files != nil {
		var ps []store.Position
		for _, p := range r.files.Positions() {
			ps = append(ps, store.Position{Path: p.Path, Inode: p.Inode, Offset: p.Offset, FirstLineHash: p.FirstLineHash})
		}
		b.SavePositions(r.name, ps)
	}
	if r.journal != nil {
		if c := r.journal.Cursor(); c != "" {
			b.SaveCursor(r.name, c)
		}
	}
	changed, dropped := r.j.TicketChanges(!r.ticketsSaved)
	ts := make([]store.Ticket, len(changed))
	for i, t := range changed {
		ts[i] = store.Ticket{ID: t.ID, First: t.First, Last: t.Last, Count: t.Retry, Matches: t.Matches}
	}
	if r.ticketsSaved {
		b.UpdateTickets(r.name, ts, dropped)
	} else {
		b.SaveTickets(r.name, ts)
	}
	err := d.store.Apply(context.WithoutCancel(ctx), &b)
	r.ticketsSaved = err == nil
	if err != nil {
		d.log.Error("database: saving state", "jail", r.name, "err", err)
	}
}

func (r *runner) expire(now time.Time) []jail.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.j.Expire(now)
}

// tick counts the Pexip 403s whose join window ended unanswered.
func (r *runner) tick(ctx context.Context, now time.Time) {
	var events []jail.Event
	r.mu.Lock()
	r.j.Tick(ctx, now, func(ev jail.Event) {
		if hasEffect(ev) {
			events = append(events, ev)
		}
	})
	r.mu.Unlock()
	if len(events) > 0 {
		r.d.apply(ctx, r, events)
	}
}

// firewallBans returns the jail's bans as the firewall should hold them.
func (r *runner) firewallBans(now time.Time) []enforce.Ban {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []enforce.Ban
	for _, b := range r.j.Banned(now) {
		p := b.Prefix
		if !p.IsValid() {
			continue
		}
		t := time.Duration(0)
		if b.Duration != config.Permanent {
			t = b.Start.Add(b.Duration).Sub(now)
			if t <= 0 {
				continue
			}
		}
		out = append(out, enforce.Ban{Jail: r.name, Prefix: p, Timeout: t})
	}
	return out
}

func (r *runner) status(now time.Time) api.JailStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.j.Stats()
	banned := r.j.Banned(now)
	ips := make([]string, len(banned))
	for i, b := range banned {
		ips[i] = b.ID
	}
	js := api.JailStatus{
		Name:            r.name,
		CurrentlyFailed: r.j.Failing(),
		TotalFailed:     st.Failures,
		CurrentlyBanned: len(banned),
		TotalBanned:     st.Bans,
		BannedIPs:       ips,
	}
	if r.journal != nil {
		js.JournalMatches = strings.Join(r.cfg.Filter.JournalMatch, " + ")
	} else if r.files != nil {
		for _, p := range r.files.Positions() {
			js.FileList = append(js.FileList, p.Path)
		}
		slices.Sort(js.FileList)
	}
	return js
}

// enforceSpec turns a jail's port, protocol and blocktype into the
// firewall rule's description.
func enforceSpec(jc *config.Jail) enforce.Spec {
	block := jc.Options["blocktype"]
	if block != "reject" {
		block = "drop"
	}
	var protocols []string
	if jc.Protocol != "" {
		protocols = []string{jc.Protocol}
	}
	return enforce.Spec{Jail: jc.Name, Ports: jc.Port, Protocols: protocols, Block: block}
}

// parsePrefix parses an address or prefix given to ban or unban; an
// address is returned as a single-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

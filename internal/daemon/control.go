package daemon

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/control"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/store"
)

// The methods in this file implement control.Backend.

var _ control.Backend = (*Daemon)(nil)

// Ban bans an address or prefix in a jail by hand.
func (d *Daemon) Ban(ctx context.Context, name, addr string) (int, error) {
	r, p, err := d.target(name, addr)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	ev, ok := r.j.BanManually(p, d.now())
	r.mu.Unlock()
	if !ok {
		return 0, nil
	}
	d.apply(ctx, r, []jail.Event{ev})
	return 1, nil
}

// target returns the jail named and the address or prefix given to a ban
// or unban command.
func (d *Daemon) target(name, addr string) (*runner, netip.Prefix, error) {
	r, err := d.runner(name)
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	p, err := parsePrefix(addr)
	if err != nil {
		return nil, netip.Prefix{}, &control.InputError{Err: err}
	}
	return r, p, nil
}

// Unban lifts the ban of an address, or of every banned address inside a
// prefix, in a jail.
func (d *Daemon) Unban(ctx context.Context, name, addr string) (int, error) {
	r, p, err := d.target(name, addr)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	lifted := r.j.Unban(p)
	r.mu.Unlock()
	d.lifted(ctx, r, lifted)
	return len(lifted), nil
}

// UnbanAll lifts every ban of every jail.
func (d *Daemon) UnbanAll(ctx context.Context) (int, error) {
	n := 0
	for _, r := range d.runners() {
		r.mu.Lock()
		lifted := r.j.UnbanAll()
		r.mu.Unlock()
		d.lifted(ctx, r, lifted)
		n += len(lifted)
	}
	return n, nil
}

// lifted removes bans the admin lifted from the firewall, the shell
// actions and the database.
func (d *Daemon) lifted(ctx context.Context, r *runner, evs []jail.Event) {
	var b store.Batch
	d.stageUnbans(r, evs, &b, "control")
	d.applyUnbans(ctx, &b)
}

// stageUnbans stages lifted bans in the firewall, queues their shell
// actions' unban and adds their removal to b. by says who lifted them.
func (d *Daemon) stageUnbans(r *runner, evs []jail.Event, b *store.Batch, by string) {
	for _, ev := range evs {
		r.unbanned(ev)
		b.RemoveBan(r.name, ev.ID)
		d.met.unbans.WithLabelValues(r.name).Inc()
		d.log.Info("unban", "jail", r.name, "id", ev.ID, "by", by)
	}
}

// applyUnbans commits the staged unbans and saves b, when it holds any.
func (d *Daemon) applyUnbans(ctx context.Context, b *store.Batch) {
	if b.Len() == 0 {
		return
	}
	d.commit(ctx)
	if err := d.store.Apply(ctx, b); err != nil {
		d.log.Error("database: saving unbans", "err", err)
	}
}

// Banned lists the current bans, of addr only when it is not empty.
func (d *Daemon) Banned(addr string) []api.Banned {
	now := d.now()
	var want netip.Prefix
	if addr != "" {
		p, err := parsePrefix(addr)
		if err != nil {
			return nil
		}
		want = p
	}
	var out []api.Banned
	for _, r := range d.runners() {
		r.mu.Lock()
		for _, b := range r.j.Banned(now) {
			if want.IsValid() && !b.Overlaps(want) {
				continue
			}
			e := api.Banned{Jail: r.name, Addr: b.ID, Since: b.Start}
			if b.Duration != config.Permanent {
				e.Until = b.Start.Add(b.Duration)
			}
			out = append(out, e)
		}
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b api.Banned) int {
		if c := strings.Compare(a.Jail, b.Jail); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return out
}

// Reload reads the configuration again. A configuration with errors is
// rejected whole and the running one kept. Otherwise each jail (or the one
// named) is rebuilt and swapped in, keeping its bans and failure counts;
// jails gone from the configuration are stopped and their bans lifted.
func (d *Daemon) Reload(ctx context.Context, name string) api.ReloadResponse {
	cfg, err := d.loadConfig()
	if err != nil {
		return api.ReloadResponse{Errors: []string{err.Error()}}
	}
	var resp api.ReloadResponse
	for _, p := range cfg.Problems {
		if p.Severity == config.SeverityError {
			resp.Errors = append(resp.Errors, p.String())
		} else {
			resp.Warnings = append(resp.Warnings, p.String())
		}
	}
	if name != "" {
		if jc := cfg.Jail(name); jc == nil || !jc.Enabled {
			resp.Errors = append(resp.Errors, "no enabled jail "+name+" in the new configuration")
		}
	}
	// Build every filter now, so a regex that does not compile rejects the
	// reload instead of stopping a jail.
	for _, jc := range cfg.Enabled() {
		if name != "" && jc.Name != name {
			continue
		}
		if _, err := jail.New(jc, jail.Options{}); err != nil {
			resp.Errors = append(resp.Errors, err.Error())
		}
	}
	if len(resp.Errors) > 0 {
		d.log.Warn("reload rejected; the running configuration is kept", "errors", len(resp.Errors))
		return resp
	}
	// The jails run under the daemon's context, not the request's.
	runCtx := context.WithoutCancel(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, jc := range cfg.Enabled() {
		if name != "" && jc.Name != name {
			continue
		}
		prev := d.jails[jc.Name]
		if prev != nil {
			prev.shutdown()
			d.saveState(prev)
			delete(d.jails, jc.Name)
		}
		if err := d.startJailLocked(runCtx, jc, prev); err != nil {
			resp.Errors = append(resp.Errors, "jail "+jc.Name+": "+err.Error())
		}
	}
	if name == "" {
		for jn, r := range d.jails {
			if jc := cfg.Jail(jn); jc == nil || !jc.Enabled {
				r.shutdown()
				d.saveState(r)
				delete(d.jails, jn)
				if r.nft {
					if err := d.enf.Stop(runCtx, jn); err != nil {
						d.log.Error("firewall: stopping jail", "jail", jn, "err", err)
					}
				}
				if err := d.store.RemoveAllBans(runCtx, jn); err != nil {
					d.log.Error("database", "err", err)
				}
			}
		}
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded")
	return resp
}

package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/action"
	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
)

// actions runs a jail's fail2ban shell actions on a goroutine of its own,
// in the order the jail decided: a command can take seconds (a whois, a
// mail), and the jail's log must not wait for it.
type actions struct {
	set   *action.Set
	queue chan func(context.Context)
	done  chan struct{}
}

// actionQueue is how many shell operations may wait; past it the jail
// waits too, which only a flood of bans far beyond a shell's pace causes.
const actionQueue = 4096

// usesNftables reports whether the jail bans through pinjail's own
// nftables enforcement; jails with only shell actions (or only log) do not.
func usesNftables(jc *config.Jail) bool {
	for _, a := range jc.Actions {
		if a.Builtin && strings.HasPrefix(a.Name, "nftables") {
			return true
		}
	}
	return false
}

// startActions builds and starts the jail's shell actions; nil when it has
// none.
func (d *Daemon) startActions(ctx context.Context, jc *config.Jail) (*actions, error) {
	set, err := action.NewSet(jc, action.Options{Logger: d.log, Now: d.now})
	if err != nil {
		return nil, err
	}
	if len(set.Runners()) == 0 {
		return nil, nil
	}
	a := &actions{set: set, queue: make(chan func(context.Context), actionQueue), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for op := range a.queue {
			op(ctx)
		}
	}()
	a.do(func(ctx context.Context) {
		if err := set.Start(ctx); err != nil {
			d.log.Error("action start", "jail", jc.Name, "err", err)
		}
	})
	return a, nil
}

func (a *actions) do(op func(context.Context)) {
	if a != nil {
		a.queue <- op
	}
}

// stop flushes the actions' bans and stops them, as fail2ban does when a
// jail stops, and waits for the queue to drain.
func (a *actions) stop(d *Daemon, name string, bans []ban.Entry) {
	if a == nil {
		return
	}
	a.do(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		bs := make([]action.Ban, len(bans))
		for i, e := range bans {
			bs[i] = actionBan(e)
		}
		if err := a.set.Flush(ctx, bs); err != nil {
			d.log.Error("action flush", "jail", name, "err", err)
		}
		if err := a.set.Stop(ctx); err != nil {
			d.log.Error("action stop", "jail", name, "err", err)
		}
	})
	close(a.queue)
	<-a.done
}

func (a *actions) ban(d *Daemon, name string, b action.Ban) {
	a.do(func(ctx context.Context) {
		if err := a.set.Ban(context.WithoutCancel(ctx), b); err != nil {
			d.log.Error("action ban", "jail", name, "id", b.ID, "err", err)
		}
	})
}

func (a *actions) unban(d *Daemon, name string, b action.Ban) {
	a.do(func(ctx context.Context) {
		if err := a.set.Unban(context.WithoutCancel(ctx), b); err != nil {
			d.log.Error("action unban", "jail", name, "id", b.ID, "err", err)
		}
	})
}

func actionBan(e ban.Entry) action.Ban {
	return action.Ban{
		ID: e.ID, Addr: e.Addr, Time: e.Start, BanTime: e.Duration, Count: e.Count,
		Failures: e.Failures, Matches: e.Matches, Fields: e.Fields,
	}
}

func eventBan(ev jail.Event) action.Ban {
	return action.Ban{
		ID: ev.ID, Addr: ev.Addr, Time: ev.Time, BanTime: ev.BanTime, Count: ev.BanCount,
		Failures: ev.Failures, Matches: ev.Matches, Fields: ev.Fields,
	}
}

// unbanned stages a lifted ban's removal from the firewall (the caller
// commits) and queues its shell actions' unban.
func (r *runner) unbanned(ev jail.Event) {
	if p, ok := banPrefix(ev); ok && r.nft {
		r.d.enf.Delete(r.name, p)
	}
	r.shell.unban(r.d, r.name, eventBan(ev))
}

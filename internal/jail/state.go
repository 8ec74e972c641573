package jail

import (
	"net/netip"
	"time"

	"github.com/pinjail/pinjail/internal/ban"
	"github.com/pinjail/pinjail/internal/tracker"
)

// The methods in this file serve the daemon: they carry a jail's state
// across restarts and reloads and apply the admin's commands. Like Line,
// they must not run concurrently with it.

// Banned returns the bans in force at now, the earliest end first.
func (j *Jail) Banned(now time.Time) []ban.Entry {
	all := j.bans.List()
	out := all[:0]
	for _, e := range all {
		if e.Permanent() || e.End().After(now) {
			out = append(out, e)
		}
	}
	return out
}

// NumBanned returns how many bans are in force at now: len(Banned(now)),
// without the copy.
func (j *Jail) NumBanned(now time.Time) int { return j.bans.Active(now) }

// RestoreBans puts saved bans back. Bans that already ended are dropped.
func (j *Jail) RestoreBans(bans []ban.Entry, now time.Time) {
	for _, e := range bans {
		if !e.Prefix.IsValid() {
			e.Addr, e.Prefix = parseID(e.ID)
		}
		j.bans.Ban(e, now)
	}
}

// Tickets returns the failure counts, for saving.
func (j *Jail) Tickets() []tracker.Ticket { return j.tracker.Snapshot() }

// TicketChanges returns the failure counts changed, and the IDs whose
// counts were dropped, since it was last called; with all, every count and
// no drop. See tracker.Tracker.Changes.
func (j *Jail) TicketChanges(all bool) (changed []tracker.Ticket, dropped []string) {
	return j.tracker.Changes(all)
}

// RestoreTickets puts saved failure counts back.
func (j *Jail) RestoreTickets(ts []tracker.Ticket) { j.tracker.Restore(ts) }

// Failing returns how many IDs have failures counted (fail2ban's
// "Currently failed").
func (j *Jail) Failing() int { return j.tracker.Len() }

// Expire lifts the bans that ended by now and reports them as Unban
// events.
func (j *Jail) Expire(now time.Time) []Event {
	ended := j.bans.Expire(now)
	out := make([]Event, len(ended))
	for i, e := range ended {
		out[i] = banEvent(j.cfg.Name, Unban, e)
	}
	return out
}

// BanManually bans p (an address as a single-address prefix, or a wider
// prefix) by the admin's command, for bantime with its increments, as
// fail2ban's `banip`. It reports false when p is banned already.
func (j *Jail) BanManually(p netip.Prefix, now time.Time) (Event, bool) {
	p = p.Masked()
	id := p.String()
	var addr netip.Addr
	if p.IsSingleIP() {
		addr = p.Addr()
		id = addr.String()
	}
	t, ok := j.tracker.Get(id)
	if !ok {
		t = tracker.Ticket{ID: id, Failures: 1}
	}
	t.Last = now
	before := j.banned.Load()
	var ev Event
	j.ban(t, addr, p, nil, now, 0, func(e Event) { ev = e })
	return ev, j.banned.Load() != before
}

// Unban lifts every ban that blocks an address of p, forgets their
// failures and reports them as Unban events.
func (j *Jail) Unban(p netip.Prefix) []Event {
	var out []Event
	for _, e := range j.bans.List() {
		if !e.Overlaps(p) {
			continue
		}
		if lifted, ok := j.bans.Unban(e.ID); ok {
			j.tracker.Forget(e.ID)
			out = append(out, banEvent(j.cfg.Name, Unban, lifted))
		}
	}
	return out
}

// UnbanAll lifts every ban.
func (j *Jail) UnbanAll() []Event {
	all := j.bans.UnbanAll()
	out := make([]Event, len(all))
	for i, e := range all {
		j.tracker.Forget(e.ID)
		out[i] = banEvent(j.cfg.Name, Unban, e)
	}
	return out
}

package action

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/shellcmd"
)

// banTags returns the dynamic tags of a ban of b. <ipmatches> and
// <ipjailmatches> (and the failure counts that go with them) are b's own:
// pinjail does not merge earlier bans from the database as fail2ban does.
// <ip-host> is looked up only when cmd uses it.
func (r *Runner) banTags(ctx context.Context, b Ban, family, cmd string) map[string]string {
	id := b.ident()
	matches := strings.Join(b.Matches, "\n")
	failures := strconv.Itoa(b.Failures)
	at := b.Time
	if at.IsZero() {
		at = r.now()
	}
	restored := "0"
	if b.Restored {
		restored = "1"
	}
	tags := map[string]string{
		"ip":             id,
		"fid":            id,
		"family":         family,
		"ip-rev":         "",
		"ip-host":        "",
		"failures":       failures,
		"time":           epoch(at),
		"bantime":        banSeconds(b.BanTime),
		"bancount":       strconv.Itoa(b.Count),
		"matches":        matches,
		"ipmatches":      matches,
		"ipjailmatches":  matches,
		"ipfailures":     failures,
		"ipjailfailures": failures,
		"restored":       restored,
	}
	for k, v := range b.Fields {
		tags["F-"+strings.ToLower(k)] = v
	}
	if a, err := netip.ParseAddr(id); err == nil {
		a = a.Unmap()
		tags["ip-rev"] = shellcmd.ReverseName(a)
		if strings.Contains(cmd, "<ip-host>") {
			tags["ip-host"] = r.hostOf(ctx, a)
		}
	}
	return tags
}

// operationTags returns the dynamic tags of start, stop, flush, check and
// repair: those of an empty ban at the current time, as fail2ban gives
// them, with <family> the family being started or stopped.
func (r *Runner) operationTags(key string) map[string]string {
	return map[string]string{
		"ip": "", "fid": "", "family": key, "ip-rev": "", "ip-host": "",
		"failures": "0", "time": epoch(r.now()), "bantime": banSeconds(r.banTime), "bancount": "0",
		"matches": "", "ipmatches": "", "ipjailmatches": "", "ipfailures": "0", "ipjailfailures": "0",
		"restored": "0",
	}
}

// hostOf returns a's host name, "" when it has none.
func (r *Runner) hostOf(ctx context.Context, a netip.Addr) string {
	ctx, cancel := context.WithTimeout(ctx, hostLookupTimeout)
	defer cancel()
	names, err := r.res.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		r.log.Debug("no host name for <ip-host>", "addr", a, "err", err)
		return ""
	}
	return strings.TrimSuffix(names[0], ".")
}

// familyOf returns fail2ban's name of the address family of b: that of
// Addr, or of ID when Addr is invalid; "" for an ID that is not an
// address or prefix.
func familyOf(b Ban) string {
	a := b.Addr
	if !a.IsValid() {
		if p, err := netip.ParsePrefix(b.ID); err == nil {
			a = p.Addr()
		} else if a, err = netip.ParseAddr(b.ID); err != nil {
			return ""
		}
	}
	if a.Unmap().Is4() {
		return inet4
	}
	return inet6
}

// banSeconds formats a ban time as fail2ban's <bantime>: whole seconds,
// -1 for a permanent ban.
func banSeconds(d time.Duration) string {
	if d == config.Permanent {
		return "-1"
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// epoch formats t as fail2ban's <time>, a Python float of seconds since
// the epoch.
func epoch(t time.Time) string {
	s := strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Package enforce defines how pinjail turns ban decisions into firewall
// state, independently of the firewall used.
//
// An [Enforcer] owns one firewall object per jail: a rule that matches the
// jail's protocols and ports and drops (or rejects) packets whose source
// address is in the jail's banned sets. Bans and unbans are staged with
// [Enforcer.Add] and [Enforcer.Delete] and applied together by
// [Enforcer.Commit], so that a burst of bans costs one round trip to the
// kernel instead of one per address. [Enforcer.Reconcile] repairs the
// firewall after something outside pinjail changed it, using pinjail's own
// ban records as the truth.
//
// Two implementations exist: [Log], a dry run that only logs and records
// what it would do, and the native nftables backend in package
// internal/enforce/nft.
package enforce

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Spec describes the firewall rule of one jail, in fail2ban's terms.
type Spec struct {
	// Jail is the jail's name.
	Jail string
	// Ports lists the destination ports, in fail2ban's syntax: numbers,
	// service names and first:last ranges, separated by commas ("443",
	// "http,https", "1000:2000"). "" and "0:65535" mean all ports.
	Ports string
	// Protocols lists the IP protocols, each entry possibly a comma list
	// ("tcp", "tcp,udp"). Empty means tcp, fail2ban's default; "all" means
	// every protocol, and then Ports must cover all ports.
	Protocols []string
	// Block is what happens to a banned source's packets: "drop" (the
	// default when empty) or "reject" (TCP reset for tcp, ICMP port
	// unreachable otherwise).
	Block string
}

// Ban is one banned source prefix of a jail.
type Ban struct {
	Jail string
	// Prefix is the banned source: a /32 or /128 for a single address, or a
	// shorter prefix (for instance an IPv6 /64). IPv4-mapped IPv6 prefixes
	// are treated as IPv4.
	Prefix netip.Prefix
	// Timeout is the remaining ban time. Zero or negative means the ban is
	// permanent and carries no firewall timeout.
	Timeout time.Duration
}

// Enforcer applies jails' bans to a firewall. Implementations are safe for
// concurrent use.
type Enforcer interface {
	// Start creates or updates the jail's rule and banned sets. It is
	// idempotent: starting a running jail again replaces its rule with one
	// built from spec and keeps its bans.
	Start(ctx context.Context, spec Spec) error
	// Stop removes the jail's rule and sets, with all their bans, and
	// removes the firewall objects shared by all jails once no jail is left.
	// Changes still staged for the jail are discarded.
	Stop(ctx context.Context, jail string) error
	// Add stages a ban. Adding a prefix that is already banned replaces its
	// timeout.
	Add(b Ban)
	// Delete stages the removal of a ban.
	Delete(jail string, p netip.Prefix)
	// Commit applies every staged change. Later changes to the same jail
	// and prefix replace earlier ones. A change that fails is reported in a
	// *CommitError; every change not listed there was applied. Staged
	// changes are consumed either way.
	Commit(ctx context.Context) error
	// Flush removes every ban of the jail and discards its staged changes.
	Flush(ctx context.Context, jail string) error
	// Reconcile compares the firewall with want, which returns the bans
	// each started jail should have, and restores whatever was removed from
	// outside: objects shared by jails, a jail's rule or sets, or banned
	// elements. It reports how many bans it wrote back.
	Reconcile(ctx context.Context, want func(jail string) []Ban) (restored int, err error)
	// Close releases the enforcer's resources. The firewall keeps its
	// state, so that bans stay in force, and expire on time, while pinjail
	// is not running.
	Close() error
}

// Errors reported for single changes inside a *CommitError.
var (
	// ErrNotStarted reports a change for a jail that was not started.
	ErrNotStarted = errors.New("enforce: jail not started")
	// ErrInvalidPrefix reports a change whose prefix is not valid.
	ErrInvalidPrefix = errors.New("enforce: invalid prefix")
	// ErrOverlap reports a prefix ban that lies inside another prefix ban
	// of the same jail. Firewalls keep prefix bans as non-overlapping
	// intervals, and the wider ban already blocks every address.
	ErrOverlap = errors.New("enforce: prefix inside another banned prefix")
)

// Change is one staged modification of a jail's bans.
type Change struct {
	// Ban names the jail and prefix; Timeout is meaningful for additions
	// only.
	Ban
	// Delete is set for the removal of a ban.
	Delete bool
}

func (c Change) String() string {
	if c.Delete {
		return fmt.Sprintf("unban %s in jail %q", c.Prefix, c.Jail)
	}
	if c.Timeout <= 0 {
		return fmt.Sprintf("ban %s in jail %q permanently", c.Prefix, c.Jail)
	}
	return fmt.Sprintf("ban %s in jail %q for %s", c.Prefix, c.Jail, c.Timeout)
}

// FailedChange is a change that Commit could not apply, and why.
type FailedChange struct {
	Change
	Err error
}

// CommitError is returned by Commit when some staged changes were not
// applied. The changes it does not list were applied.
type CommitError struct {
	Failed []FailedChange
}

func (e *CommitError) Error() string {
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "enforce: %d changes not applied", len(e.Failed))
	for i, f := range e.Failed {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-shown)
			break
		}
		fmt.Fprintf(&b, "; %s: %v", f.Change, f.Err)
	}
	return b.String()
}

// Unwrap returns the distinct causes, so that errors.Is and errors.As see
// through a CommitError.
func (e *CommitError) Unwrap() []error {
	var errs []error
	for _, f := range e.Failed {
		if len(errs) == 0 || errs[len(errs)-1] != f.Err {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// NormalizePrefix returns p with its host bits cleared and IPv4-mapped IPv6
// turned into IPv4, the form firewalls store.
func NormalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("%w: %v", ErrInvalidPrefix, p)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%w: %v is wider than the IPv4-mapped range", ErrInvalidPrefix, p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

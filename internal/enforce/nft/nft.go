// Package nft enforces pinjail's bans with nftables, speaking netlink to
// the kernel directly (github.com/google/nftables) rather than running the
// nft tool.
//
// # Ruleset
//
// Everything lives in one table, inet pinjail unless [Options.Table] says
// otherwise. A jail sshd guarding tcp port 22 looks like this in
// `nft list ruleset`:
//
//	table inet pinjail {
//		set sshd-v4 {
//			type ipv4_addr
//			flags timeout
//			elements = { 192.0.2.7 timeout 10m expires 9m59s, 192.0.2.9 }
//		}
//		set sshd-v4net {
//			type ipv4_addr
//			flags interval,timeout
//			elements = { 198.51.100.0/24 timeout 1h expires 59m59s }
//		}
//		set sshd-v6 {
//			type ipv6_addr
//			flags timeout
//		}
//		set sshd-v6net {
//			type ipv6_addr
//			flags interval,timeout
//			elements = { 2001:db8:1::/64 timeout 1h expires 59m59s }
//		}
//		chain input {
//			type filter hook input priority filter - 1; policy accept;
//			tcp dport 22 ip saddr @sshd-v4 counter packets 0 bytes 0 drop comment "pinjail:sshd"
//			tcp dport 22 ip saddr @sshd-v4net counter packets 0 bytes 0 drop comment "pinjail:sshd"
//			tcp dport 22 ip6 saddr @sshd-v6 counter packets 0 bytes 0 drop comment "pinjail:sshd"
//			tcp dport 22 ip6 saddr @sshd-v6net counter packets 0 bytes 0 drop comment "pinjail:sshd"
//		}
//	}
//
// Each jail has four sets: single addresses in hash sets, one per family,
// and shorter prefixes (an IPv6 /64, say) in interval sets, which hold
// ranges but refuse overlapping ones. A set lookup costs about the same
// whatever the number of bans, so a jail costs its few rules however many
// addresses it bans. Every rule checks the family (meta nfproto, which
// nft leaves implicit in its listing) before loading an address, as an
// inet chain sees IPv4 and IPv6 packets alike. Protocols and ports follow
// fail2ban's port and protocol options ("meta l4proto" and "th dport",
// with anonymous sets for lists); a jail that rejects answers tcp with a
// reset and other protocols with ICMP port unreachable, in two rules. The
// base chain runs just before the usual filter chains, so a ban wins over
// their accept rules.
//
// Set names come from the jail name when it is a plain nft word, and are
// otherwise sanitized and suffixed with a hash of the name; the rule
// comment "pinjail:<set prefix>" ties rules to their jail.
//
// # Timeouts live in the kernel
//
// A ban's remaining time becomes its element's timeout, so the kernel
// lifts bans on time even while pinjail is stopped or restarting, and
// pinjail need not unban at expiry. Permanent bans carry no timeout. The
// kernel keeps elements across pinjail restarts: [Enforcer.Close] leaves
// the firewall as it is, and a restarted pinjail finds its sets again by
// name.
//
// Renewing a ban with a new timeout removes and re-adds the element in one
// batch: recent kernels (6.18 here) renew the timeout of an element added
// again, but older ones keep the old timeout. Removals use the kernel's destroy operation, which ignores missing
// elements, where the kernel has it (6.3 and later); older kernels fail a
// whole batch that deletes a missing element, so there pinjail deletes only
// elements it believes present and, when one had vanished anyway, looks the
// batch's deletions up and sends it again without the missing ones.
//
// # Batching
//
// Add and Delete only stage changes; Commit sends them in one netlink
// transaction, which the kernel applies entirely or not at all. A Commit
// larger than [Options.MaxBatchElements] is split into several
// transactions, each holding whole changes; if one fails, it and the ones
// after it are reported as not applied and the earlier ones stand. The
// library splits large element lists into several messages of one batch,
// and grows the socket buffers to fit the batch (with SO_SNDBUFFORCE as
// root), which is why no socket options are set here: setting any turns
// that off.
//
// # State and reconciliation
//
// The caller's ban records are the source of truth. Dumping a set gets
// slow as it grows (100,000 elements take over a second, 200,000 about
// six, nearly all in the kernel), so pinjail never reads sets back on the ban
// path: it keeps a compact belief of what each set holds, built from its
// own commits. [Enforcer.Reconcile] checks the table, chain, sets and
// rules with small dumps, recreates what is missing, and then checks
// elements. A set whose wanted bans number at most
// [Options.ReconcileDumpLimit] is dumped and compared exactly: missing
// elements are restored, timeouts the kernel would end at the wrong time
// are renewed, and elements nobody wants are removed. A larger set is
// probed with point lookups of [Options.ReconcileSamples] random wanted
// elements, and if any is missing all its wanted elements are added again,
// which costs about as much as the original ban burst and far less than a
// dump. Sampling finds mass loss, such as a flushed set, at once, but may
// miss a single deleted element of a huge set until a later round samples
// it. Call Reconcile after Start when pinjail starts, so that its beliefs
// cover bans from the previous run, and periodically or when a Commit
// fails with ENOENT (someone deleted the table or a set).
//
// # Namespaces
//
// [Options.NetNS] makes the enforcer work in another network namespace,
// which is how the tests run without touching the host's firewall.
package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/enforce"
)

// Options configures an Enforcer. The zero value works on table
// "inet pinjail" in the namespace of the process.
type Options struct {
	// Table is the name of the inet table pinjail owns; "" means "pinjail".
	Table string
	// NetNS is a file descriptor of the network namespace to work in; 0
	// means the namespace of the process. The enforcer does not close it.
	NetNS int
	// Logger receives warnings about repaired drift; nil discards.
	Logger *slog.Logger
	// Now is the clock used to track ban deadlines; nil means time.Now.
	Now func() time.Time
	// MaxBatchElements bounds the set elements one netlink transaction
	// adds or removes (an interval counts two). 0 means 100,000.
	MaxBatchElements int
	// ReconcileDumpLimit is the largest number of wanted elements for
	// which Reconcile compares a set exactly. 0 means 20,000.
	ReconcileDumpLimit int
	// ReconcileSamples is how many elements Reconcile looks up in a set
	// too large to compare exactly. 0 means 1,000.
	ReconcileSamples int
}

// Enforcer keeps jails' bans in nftables sets. It implements
// [enforce.Enforcer] and is safe for concurrent use.
type Enforcer struct {
	opts   Options
	logger *slog.Logger
	now    func() time.Time
	table  *nftables.Table
	chain  *nftables.Chain

	// stageMu guards pending, so that staging never waits for the kernel.
	stageMu sync.Mutex
	pending enforce.Pending

	mu sync.Mutex
	// reader is a lasting netlink connection for queries. Changes go
	// through a connection per batch, so that a batch that fails while
	// being built leaves nothing behind to be sent with the next one.
	reader *nftables.Conn
	jails  map[string]*jail
	// canDestroy records whether the kernel has the destroy operation
	// (probed once a set exists).
	probed, canDestroy bool
	lastSweep          time.Time
}

var _ enforce.Enforcer = (*Enforcer)(nil)

// New returns an Enforcer for the table and namespace in opts. It opens a
// netlink socket but changes nothing until Start.
func New(opts Options) (*Enforcer, error) {
	if opts.Table == "" {
		opts.Table = "pinjail"
	}
	if !isIdentifier(opts.Table) {
		return nil, fmt.Errorf("nft: table name %q: want letters, digits, '_', '.' and '-', starting with a letter", opts.Table)
	}
	if opts.MaxBatchElements <= 0 {
		opts.MaxBatchElements = 100_000
	}
	if opts.ReconcileDumpLimit <= 0 {
		opts.ReconcileDumpLimit = 20_000
	}
	if opts.ReconcileSamples <= 0 {
		opts.ReconcileSamples = 1_000
	}
	e := &Enforcer{
		opts:   opts,
		logger: opts.Logger,
		now:    opts.Now,
		jails:  make(map[string]*jail),
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.table = &nftables.Table{Name: opts.Table, Family: nftables.TableFamilyINet}
	accept := nftables.ChainPolicyAccept
	e.chain = &nftables.Chain{
		Name:     "input",
		Table:    e.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1),
		Policy:   &accept,
	}
	reader, err := nftables.New(append(e.connOptions(), nftables.AsLasting())...)
	if err != nil {
		return nil, fmt.Errorf("nft: open netlink socket: %w", err)
	}
	e.reader = reader
	return e, nil
}

func (e *Enforcer) connOptions() []nftables.ConnOption {
	if e.opts.NetNS == 0 {
		return nil
	}
	return []nftables.ConnOption{nftables.WithNetNSFd(e.opts.NetNS)}
}

// batch returns a connection that buffers one transaction.
func (e *Enforcer) batch() (*nftables.Conn, error) {
	c, err := nftables.New(e.connOptions()...)
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	return c, nil
}

// Close closes the netlink socket. The ruleset stays, so bans stay in
// force and expire on time while pinjail is not running.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reader.CloseLasting()
}

// Start creates the table, chain and the jail's sets when missing, and
// replaces the jail's rules with ones built from spec in the same batch.
// The jail's sets keep their elements.
func (e *Enforcer) Start(ctx context.Context, spec enforce.Spec) error {
	m, err := spec.Resolve(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jails[spec.Jail]
	if j == nil {
		base := setBase(spec.Jail)
		for _, other := range e.jails {
			if other.base == base {
				return fmt.Errorf("nft: jail %q: set names %s-* already used by jail %q", spec.Jail, base, other.name)
			}
		}
		j = newJail(spec.Jail, base)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	view, err := e.inspect()
	if err != nil {
		return fmt.Errorf("nft: start jail %q: %w", spec.Jail, err)
	}
	c, err := e.batch()
	if err != nil {
		return err
	}
	c.AddTable(e.table)
	c.AddChain(e.chain)
	for k := range numKinds {
		if err := c.AddSet(j.set(e.table, k), nil); err != nil {
			return fmt.Errorf("nft: start jail %q: %w", spec.Jail, err)
		}
	}
	for _, r := range view.rules[ruleComment(j.base)] {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("nft: start jail %q: %w", spec.Jail, err)
		}
	}
	old := j.match
	j.match = m
	if err := stageRules(c, e.chain, j); err != nil {
		j.match = old
		return fmt.Errorf("nft: start jail %q: %w", spec.Jail, err)
	}
	if err := c.Flush(); err != nil {
		j.match = old
		return fmt.Errorf("nft: start jail %q: %w", spec.Jail, err)
	}
	e.jails[spec.Jail] = j
	e.probeDestroy(j)
	return nil
}

// probeDestroy finds out once whether the kernel has the destroy operation
// for set elements, by destroying an element no ban can hold.
func (e *Enforcer) probeDestroy(j *jail) {
	if e.probed {
		return
	}
	e.probed = true
	c, err := e.batch()
	if err != nil {
		return
	}
	unspecified := []nftables.SetElement{{Key: netip.IPv4Unspecified().AsSlice()}}
	if err := c.SetDestroyElements(j.set(e.table, hosts4), unspecified); err != nil {
		return
	}
	err = c.Flush()
	e.canDestroy = err == nil
	if err != nil {
		e.logger.Info("nftables: the kernel cannot destroy set elements; deleting only elements believed present", "err", err)
	}
}

// Stop removes the jail's rules and sets in one batch, or the whole table
// when the jail's sets are the last ones in it. It also cleans up after a
// jail that this Enforcer did not start, such as one left by an earlier
// run.
func (e *Enforcer) Stop(ctx context.Context, jail string) error {
	e.stageMu.Lock()
	e.pending.DropJail(jail)
	e.stageMu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jails[jail]
	if j == nil {
		j = newJail(jail, setBase(jail))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	view, err := e.inspect()
	if err != nil {
		return fmt.Errorf("nft: stop jail %q: %w", jail, err)
	}
	delete(e.jails, jail)
	if !view.table {
		return nil
	}
	c, err := e.batch()
	if err != nil {
		return err
	}
	mine := make(map[string]bool)
	for k := range numKinds {
		mine[j.setName(k)] = true
	}
	others := false
	for name := range view.sets {
		others = others || !mine[name]
	}
	if !others {
		c.DelTable(e.table)
	} else {
		for _, r := range view.rules[ruleComment(j.base)] {
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("nft: stop jail %q: %w", jail, err)
			}
		}
		for k := range numKinds {
			if view.sets[j.setName(k)] {
				c.DelSet(j.set(e.table, k))
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: stop jail %q: %w", jail, err)
	}
	return nil
}

// Add stages a ban.
func (e *Enforcer) Add(b enforce.Ban) {
	e.stageMu.Lock()
	defer e.stageMu.Unlock()
	e.pending.Add(b)
}

// Delete stages an unban.
func (e *Enforcer) Delete(jail string, p netip.Prefix) {
	e.stageMu.Lock()
	defer e.stageMu.Unlock()
	e.pending.Delete(jail, p)
}

// Flush empties the jail's four sets in one batch and discards its staged
// changes.
func (e *Enforcer) Flush(ctx context.Context, jail string) error {
	e.stageMu.Lock()
	e.pending.DropJail(jail)
	e.stageMu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.jails[jail]
	if j == nil {
		return fmt.Errorf("nft: flush jail %q: %w", jail, enforce.ErrNotStarted)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := e.batch()
	if err != nil {
		return err
	}
	for k := range numKinds {
		c.FlushSet(j.set(e.table, k))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: flush jail %q: %w", jail, err)
	}
	j.reset(make(map[netip.Addr]int64), make(map[netip.Prefix]int64))
	return nil
}

// view is what the kernel holds of pinjail's table, without elements.
type view struct {
	table, chain bool
	// sets holds the names of the table's named sets.
	sets map[string]bool
	// rules holds the chain's rules by comment.
	rules map[string][]*nftables.Rule
}

// inspect reads the table, chain, sets and rules; a missing object is
// reported in the view, not as an error.
func (e *Enforcer) inspect() (view, error) {
	v := view{sets: make(map[string]bool), rules: make(map[string][]*nftables.Rule)}
	if _, err := e.reader.ListTableOfFamily(e.table.Name, e.table.Family); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return v, nil
		}
		return v, fmt.Errorf("read table %s: %w", e.table.Name, err)
	}
	v.table = true
	sets, err := e.reader.GetSets(e.table)
	if err != nil {
		return v, fmt.Errorf("read sets of table %s: %w", e.table.Name, err)
	}
	for _, s := range sets {
		if !s.Anonymous {
			v.sets[s.Name] = true
		}
	}
	if _, err := e.reader.ListChain(e.table, e.chain.Name); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return v, nil
		}
		return v, fmt.Errorf("read chain %s: %w", e.chain.Name, err)
	}
	v.chain = true
	rules, err := e.reader.GetRules(e.table, e.chain)
	if err != nil {
		return v, fmt.Errorf("read rules of chain %s: %w", e.chain.Name, err)
	}
	for _, r := range rules {
		c := commentOf(r)
		v.rules[c] = append(v.rules[c], r)
	}
	return v, nil
}

// sortedJails returns the started jails in name order, for deterministic
// batches and logs.
func (e *Enforcer) sortedJails() []*jail {
	js := make([]*jail, 0, len(e.jails))
	for _, j := range e.jails {
		js = append(js, j)
	}
	slices.SortFunc(js, func(a, b *jail) int { return strings.Compare(a.name, b.name) })
	return js
}

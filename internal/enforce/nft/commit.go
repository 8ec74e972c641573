package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/enforce"
)

// elemOp adds or removes one ban's elements in one of a jail's sets. Set
// elements are only built when the batch is, in one allocation per set:
// at 100,000 bans per Commit, per-ban slices cost more than the kernel.
type elemOp struct {
	j       *jail
	kind    setKind
	prefix  netip.Prefix
	timeout time.Duration // additions only
	// raw holds elements as the kernel listed them, to remove a range
	// that is not a prefix; prefix is then unset.
	raw []nftables.SetElement
}

func opOf(j *jail, p netip.Prefix, timeout time.Duration) elemOp {
	return elemOp{j: j, kind: kindOf(p), prefix: p, timeout: timeout}
}

// size returns the number of set elements of op.
func (op elemOp) size() int {
	switch {
	case op.raw != nil:
		return len(op.raw)
	case op.prefix.IsSingleIP() || !lastAddr(op.prefix).Next().IsValid():
		return 1
	}
	return 2
}

// txn is one netlink transaction. It holds whole changes, so that each
// change is applied entirely or not at all.
type txn struct {
	changes []enforce.Change
	removes []elemOp
	adds    []elemOp
	// removed keeps removals unique: two changes of one batch may remove
	// the same element (an unban, and a wider ban replacing it), and the
	// second removal would fail.
	removed map[elemKey]bool
	undos   []undo
	size    int
	// restores counts the bans a Reconcile transaction writes back.
	restores int
}

type elemKey struct {
	j *jail
	p netip.Prefix
}

func (t *txn) remove(j *jail, p netip.Prefix) {
	k := elemKey{j, p}
	if t.removed[k] {
		return
	}
	if t.removed == nil {
		t.removed = make(map[elemKey]bool)
	}
	t.removed[k] = true
	t.push(true, opOf(j, p, 0))
	t.undos = append(t.undos, j.forget(p))
}

func (t *txn) add(j *jail, p netip.Prefix, timeout time.Duration, deadline int64) {
	t.push(false, opOf(j, p, timeout))
	t.undos = append(t.undos, j.store(p, deadline))
}

// push adds op to t without touching beliefs.
func (t *txn) push(remove bool, op elemOp) {
	if remove {
		t.removes = append(t.removes, op)
	} else {
		t.adds = append(t.adds, op)
	}
	t.size += op.size()
}

// Commit applies the staged changes, in as few transactions as
// Options.MaxBatchElements allows. Changes that cannot be applied (unknown
// jail, invalid or overlapping prefix, or a transaction the kernel refused)
// are reported in an *enforce.CommitError; the others are applied. When
// the kernel lost the table or a set, the error wraps unix.ENOENT and
// Reconcile repairs it.
func (e *Enforcer) Commit(ctx context.Context) error {
	e.stageMu.Lock()
	changes := e.pending.Take()
	e.stageMu.Unlock()
	if len(changes) == 0 {
		return nil
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.sweep(now)
	nowNS := now.UnixNano()

	var failed []enforce.FailedChange
	newTxn := func() *txn {
		n := min(len(changes), e.opts.MaxBatchElements)
		return &txn{changes: make([]enforce.Change, 0, n), adds: make([]elemOp, 0, n), undos: make([]undo, 0, n)}
	}
	txns := []*txn{newTxn()}
	for _, c := range changes {
		t := txns[len(txns)-1]
		if t.size >= e.opts.MaxBatchElements {
			t = newTxn()
			txns = append(txns, t)
		}
		if err := e.plan(t, c, nowNS); err != nil {
			failed = append(failed, enforce.FailedChange{Change: c, Err: err})
			continue
		}
		t.changes = append(t.changes, c)
	}

	for i, t := range txns {
		err := ctx.Err()
		if err == nil {
			err = e.send(t)
		}
		if err == nil {
			continue
		}
		// Forget beliefs from this transaction on, newest first, so that
		// a prefix changed twice gets its oldest value back.
		for k := len(txns) - 1; k >= i; k-- {
			for u := len(txns[k].undos) - 1; u >= 0; u-- {
				txns[k].undos[u].apply()
			}
		}
		for k, t := range txns[i:] {
			cause := err
			if k > 0 {
				cause = fmt.Errorf("not sent after an earlier batch failed: %w", err)
			}
			for _, c := range t.changes {
				failed = append(failed, enforce.FailedChange{Change: c, Err: cause})
			}
		}
		break
	}
	if failed != nil {
		return &enforce.CommitError{Failed: failed}
	}
	return nil
}

// plan adds the element operations of one change to t and updates the
// beliefs accordingly. A change it refuses leaves t and the beliefs alone.
func (e *Enforcer) plan(t *txn, c enforce.Change, now int64) error {
	j := e.jails[c.Jail]
	if j == nil {
		return enforce.ErrNotStarted
	}
	p, err := enforce.NormalizePrefix(c.Prefix)
	if err != nil {
		return err
	}
	if c.Delete {
		e.planDelete(t, j, p, now)
		return nil
	}
	var deadline int64
	if c.Timeout > 0 {
		deadline = now + int64(c.Timeout)
	}
	switch {
	case j.present(p, now):
		// Renewal: only a fresh element takes the new timeout everywhere.
		t.remove(j, p)
	case !p.IsSingleIP():
		if q, qDeadline, ok := j.covering(p, now); ok {
			if qDeadline == 0 || qDeadline > now+int64(expiryGrace) {
				return fmt.Errorf("%w %s", enforce.ErrOverlap, q)
			}
			// q is expiring anyway; remove it now, as the kernel might
			// still hold it when the batch arrives.
			t.remove(j, q)
		}
		for _, q := range j.covered(p, now) {
			e.logger.Info("nftables: prefix ban replaces narrower ones inside it", "jail", j.name, "prefix", p, "replaced", q)
			t.remove(j, q)
		}
	}
	t.add(j, p, c.Timeout, deadline)
	return nil
}

// planDelete removes p when it may be in the kernel. Without destroy, a
// batch that deletes a missing element fails as a whole, so elements
// believed gone, or about to expire, are left to the kernel. Interval
// elements are removed only when believed present with exactly this
// prefix: removal works on the start and end keys, and a different
// interval could start at the same address.
func (e *Enforcer) planDelete(t *txn, j *jail, p netip.Prefix, now int64) {
	deadline, ok := j.lookup(p)
	switch {
	case ok && (deadline == 0 || e.canDestroy || deadline > now+int64(expiryGrace)):
		t.remove(j, p)
	case ok:
		t.undos = append(t.undos, j.forget(p))
	case e.canDestroy && p.IsSingleIP():
		// Possibly added by an earlier run that Reconcile has not told
		// us about; destroying an absent element is harmless.
		t.remove(j, p)
	}
}

// send applies t in one transaction. On kernels without destroy, a batch
// that failed because an element to delete had gone (expired a moment
// early, or removed by hand) is retried once without the missing ones.
func (e *Enforcer) send(t *txn) error {
	if len(t.removes) == 0 && len(t.adds) == 0 {
		return nil
	}
	err := e.flush(t)
	if err == nil || e.canDestroy || !errors.Is(err, unix.ENOENT) || len(t.removes) == 0 {
		return err
	}
	kept := t.removes[:0]
	for _, op := range t.removes {
		ok, lerr := e.holds(op)
		if lerr != nil {
			return fmt.Errorf("%w (and looking up deletions: %v)", err, lerr)
		}
		if ok {
			kept = append(kept, op)
		}
	}
	if len(kept) == len(t.removes) {
		return err
	}
	t.removes = kept
	return e.flush(t)
}

// flush sends t's removals, then its additions, grouped by set.
func (e *Enforcer) flush(t *txn) error {
	c, err := e.batch()
	if err != nil {
		return err
	}
	for _, g := range groupBySet(e.table, t.removes) {
		if e.canDestroy {
			err = c.SetDestroyElements(g.set, g.elems)
		} else {
			err = c.SetDeleteElements(g.set, g.elems)
		}
		if err != nil {
			return fmt.Errorf("nft: set %s: %w", g.set.Name, err)
		}
	}
	for _, g := range groupBySet(e.table, t.adds) {
		if err := c.SetAddElements(g.set, g.elems); err != nil {
			return fmt.Errorf("nft: set %s: %w", g.set.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	return nil
}

// holds reports whether the kernel has op's first element: the address of
// a host, or the start of an interval (a lookup finds the interval around
// an address, so the start is compared).
func (e *Enforcer) holds(op elemOp) (bool, error) {
	first := op.raw
	if first == nil {
		first = elements(op.prefix, 0)
	}
	found, err := e.reader.FindSetElements(op.j.set(e.table, op.kind), first[:1])
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, el := range found {
		if !el.IntervalEnd && bytes.Equal(el.Key, first[0].Key) {
			return true, nil
		}
	}
	return false, nil
}

type setGroup struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

// groupBySet builds one element list per set, keeping the operations
// order within each set.
func groupBySet(t *nftables.Table, ops []elemOp) []setGroup {
	type setKey struct {
		j    *jail
		kind setKind
	}
	index := make(map[setKey]int)
	var groups []setGroup
	var sizes []int
	for _, op := range ops {
		k := setKey{op.j, op.kind}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, setGroup{set: op.j.set(t, op.kind)})
			sizes = append(sizes, 0)
		}
		sizes[i] += op.size()
	}
	builders := make([]elemBuilder, len(groups))
	for i := range builders {
		builders[i] = newElemBuilder(sizes[i], groups[i].set.KeyType.Bytes)
	}
	for _, op := range ops {
		b := &builders[index[setKey{op.j, op.kind}]]
		if op.raw != nil {
			b.elems = append(b.elems, op.raw...)
		} else {
			b.add(op.prefix, op.timeout)
		}
	}
	for i := range groups {
		groups[i].elems = builders[i].elems
	}
	return groups
}

// sweep forgets expired elements, at most once a minute: the beliefs
// would otherwise grow with every ban the kernel expired by itself.
func (e *Enforcer) sweep(now time.Time) {
	if now.Sub(e.lastSweep) < time.Minute {
		return
	}
	e.lastSweep = now
	for _, j := range e.jails {
		j.sweep(now.UnixNano())
	}
}

package nft

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/enforce"
)

// renewTolerance is how far a kernel timeout may be from the wanted
// remaining time before Reconcile renews it. The caller computed the
// remaining times a moment before the dump, and a ban ending a few seconds
// off does not matter.
const renewTolerance = 5 * time.Second

// lookupChunk bounds the elements of one lookup request. The kernel stops
// at the first missing element, so a chunk answers "all there" or "not".
const lookupChunk = 128

// repair is what Reconcile does for one ban: removals and additions that
// go in the same transaction.
type repair struct {
	removes, adds []elemOp
}

// wantedElem is a ban Reconcile wants in the kernel.
type wantedElem struct {
	prefix   netip.Prefix
	timeout  time.Duration
	deadline int64
}

// Reconcile restores what was removed from outside. It recreates a missing
// table, chain or set and a jail's rules when they are not all there, then
// checks each set's elements against want as the package documentation
// describes, and finally takes want as its beliefs. It returns the number
// of bans added back or renewed.
func (e *Enforcer) Reconcile(ctx context.Context, want func(jail string) []enforce.Ban) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.jails) == 0 {
		return 0, nil
	}
	jails := e.sortedJails()
	fresh, err := e.repairStructure(jails)
	if err != nil {
		return 0, fmt.Errorf("nft: reconcile: %w", err)
	}

	now := e.now()
	nowNS := now.UnixNano()
	var txns []*txn
	for _, j := range jails {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hosts, nets, byKind := e.wanted(j, want(j.name), nowNS)
		for k := range numKinds {
			var units []repair
			var err error
			switch wk := byKind[k]; {
			case fresh[j][k]:
				units = addAll(j, k, wk)
			case len(wk) <= e.opts.ReconcileDumpLimit:
				units, err = e.diff(j, k, wk, nowNS)
			default:
				units, err = e.sample(j, k, wk)
			}
			if err != nil {
				return 0, fmt.Errorf("nft: reconcile jail %q set %s: %w", j.name, j.setName(k), err)
			}
			for _, u := range units {
				if len(txns) == 0 || txns[len(txns)-1].size >= e.opts.MaxBatchElements {
					txns = append(txns, &txn{})
				}
				t := txns[len(txns)-1]
				for _, op := range u.removes {
					t.push(true, op)
				}
				for _, op := range u.adds {
					t.push(false, op)
				}
				if len(u.adds) > 0 {
					t.restores++
				}
			}
		}
		j.reset(hosts, nets)
	}

	restored := 0
	for _, t := range txns {
		if err := e.send(t); err != nil {
			return restored, fmt.Errorf("nft: reconcile: %w", err)
		}
		restored += t.restores
	}
	if restored > 0 {
		e.logger.Warn("nftables: restored bans removed or changed from outside", "table", e.table.Name, "restored", restored)
	}
	return restored, nil
}

// repairStructure recreates a missing table, chain or set, and rebuilds the
// rules of jails whose rule count is off, in one batch. It returns, per
// jail, which sets it created.
func (e *Enforcer) repairStructure(jails []*jail) (map[*jail][numKinds]bool, error) {
	v, err := e.inspect()
	if err != nil {
		return nil, err
	}
	c, err := e.batch()
	if err != nil {
		return nil, err
	}
	fresh := make(map[*jail][numKinds]bool)
	changed := false
	if !v.table || !v.chain {
		e.logger.Warn("nftables: table or chain missing; recreating", "table", e.table.Name, "chain", e.chain.Name, "table_found", v.table)
		c.AddTable(e.table)
		c.AddChain(e.chain)
		changed = true
	}
	for _, j := range jails {
		var created [numKinds]bool
		var missing []string
		for k := range numKinds {
			if v.sets[j.setName(k)] {
				continue
			}
			if err := c.AddSet(j.set(e.table, k), nil); err != nil {
				return nil, err
			}
			created[k] = true
			missing = append(missing, j.setName(k))
		}
		fresh[j] = created
		rules := v.rules[ruleComment(j.base)]
		if len(missing) == 0 && len(rules) == rulesPerJail(j.match) {
			continue
		}
		if v.table && len(missing) > 0 {
			e.logger.Warn("nftables: sets missing; recreating", "jail", j.name, "sets", missing)
		}
		if v.chain {
			e.logger.Warn("nftables: rules missing or extra; rebuilding", "jail", j.name, "found", len(rules), "want", rulesPerJail(j.match))
		}
		for _, r := range rules {
			if err := c.DelRule(r); err != nil {
				return nil, err
			}
		}
		if err := stageRules(c, e.chain, j); err != nil {
			return nil, err
		}
		changed = true
	}
	if !changed {
		return fresh, nil
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	return fresh, nil
}

// wanted normalizes a jail's wanted bans into beliefs and per-set lists.
// Of overlapping prefix bans only the widest is kept, as interval sets
// cannot hold both and the widest blocks every address anyway.
func (e *Enforcer) wanted(j *jail, bans []enforce.Ban, now int64) (map[netip.Addr]int64, map[netip.Prefix]int64, [numKinds][]wantedElem) {
	hosts := make(map[netip.Addr]int64)
	nets := make(map[netip.Prefix]int64)
	byPrefix := make(map[netip.Prefix]wantedElem)
	for _, b := range bans {
		p, err := enforce.NormalizePrefix(b.Prefix)
		if err != nil {
			e.logger.Warn("nftables: reconcile: skipping wanted ban", "jail", j.name, "err", err)
			continue
		}
		w := wantedElem{prefix: p, timeout: b.Timeout}
		if b.Timeout > 0 {
			w.deadline = now + int64(b.Timeout)
		}
		if old, ok := byPrefix[p]; ok && outlasts(old.deadline, w.deadline) {
			continue
		}
		byPrefix[p] = w
	}
	var prefixes []wantedElem
	var byKind [numKinds][]wantedElem
	for p, w := range byPrefix {
		if p.IsSingleIP() {
			hosts[p.Addr()] = w.deadline
			byKind[kindOf(p)] = append(byKind[kindOf(p)], w)
		} else {
			prefixes = append(prefixes, w)
		}
	}
	slices.SortFunc(prefixes, func(a, b wantedElem) int { return cmp.Compare(a.prefix.Bits(), b.prefix.Bits()) })
	skipped := 0
	for _, w := range prefixes {
		if coveredBy(nets, w.prefix) {
			skipped++
			continue
		}
		nets[w.prefix] = w.deadline
		byKind[kindOf(w.prefix)] = append(byKind[kindOf(w.prefix)], w)
	}
	if skipped > 0 {
		e.logger.Info("nftables: reconcile: prefix bans inside wider ones not installed", "jail", j.name, "count", skipped)
	}
	return hosts, nets, byKind
}

// outlasts reports whether a ban ending at deadline a lasts at least as
// long as one ending at b (0 is forever).
func outlasts(a, b int64) bool { return a == 0 || (b != 0 && a >= b) }

func coveredBy(nets map[netip.Prefix]int64, p netip.Prefix) bool {
	for bits := p.Bits() - 1; bits >= 0; bits-- {
		if _, ok := nets[netip.PrefixFrom(p.Addr(), bits).Masked()]; ok {
			return true
		}
	}
	return false
}

// addAll adds every wanted element, for a set just created or found
// incomplete.
func addAll(j *jail, k setKind, wk []wantedElem) []repair {
	units := make([]repair, len(wk))
	for i, w := range wk {
		units[i].adds = []elemOp{opOf(j, w.prefix, w.timeout)}
	}
	return units
}

// kernelElem is a ban as the kernel holds it.
type kernelElem struct {
	timeout time.Duration // 0: permanent
	expires time.Duration
}

// diff dumps the set and returns the operations that make it hold exactly
// wk with the wanted timeouts.
func (e *Enforcer) diff(j *jail, k setKind, wk []wantedElem, now int64) ([]repair, error) {
	dump, err := e.reader.GetSetElements(j.set(e.table, k))
	if err != nil {
		return nil, err
	}
	have, foreign := parseElements(k, dump)
	var units []repair
	for _, w := range wk {
		add := []elemOp{opOf(j, w.prefix, w.timeout)}
		el, ok := have[w.prefix]
		delete(have, w.prefix)
		switch {
		case !ok:
			units = append(units, repair{adds: add})
		case !timeoutMatches(el, w, now):
			units = append(units, repair{removes: []elemOp{opOf(j, w.prefix, 0)}, adds: add})
		}
	}
	extra := len(foreign)
	for p := range have {
		units = append(units, repair{removes: []elemOp{opOf(j, p, 0)}})
		extra++
	}
	for _, raw := range foreign {
		units = append(units, repair{removes: []elemOp{{j: j, kind: k, raw: raw}}})
	}
	if extra > 0 {
		e.logger.Warn("nftables: removing bans nobody wants", "jail", j.name, "set", j.setName(k), "count", extra)
	}
	return units, nil
}

// timeoutMatches reports whether the kernel element ends when w does,
// give or take renewTolerance.
func timeoutMatches(el kernelElem, w wantedElem, now int64) bool {
	if w.deadline == 0 || el.timeout == 0 {
		return w.deadline == 0 && el.timeout == 0
	}
	left := time.Duration(w.deadline - now)
	return (el.expires - left).Abs() <= renewTolerance
}

// parseElements turns a dump into bans by prefix. Interval sets list
// start and end elements; ranges that are not a prefix (not written by
// pinjail) come back as raw element lists.
func parseElements(k setKind, dump []nftables.SetElement) (map[netip.Prefix]kernelElem, [][]nftables.SetElement) {
	have := make(map[netip.Prefix]kernelElem, len(dump))
	if !k.interval() {
		for _, el := range dump {
			a, ok := netip.AddrFromSlice(el.Key)
			if !ok {
				continue
			}
			have[netip.PrefixFrom(a, a.BitLen())] = kernelElem{timeout: el.Timeout, expires: el.Expires}
		}
		return have, nil
	}
	type point struct {
		addr netip.Addr
		el   nftables.SetElement
	}
	points := make([]point, 0, len(dump))
	for _, el := range dump {
		if a, ok := netip.AddrFromSlice(el.Key); ok {
			points = append(points, point{a, el})
		}
	}
	// An interval's end may equal the next one's start; the end sorts
	// first so that each start is followed by its own end.
	slices.SortFunc(points, func(a, b point) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		switch {
		case a.el.IntervalEnd == b.el.IntervalEnd:
			return 0
		case a.el.IntervalEnd:
			return -1
		}
		return 1
	})
	var foreign [][]nftables.SetElement
	for i := 0; i < len(points); i++ {
		start := points[i]
		if start.el.IntervalEnd {
			foreign = append(foreign, []nftables.SetElement{{Key: start.el.Key, IntervalEnd: true}})
			continue
		}
		elems := []nftables.SetElement{{Key: start.el.Key}}
		var end netip.Addr
		if i+1 < len(points) && points[i+1].el.IntervalEnd {
			i++
			end = points[i].addr
			elems = append(elems, nftables.SetElement{Key: points[i].el.Key, IntervalEnd: true})
		}
		p, ok := prefixOf(start.addr, end)
		if !ok {
			foreign = append(foreign, elems)
			continue
		}
		have[p] = kernelElem{timeout: start.el.Timeout, expires: start.el.Expires}
	}
	return have, foreign
}

// prefixOf returns the prefix covering exactly [start, end), where an
// invalid end means "to the top of the address space".
func prefixOf(start, end netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= start.BitLen(); bits++ {
		p := netip.PrefixFrom(start, bits)
		if p.Masked().Addr() != start {
			continue
		}
		if next := lastAddr(p).Next(); next == end || (!end.IsValid() && !next.IsValid()) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// sample looks up random wanted elements and, if one is missing, returns
// additions of every wanted element of the set: re-adding elements that
// are there is harmless, and far cheaper than finding them in a dump.
func (e *Enforcer) sample(j *jail, k setKind, wk []wantedElem) ([]repair, error) {
	var picked []wantedElem
	for i := range sampleIndexes(len(wk), e.opts.ReconcileSamples) {
		picked = append(picked, wk[i])
	}
	set := j.set(e.table, k)
	for chunk := range slices.Chunk(picked, lookupChunk) {
		keys := make([]nftables.SetElement, len(chunk))
		for i, w := range chunk {
			keys[i] = nftables.SetElement{Key: w.prefix.Addr().AsSlice()}
		}
		found, err := e.reader.FindSetElements(set, keys)
		if errors.Is(err, unix.ENOENT) {
			e.logger.Warn("nftables: bans missing from a large set; adding all again", "jail", j.name, "set", set.Name, "count", len(wk))
			return addAll(j, k, wk), nil
		}
		if err != nil {
			return nil, err
		}
		if !startsMatch(chunk, found) {
			e.logger.Warn("nftables: a large set holds intervals pinjail did not add; adding all bans again", "jail", j.name, "set", set.Name, "count", len(wk))
			return addAll(j, k, wk), nil
		}
	}
	return nil, nil
}

// sampleIndexes returns k distinct random indexes below n, or all of them
// when k >= n (Floyd's algorithm: O(k) time and memory, whatever n).
func sampleIndexes(n, k int) map[int]bool {
	chosen := make(map[int]bool, min(n, k))
	if k >= n {
		for i := range n {
			chosen[i] = true
		}
		return chosen
	}
	for j := n - k; j < n; j++ {
		t := rand.N(j + 1)
		if chosen[t] {
			t = j
		}
		chosen[t] = true
	}
	return chosen
}

// startsMatch reports whether the lookup found each wanted element itself,
// rather than some other interval around its address.
func startsMatch(chunk []wantedElem, found []nftables.SetElement) bool {
	starts := make(map[netip.Addr]bool, len(found))
	for _, el := range found {
		if a, ok := netip.AddrFromSlice(el.Key); ok && !el.IntervalEnd {
			starts[a] = true
		}
	}
	for _, w := range chunk {
		if !starts[w.prefix.Addr()] {
			return false
		}
	}
	return true
}

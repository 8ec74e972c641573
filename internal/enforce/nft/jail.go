package nft

import (
	"net/netip"
	"time"

	"github.com/google/nftables"

	"github.com/pinjail/pinjail/internal/enforce"
)

// setKind names one of a jail's four sets.
type setKind int

const (
	hosts4 setKind = iota // ipv4_addr, flags timeout
	nets4                 // ipv4_addr, flags interval,timeout
	hosts6                // ipv6_addr, flags timeout
	nets6                 // ipv6_addr, flags interval,timeout
	numKinds
)

var kindSuffix = [numKinds]string{"-v4", "-v4net", "-v6", "-v6net"}

func (k setKind) ipv6() bool     { return k == hosts6 || k == nets6 }
func (k setKind) interval() bool { return k == nets4 || k == nets6 }

// kindOf returns the set that holds the normalized prefix p.
func kindOf(p netip.Prefix) setKind {
	switch {
	case p.Addr().Is4() && p.IsSingleIP():
		return hosts4
	case p.Addr().Is4():
		return nets4
	case p.IsSingleIP():
		return hosts6
	default:
		return nets6
	}
}

// expiryGrace is how long pinjail assumes an element may outlive the
// deadline it computed: the kernel starts its timer when the batch is
// applied, a little after pinjail read its clock, and collects expired
// elements lazily.
const expiryGrace = time.Second

// jail is a started jail and what pinjail believes its sets hold.
//
// The belief decides three things the kernel cannot answer cheaply in a
// batch: whether an add must remove the element first so that its new
// timeout applies, which elements exist to be deleted (deleting a missing
// one fails the whole batch on kernels without destroy), and which prefix
// bans overlap (interval sets refuse overlapping elements). It is built
// from committed changes and replaced by Reconcile from the caller's
// records. Deadlines are Unix nanoseconds, 0 for permanent.
type jail struct {
	name  string
	base  string
	match enforce.Match

	hosts map[netip.Addr]int64
	nets  map[netip.Prefix]int64
	// netBits counts prefix bans by family (0 IPv4, 1 IPv6) and length, so
	// that overlap checks only look at lengths in use.
	netBits [2][129]int
}

func newJail(name, base string) *jail {
	return &jail{name: name, base: base, hosts: make(map[netip.Addr]int64), nets: make(map[netip.Prefix]int64)}
}

func (j *jail) setName(k setKind) string { return j.base + kindSuffix[k] }

// set returns a description of one of j's sets. It is built afresh for
// every batch, because the library numbers sets per batch.
func (j *jail) set(t *nftables.Table, k setKind) *nftables.Set {
	key := nftables.TypeIPAddr
	if k.ipv6() {
		key = nftables.TypeIP6Addr
	}
	return &nftables.Set{Table: t, Name: j.setName(k), KeyType: key, HasTimeout: true, Interval: k.interval()}
}

// lookup returns the deadline of p and whether j holds it.
func (j *jail) lookup(p netip.Prefix) (int64, bool) {
	if p.IsSingleIP() {
		d, ok := j.hosts[p.Addr()]
		return d, ok
	}
	d, ok := j.nets[p]
	return d, ok
}

// present reports whether the kernel may still hold p at time now.
func (j *jail) present(p netip.Prefix, now int64) bool {
	d, ok := j.lookup(p)
	return ok && alive(d, now)
}

func alive(deadline, now int64) bool {
	return deadline == 0 || now < deadline+int64(expiryGrace)
}

// undo restores one belief changed during a Commit whose batch failed.
type undo struct {
	j        *jail
	p        netip.Prefix
	deadline int64
	had      bool
}

func (u undo) apply() {
	if u.had {
		u.j.store(u.p, u.deadline)
	} else {
		u.j.forget(u.p)
	}
}

func (j *jail) store(p netip.Prefix, deadline int64) undo {
	old, had := j.lookup(p)
	if p.IsSingleIP() {
		j.hosts[p.Addr()] = deadline
	} else {
		if !had {
			j.netBits[family(p)][p.Bits()]++
		}
		j.nets[p] = deadline
	}
	return undo{j, p, old, had}
}

func (j *jail) forget(p netip.Prefix) undo {
	old, had := j.lookup(p)
	if p.IsSingleIP() {
		delete(j.hosts, p.Addr())
	} else if had {
		j.netBits[family(p)][p.Bits()]--
		delete(j.nets, p)
	}
	return undo{j, p, old, had}
}

// reset replaces every belief.
func (j *jail) reset(hosts map[netip.Addr]int64, nets map[netip.Prefix]int64) {
	j.hosts, j.nets = hosts, nets
	j.netBits = [2][129]int{}
	for p := range nets {
		j.netBits[family(p)][p.Bits()]++
	}
}

// sweep forgets elements the kernel has expired.
func (j *jail) sweep(now int64) {
	for a, d := range j.hosts {
		if !alive(d, now) {
			delete(j.hosts, a)
		}
	}
	for p, d := range j.nets {
		if !alive(d, now) {
			j.forget(p)
		}
	}
}

// covering returns the prefix ban of j that contains p, if any.
func (j *jail) covering(p netip.Prefix, now int64) (netip.Prefix, int64, bool) {
	f := family(p)
	for bits := p.Bits() - 1; bits >= 0; bits-- {
		if j.netBits[f][bits] == 0 {
			continue
		}
		q := netip.PrefixFrom(p.Addr(), bits).Masked()
		if d, ok := j.nets[q]; ok && alive(d, now) {
			return q, d, true
		}
	}
	return netip.Prefix{}, 0, false
}

// covered returns the prefix bans of j that lie inside p. It scans all of
// j's prefix bans, but only when some are longer than p: typical jails ban
// prefixes of one length (an IPv6 /64), and then it costs nothing.
func (j *jail) covered(p netip.Prefix, now int64) []netip.Prefix {
	f := family(p)
	longer := false
	for bits := p.Bits() + 1; bits < len(j.netBits[f]); bits++ {
		if j.netBits[f][bits] != 0 {
			longer = true
			break
		}
	}
	if !longer {
		return nil
	}
	var inside []netip.Prefix
	for q, d := range j.nets {
		if q.Bits() > p.Bits() && p.Contains(q.Addr()) && alive(d, now) {
			inside = append(inside, q)
		}
	}
	return inside
}

func family(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 1
	}
	return 0
}

// elements returns the set elements of the normalized prefix p.
func elements(p netip.Prefix, timeout time.Duration) []nftables.SetElement {
	b := newElemBuilder(2, uint32(p.Addr().BitLen()/8))
	b.add(p, timeout)
	return b.elems
}

// elemBuilder appends set elements, with their keys carved from one
// buffer.
type elemBuilder struct {
	elems []nftables.SetElement
	keys  []byte
}

func newElemBuilder(n int, keyLen uint32) elemBuilder {
	return elemBuilder{elems: make([]nftables.SetElement, 0, n), keys: make([]byte, 0, n*int(keyLen))}
}

// add appends the elements of the normalized prefix p: the address alone
// for a host, or an interval's start element, carrying the timeout, and
// its end element one address past the prefix. A prefix that reaches the
// top of the address space has no end element.
func (b *elemBuilder) add(p netip.Prefix, timeout time.Duration) {
	b.elems = append(b.elems, nftables.SetElement{Key: b.key(p.Addr()), Timeout: elementTimeout(timeout)})
	if p.IsSingleIP() {
		return
	}
	if end := lastAddr(p).Next(); end.IsValid() {
		b.elems = append(b.elems, nftables.SetElement{Key: b.key(end), IntervalEnd: true})
	}
}

// key returns a's bytes. Keys share one buffer; should it grow, earlier
// keys keep the old array, so they stay valid.
func (b *elemBuilder) key(a netip.Addr) []byte {
	n := len(b.keys)
	if a.Is4() {
		k := a.As4()
		b.keys = append(b.keys, k[:]...)
	} else {
		k := a.As16()
		b.keys = append(b.keys, k[:]...)
	}
	return b.keys[n:len(b.keys):len(b.keys)]
}

// elementTimeout rounds up to the kernel's millisecond resolution: a
// timeout that truncated to 0 would make the element permanent.
func elementTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	hostBits := 128 - p.Bits()
	if p.Addr().Is4() {
		hostBits = 32 - p.Bits()
	}
	for i := 15; hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

package rplog

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// HostIn returns the address n places after the first address of p: many
// sources inside one network, such as an IPv6 client rotating through the
// 2^64 addresses of its /64, or the addresses of a botnet. It reports an
// error when p is not a valid prefix or n is past its last address.
func HostIn(p netip.Prefix, n uint64) (netip.Addr, error) {
	if !p.IsValid() {
		return netip.Addr{}, fmt.Errorf("rplog: %q is not a valid prefix", p)
	}
	p = p.Masked()
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits < 64 && n>>hostBits != 0 {
		return netip.Addr{}, fmt.Errorf("rplog: address %d is past the end of %s", n, p)
	}
	// The host bits of the masked address are zero and n fits in them, so
	// the sum carries into no network bit.
	if p.Addr().Is4() {
		a := p.Addr().As4()
		binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(n))
		return netip.AddrFrom4(a), nil
	}
	a := p.Addr().As16()
	binary.BigEndian.PutUint64(a[8:], binary.BigEndian.Uint64(a[8:])+n)
	return netip.AddrFrom16(a), nil
}

package filter

import (
	"net/netip"
	"strconv"
	"strings"
)

// family restricts which address family a text may parse as.
type family int

const (
	anyFamily family = iota
	onlyIPv4
	onlyIPv6
)

// ident is a failure ID as fail2ban's IPAddr holds it: an address (with a
// prefix length when a CIDR was given), or a raw string when the text is
// not an address or must be kept raw.
type ident struct {
	id     string
	addr   netip.Addr   // valid when id is an address
	prefix netip.Prefix // valid when a CIDR was given
}

// addressIdent parses text as IPAddr(text, cidr) does for the ip4 and ip6
// groups: restricted to one family, masked to cidr when cidr >= 0, an
// IPv4-mapped IPv6 address folded to IPv4. Text that does not parse (such as
// 999.1.1.1) is kept as a raw ID: fail2ban counts and bans it as it is.
func addressIdent(text string, fam family, cidr int) ident {
	a, ok := parseAddr(text, fam)
	if !ok {
		return ident{id: text}
	}
	if cidr < 0 {
		a = a.Unmap()
		return ident{id: canonical(text, a), addr: a}
	}
	return prefixIdent(a, cidr)
}

// canonical returns formatAddr(a), which is most often text as the log
// wrote it: then text itself, rather than a copy.
func canonical(text string, a netip.Addr) string {
	if a.Is4() {
		var b [len("255.255.255.255")]byte
		if string(a.AppendTo(b[:0])) == text {
			return text
		}
	}
	return formatAddr(a)
}

// prefixIdent masks a to cidr bits. A CIDR beyond the address length
// leaves the address whole, as fail2ban's mask arithmetic does.
func prefixIdent(a netip.Addr, cidr int) ident {
	if cidr >= a.BitLen() {
		return ident{id: formatAddr(a), addr: a}
	}
	p := netip.PrefixFrom(a, cidr).Masked()
	id := formatAddr(p.Addr())
	if cidr > 0 {
		id += "/" + strconv.Itoa(cidr)
	}
	return ident{id: id, addr: p.Addr(), prefix: p}
}

// textIdent parses a failure ID given without a family, as IPAddr(text)
// does: "[v6]" brackets are dropped and "addr/len" or "addr/mask" gives a
// prefix. Anything else is a raw ID.
func textIdent(text string) ident {
	s := text
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	addrText, maskText, hasMask := strings.Cut(s, "/")
	if !hasMask {
		if a, ok := parseAddr(s, anyFamily); ok {
			a = a.Unmap()
			return ident{id: formatAddr(a), addr: a}
		}
		return ident{id: s}
	}
	var cidr int
	if strings.ContainsAny(maskText, ".:") {
		m, ok := parseAddr(maskText, anyFamily)
		if !ok {
			return ident{id: text}
		}
		if cidr, ok = maskLen(m); !ok {
			return ident{id: text}
		}
	} else {
		n, err := strconv.Atoi(maskText)
		if err != nil || n < 0 {
			return ident{id: text}
		}
		cidr = n
	}
	a, ok := parseAddr(addrText, anyFamily)
	if !ok {
		return ident{id: addrText}
	}
	return prefixIdent(a, cidr)
}

// maskLen returns the prefix length of a netmask such as 255.255.255.0.
func maskLen(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n := 0
	for n < 8*len(b) && b[n/8]&(0x80>>(n%8)) != 0 {
		n++
	}
	for i := n; i < 8*len(b); i++ {
		if b[i/8]&(0x80>>(i%8)) != 0 {
			return 0, false
		}
	}
	return n, true
}

// parseAddr parses an address the way inet_pton does (so no zone and no
// leading zeros in IPv4 parts).
func parseAddr(s string, fam family) (netip.Addr, bool) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	switch {
	case fam == onlyIPv4 && !a.Is4(), fam == onlyIPv6 && !a.Is6():
		return netip.Addr{}, false
	}
	return a, true
}

// formatAddr writes an address as inet_ntop does (which differs from
// netip only for IPv4-compatible addresses, ::a.b.c.d).
func formatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		if [12]byte(b[:12]) == [12]byte{} && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:])).String()
		}
	}
	return a.String()
}

// pythonTuple formats values as Python's str() of a tuple of strings (nil
// for None) prints them, which is how fail2ban writes a failure ID built
// with <F-TUPLE_ID_n> groups.
func pythonTuple(values []*string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		if v == nil {
			b.WriteString("None")
			continue
		}
		pythonRepr(&b, *v)
	}
	if len(values) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// pythonRepr writes repr(s) for a Python str.
func pythonRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20, 0x7f <= r && r < 0xa0:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatInt(int64(r)|0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
}

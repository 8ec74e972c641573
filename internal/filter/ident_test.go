package filter

import (
	"net/netip"
	"testing"
)

func TestAddressIdent(t *testing.T) {
	tests := []struct {
		text   string
		fam    family
		cidr   int
		id     string
		addr   string // "" when invalid
		prefix string
	}{
		{"192.0.2.1", onlyIPv4, -1, "192.0.2.1", "192.0.2.1", ""},
		// No validity check: fail2ban keeps these as raw IDs.
		{"999.1.1.1", onlyIPv4, -1, "999.1.1.1", "", ""},
		{"192.030.0.6", onlyIPv4, -1, "192.030.0.6", "", ""},
		{"2001:DB8::1", onlyIPv6, -1, "2001:db8::1", "2001:db8::1", ""},
		{"::ffff:192.0.2.7", onlyIPv6, -1, "192.0.2.7", "192.0.2.7", ""},
		{"::ffff:c000:207", onlyIPv6, -1, "192.0.2.7", "192.0.2.7", ""},
		{"::1.2.3.4", onlyIPv6, -1, "::1.2.3.4", "::102:304", ""},
		{"192.0.2.1", onlyIPv6, -1, "192.0.2.1", "", ""},
		{"192.0.2.77", onlyIPv4, 24, "192.0.2.0/24", "192.0.2.0", "192.0.2.0/24"},
		{"192.0.2.77", onlyIPv4, 32, "192.0.2.77", "192.0.2.77", ""},
		{"192.0.2.77", onlyIPv4, 40, "192.0.2.77", "192.0.2.77", ""},
		{"192.0.2.77", onlyIPv4, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0/0"},
		{"2001:DB8:FF:FF::1", onlyIPv6, 60, "2001:db8:ff:f0::/60", "2001:db8:ff:f0::", "2001:db8:ff:f0::/60"},
		{"fe80::1%eth0", onlyIPv6, -1, "fe80::1%eth0", "", ""},
	}
	for _, tt := range tests {
		got := addressIdent(tt.text, tt.fam, tt.cidr)
		checkIdent(t, "addressIdent("+tt.text+")", got, tt.id, tt.addr, tt.prefix)
	}
}

func TestTextIdent(t *testing.T) {
	tests := []struct {
		text, id, addr, prefix string
	}{
		{"kevin", "kevin", "", ""},
		{"192.0.2.1", "192.0.2.1", "192.0.2.1", ""},
		{"[2001:db8::1]", "2001:db8::1", "2001:db8::1", ""},
		{"[x]", "x", "", ""},
		{"10.1.2.3/8", "10.0.0.0/8", "10.0.0.0", "10.0.0.0/8"},
		{"10.1.2.3/255.0.0.0", "10.0.0.0/8", "10.0.0.0", "10.0.0.0/8"},
		{"10.1.2.3/255.0.255.0", "10.1.2.3/255.0.255.0", "", ""},
		{"10.1.2.3/x", "10.1.2.3/x", "", ""},
		{"host/24", "host", "", ""},
		{"::ffff:10.0.0.1", "10.0.0.1", "10.0.0.1", ""},
	}
	for _, tt := range tests {
		checkIdent(t, "textIdent("+tt.text+")", textIdent(tt.text), tt.id, tt.addr, tt.prefix)
	}
}

func checkIdent(t *testing.T, what string, got ident, id, addr, prefix string) {
	t.Helper()
	if got.id != id {
		t.Errorf("%s id = %q, want %q", what, got.id, id)
	}
	if addr == "" {
		if got.addr.IsValid() {
			t.Errorf("%s addr = %v, want none", what, got.addr)
		}
	} else if got.addr != netip.MustParseAddr(addr) {
		t.Errorf("%s addr = %v, want %v", what, got.addr, addr)
	}
	if prefix == "" {
		if got.prefix.IsValid() {
			t.Errorf("%s prefix = %v, want none", what, got.prefix)
		}
	} else if got.prefix != netip.MustParsePrefix(prefix) {
		t.Errorf("%s prefix = %v, want %v", what, got.prefix, prefix)
	}
}

func TestFormatAddr(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1":        "192.0.2.1",
		"2001:db8::1":      "2001:db8::1",
		"::ffff:192.0.2.1": "::ffff:192.0.2.1",
		"::1.2.3.4":        "::1.2.3.4",
		"::1":              "::1",
		"::":               "::",
		"1:0:0:2:0:0:3:4":  "1::2:0:0:3:4",
	}
	for in, want := range tests {
		if got := formatAddr(netip.MustParseAddr(in)); got != want {
			t.Errorf("formatAddr(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestPythonTuple(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		in   []*string
		want string
	}{
		{[]*string{s("192.0.2.1"), s("192.0.2.2")}, `('192.0.2.1', '192.0.2.2')`},
		{[]*string{s("a"), nil}, `('a', None)`},
		{[]*string{s("it's")}, `("it's",)`},
		{[]*string{s(`q'"`)}, `('q\'"',)`},
		{[]*string{s("a\\b\n")}, `('a\\b\n',)`},
		{[]*string{s("\x01é")}, `('\x01é',)`},
	}
	for _, tt := range tests {
		if got := pythonTuple(tt.in); got != tt.want {
			t.Errorf("pythonTuple = %s, want %s", got, tt.want)
		}
	}
}

package rplog

import (
	"net/netip"
	"strings"
	"testing"
)

func TestHostIn(t *testing.T) {
	tests := []struct {
		prefix string
		n      uint64
		want   string
		err    string
	}{
		{"203.0.113.0/24", 0, "203.0.113.0", ""},
		{"203.0.113.0/24", 255, "203.0.113.255", ""},
		{"203.0.113.77/24", 9, "203.0.113.9", ""}, // the prefix is masked first
		{"198.18.0.0/15", 300, "198.18.1.44", ""},
		{"203.0.113.9/32", 0, "203.0.113.9", ""},
		{"2001:db8:a77a:1::/64", 0, "2001:db8:a77a:1::", ""},
		{"2001:db8:a77a:1::/64", 1<<64 - 1, "2001:db8:a77a:1:ffff:ffff:ffff:ffff", ""},
		{"2001:db8::/48", 0x1234, "2001:db8::1234", ""},
		{"2001:db8::/120", 255, "2001:db8::ff", ""},
		{"203.0.113.0/24", 256, "", "past the end of 203.0.113.0/24"},
		{"203.0.113.9/32", 1, "", "past the end"},
		{"2001:db8::/120", 256, "", "past the end"},
		{"2001:db8::1/128", 1, "", "past the end"},
	}
	for _, tt := range tests {
		got, err := HostIn(netip.MustParsePrefix(tt.prefix), tt.n)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("HostIn(%s, %d) = %v, %v; want an error containing %q", tt.prefix, tt.n, got, err, tt.err)
			}
		case err != nil || got.String() != tt.want:
			t.Errorf("HostIn(%s, %d) = %v, %v; want %s", tt.prefix, tt.n, got, err, tt.want)
		case !netip.MustParsePrefix(tt.prefix).Masked().Contains(got):
			t.Errorf("HostIn(%s, %d) = %v, outside the prefix", tt.prefix, tt.n, got)
		}
	}
	if _, err := HostIn(netip.Prefix{}, 0); err == nil {
		t.Error("HostIn of the zero prefix: no error")
	}
}

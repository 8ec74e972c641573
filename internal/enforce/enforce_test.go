package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNormalizePrefix(t *testing.T) {
	tests := []struct {
		in   netip.Prefix
		want string // "error" when refused
	}{
		{netip.MustParsePrefix("192.0.2.7/32"), "192.0.2.7/32"},
		{netip.MustParsePrefix("192.0.2.7/24"), "192.0.2.0/24"},
		{netip.MustParsePrefix("::ffff:192.0.2.7/128"), "192.0.2.7/32"},
		{netip.MustParsePrefix("::ffff:192.0.2.7/120"), "192.0.2.0/24"},
		{netip.MustParsePrefix("2001:db8::1:2/64"), "2001:db8::/64"},
		{netip.PrefixFrom(netip.MustParseAddr("fe80::1%eth0"), 128), "fe80::1/128"},
		{netip.MustParsePrefix("::ffff:0.0.0.0/95"), "error"},
		{netip.Prefix{}, "error"},
	}
	for _, tt := range tests {
		got, err := NormalizePrefix(tt.in)
		switch {
		case tt.want == "error":
			if !errors.Is(err, ErrInvalidPrefix) {
				t.Errorf("NormalizePrefix(%v) = %v, %v; want ErrInvalidPrefix", tt.in, got, err)
			}
		case err != nil || got.String() != tt.want:
			t.Errorf("NormalizePrefix(%v) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestCommitError(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.1/32")
	boom := errors.New("boom")
	var failed []FailedChange
	for i := range 5 {
		c := Change{Ban: Ban{Jail: "web", Prefix: p, Timeout: time.Duration(i) * time.Minute}}
		failed = append(failed, FailedChange{c, ErrNotStarted})
	}
	failed = append(failed, FailedChange{Change{Ban: Ban{Jail: "web", Prefix: p}, Delete: true}, fmt.Errorf("wrapped: %w", boom)})
	err := error(&CommitError{Failed: failed})

	if !errors.Is(err, ErrNotStarted) || !errors.Is(err, boom) {
		t.Errorf("errors.Is does not see the causes of %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"6 changes not applied",
		`ban 192.0.2.1/32 in jail "web" permanently: enforce: jail not started`,
		`ban 192.0.2.1/32 in jail "web" for 1m0s`,
		"and 3 more",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if got := failed[5].Change.String(); got != `unban 192.0.2.1/32 in jail "web"` {
		t.Errorf("Change.String = %q", got)
	}
}

package ban

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/shellcmd"
)

// staticResolver answers from a table and counts lookups. Tests must not
// depend on the machine's DNS.
type staticResolver struct {
	mu      sync.Mutex
	names   map[string][]string
	lookups map[string]int
}

func (r *staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lookups == nil {
		r.lookups = map[string]int{}
	}
	r.lookups[host]++
	addrs, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func (r *staticResolver) LookupCNAME(_ context.Context, host string) (string, error) {
	return host + ".example.org.", nil
}

func (r *staticResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestAllowList(t *testing.T, entries []string, self bool, command string, opts AllowOptions) *AllowList {
	t.Helper()
	if opts.Resolver == nil {
		opts.Resolver = &staticResolver{}
	}
	if opts.Hostname == nil {
		opts.Hostname = func() (string, error) { return "rp1", nil }
	}
	if opts.InterfaceAddrs == nil {
		opts.InterfaceAddrs = func() ([]net.Addr, error) { return nil, nil }
	}
	a, err := NewAllowList(entries, self, command, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAllowListEntries(t *testing.T) {
	entries := []string{
		"192.0.2.1", "198.51.100.0/24", "203.0.113.0/255.255.255.128",
		"2001:db8::1", "[2001:db8:1::/48]", "::ffff:100.64.0.0/106",
		"10.0.0.7/8", // host bits are dropped, as fail2ban does
		"127.0.0.1/8 ::1, fe80::1%eth0",
	}
	a := newTestAllowList(t, entries, false, "", AllowOptions{})
	tests := map[string]bool{
		"192.0.2.1": true, "192.0.2.2": false,
		"198.51.100.77": true, "198.51.101.1": false,
		"203.0.113.127": true, "203.0.113.128": false,
		"2001:db8::1": true, "2001:db8::2": false,
		"2001:db8:1:ffff::9": true, "2001:db8:2::1": false,
		"100.64.1.2": true, "100.128.0.1": false,
		"10.200.0.1": true, "127.1.2.3": true, "::1": true, "fe80::1": true,
		"::ffff:192.0.2.1": true, // mapped addresses are their IPv4 one
	}
	for s, want := range tests {
		if got := a.Contains(context.Background(), s, netip.MustParseAddr(s), nil); got != want {
			t.Errorf("Contains(%s) = %v, want %v", s, got, want)
		}
	}
	if a.Contains(context.Background(), "host-without-address", netip.Addr{}, nil) {
		t.Error("an ID that is not an address matched an address entry")
	}
}

func TestAllowListBadEntries(t *testing.T) {
	for _, entry := range []string{
		"1.2.3.256", "192.0.2.0/33", "192.0.2.0/x", "192.0.2.0/255.0.255.0",
		"192.0.2.0/ffff::", "2001:db8::/129", "-bad-.example", "bad!name", "a..b",
		"fe80::/64%eth0",
	} {
		_, err := NewAllowList([]string{entry}, false, "", AllowOptions{})
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(strings.Trim(entry, "[]"))) {
			t.Errorf("NewAllowList(%q) error %v, want one naming the entry", entry, err)
		}
	}
	_, err := NewAllowList([]string{"1.2.3.256 also.bad!"}, false, "", AllowOptions{})
	if err == nil || !strings.Contains(err.Error(), "1.2.3.256") || !strings.Contains(err.Error(), "also.bad!") {
		t.Errorf("every bad entry must be reported: %v", err)
	}
}

func TestAllowListDNS(t *testing.T) {
	r := &staticResolver{names: map[string][]string{
		"office.example.org": {"192.0.2.10", "::ffff:192.0.2.11"},
	}}
	clk := &clock{t: t0}
	a := newTestAllowList(t, []string{"office.example.org.", "gone.example.org"}, false, "", AllowOptions{Resolver: r, Now: clk.now})
	ctx := context.Background()
	for s, want := range map[string]bool{"192.0.2.10": true, "192.0.2.11": true, "192.0.2.12": false} {
		if got := a.Contains(ctx, s, netip.MustParseAddr(s), nil); got != want {
			t.Errorf("Contains(%s) = %v, want %v", s, got, want)
		}
	}
	// Looked up once per five minutes, failures included.
	if n := r.count("office.example.org"); n != 1 {
		t.Fatalf("%d lookups, want 1", n)
	}
	if n := r.count("gone.example.org"); n != 1 {
		t.Fatalf("failed name looked up %d times, want 1", n)
	}
	r.mu.Lock()
	r.names["office.example.org"] = []string{"192.0.2.12"}
	r.mu.Unlock()
	clk.t = clk.t.Add(5 * time.Minute)
	if !a.Contains(ctx, "192.0.2.12", netip.MustParseAddr("192.0.2.12"), nil) {
		t.Fatal("the new address is not seen after the TTL")
	}
	if a.Contains(ctx, "192.0.2.10", netip.MustParseAddr("192.0.2.10"), nil) {
		t.Fatal("the old address is still seen after the TTL")
	}
}

func TestAllowListSelf(t *testing.T) {
	r := &staticResolver{names: map[string][]string{
		"localhost":             {"::ffff:127.0.0.1", "::1"},
		"rp1":                   {"127.0.1.1"},
		"rp1.example.org":       {"192.0.2.50"},
		"unrelated.example.org": {"192.0.2.99"},
	}}
	ifaddrs := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("198.51.100.5"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	ctx := context.Background()
	for _, self := range []bool{true, false} {
		a := newTestAllowList(t, nil, self, "", AllowOptions{Resolver: r, InterfaceAddrs: ifaddrs})
		for s, want := range map[string]bool{
			"127.0.0.1": true, "::1": true, "127.0.1.1": true, "192.0.2.50": true,
			"198.51.100.5": true, "fe80::1": true,
			"198.51.100.6": false, "192.0.2.99": false,
		} {
			if got := a.Contains(ctx, s, netip.MustParseAddr(s), nil); got != (want && self) {
				t.Errorf("ignoreself=%v: Contains(%s) = %v", self, s, got)
			}
		}
	}
}

// TestAllowListCommand runs ignorecommand with the real /bin/sh.
func TestAllowListCommand(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	marker := filepath.Join(dir, "pwned")
	// Spares 192.0.2.1 and user "alice"; 192.0.2.66 makes it fail.
	cmd := `echo "<ip> <F-USER> <family>" >> ` + log + `
case <ip> in 192.0.2.1) exit 0;; 192.0.2.66) exit 3;; esac
[ '<F-USER>' = alice ] && exit 0
exit 1`
	a := newTestAllowList(t, nil, false, cmd, AllowOptions{})
	ctx := context.Background()
	tests := []struct {
		id     string
		fields map[string]string
		want   bool
	}{
		{"192.0.2.1", nil, true},
		{"192.0.2.2", nil, false},
		{"192.0.2.66", nil, false},
		{"192.0.2.3", map[string]string{"user": "alice"}, true},
		{"192.0.2.3", map[string]string{"USER": "bob"}, false},
		{"192.0.2.4", map[string]string{"user": "x'; touch " + marker + "; '"}, false},
		{"not-an-address", map[string]string{"user": "alice"}, true},
	}
	for _, tt := range tests {
		addr, _ := netip.ParseAddr(tt.id)
		if got := a.Contains(ctx, tt.id, addr, tt.fields); got != tt.want {
			t.Errorf("Contains(%s, %v) = %v, want %v", tt.id, tt.fields, got, tt.want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a field value ran a command")
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(calls), "192.0.2.3 alice inet4\n") || !strings.Contains(string(calls), "not-an-address alice \n") {
		t.Fatalf("tags not substituted as expected:\n%s", calls)
	}
}

func TestAllowListCommandTimeout(t *testing.T) {
	a := newTestAllowList(t, nil, false, "sleep 10; exit 0", AllowOptions{CommandTimeout: 100 * time.Millisecond})
	start := time.Now()
	if a.Contains(context.Background(), "192.0.2.1", netip.MustParseAddr("192.0.2.1"), nil) {
		t.Fatal("a timed-out command must not spare the ID")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout not applied")
	}
}

func TestAllowListCommandHostTags(t *testing.T) {
	a := newTestAllowList(t, nil, false, `[ "<fq-hostname>" = rp1.example.org ] && [ <sh-hostname> = rp1 ]`, AllowOptions{})
	if !a.Contains(context.Background(), "192.0.2.1", netip.MustParseAddr("192.0.2.1"), nil) {
		t.Fatal("<fq-hostname> or <sh-hostname> not substituted")
	}
}

func TestAllowListCache(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	clk := &clock{t: t0}
	var runs int
	a := newTestAllowList(t, []string{"192.0.2.0/24"}, false, "echo <ip> >> "+log+"; exit 1", AllowOptions{
		Now:   clk.now,
		Cache: AllowCache{Size: 2, TTL: time.Minute},
	})
	ctx := context.Background()
	check := func(s string) {
		t.Helper()
		a.Contains(ctx, s, netip.MustParseAddr(s), nil)
	}
	countRuns := func() int {
		data, _ := os.ReadFile(log)
		return strings.Count(string(data), "\n")
	}
	check("198.51.100.1")
	check("198.51.100.1")
	if runs = countRuns(); runs != 1 {
		t.Fatalf("command ran %d times, want 1 (cached)", runs)
	}
	clk.t = clk.t.Add(time.Minute)
	check("198.51.100.1")
	if runs = countRuns(); runs != 2 {
		t.Fatalf("command ran %d times, want 2 after the TTL", runs)
	}
	// Size 2: a third key evicts the oldest.
	check("198.51.100.2")
	check("198.51.100.3")
	check("198.51.100.1")
	if runs = countRuns(); runs != 5 {
		t.Fatalf("command ran %d times, want 5", runs)
	}
	// Address-list hits are answered directly, never cached.
	check("192.0.2.9")
	if len(a.cache.items) != 2 {
		t.Fatalf("cache holds %d items", len(a.cache.items))
	}
}

func TestAllowListCommandError(t *testing.T) {
	a := newTestAllowList(t, nil, false, "echo <ip>", AllowOptions{
		Runner: func(context.Context, string, []string, time.Duration) (shellcmd.Result, error) {
			return shellcmd.Result{ExitCode: -1}, errors.New("fork: resource temporarily unavailable")
		},
	})
	if a.Contains(context.Background(), "192.0.2.1", netip.MustParseAddr("192.0.2.1"), nil) {
		t.Fatal("a failing command must not spare the ID")
	}
}

func BenchmarkAllowListContains(b *testing.B) {
	var entries []string
	for i := range 500 {
		entries = append(entries, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16+i%9).Masked().String())
	}
	a, err := NewAllowList(entries, false, "", AllowOptions{})
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddr("192.0.2.1") // a miss: every group is tried
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.Contains(ctx, "192.0.2.1", addr, nil)
	}
}

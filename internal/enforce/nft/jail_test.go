package nft

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/pinjail/pinjail/internal/enforce"
)

func TestElements(t *testing.T) {
	tests := []struct {
		prefix  string
		timeout time.Duration
		want    []nftables.SetElement
	}{
		{"192.0.2.1/32", time.Minute, []nftables.SetElement{{Key: []byte{192, 0, 2, 1}, Timeout: time.Minute}}},
		{"192.0.2.0/24", 0, []nftables.SetElement{{Key: []byte{192, 0, 2, 0}}, {Key: []byte{192, 0, 3, 0}, IntervalEnd: true}}},
		{"10.0.0.0/8", 1500 * time.Microsecond, []nftables.SetElement{{Key: []byte{10, 0, 0, 0}, Timeout: 2 * time.Millisecond}, {Key: []byte{11, 0, 0, 0}, IntervalEnd: true}}},
		{"255.255.255.0/24", time.Nanosecond, []nftables.SetElement{{Key: []byte{255, 255, 255, 0}, Timeout: time.Millisecond}}},
		{"0.0.0.0/0", 0, []nftables.SetElement{{Key: []byte{0, 0, 0, 0}}}},
		{"2001:db8::/64", 0, []nftables.SetElement{
			{Key: netip.MustParseAddr("2001:db8::").AsSlice()},
			{Key: netip.MustParseAddr("2001:db8:0:1::").AsSlice(), IntervalEnd: true},
		}},
		{"2001:db8::ff/128", -time.Second, []nftables.SetElement{{Key: netip.MustParseAddr("2001:db8::ff").AsSlice()}}},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		if got := elements(p, tt.timeout); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("elements(%s, %v) = %+v, want %+v", p, tt.timeout, got, tt.want)
		}
		if got := opOf(nil, p, tt.timeout).size(); got != len(tt.want) {
			t.Errorf("size of %s = %d, want %d", p, got, len(tt.want))
		}
	}
}

func TestPrefixOf(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		start, end netip.Addr
		want       string // "" when not a prefix
	}{
		{a("10.0.0.0"), a("10.0.1.0"), "10.0.0.0/24"},
		{a("10.0.0.0"), a("11.0.0.0"), "10.0.0.0/8"},
		{a("10.0.0.1"), a("10.0.0.2"), "10.0.0.1/32"},
		{a("255.255.255.0"), netip.Addr{}, "255.255.255.0/24"},
		{a("0.0.0.0"), netip.Addr{}, "0.0.0.0/0"},
		{a("10.0.0.0"), a("10.0.0.10"), ""},
		{a("10.0.0.1"), a("10.0.1.1"), ""},
		{a("2001:db8::"), a("2001:db8:0:1::"), "2001:db8::/64"},
	}
	for _, tt := range tests {
		got, ok := prefixOf(tt.start, tt.end)
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("prefixOf(%v, %v) = %v, %t; want %q", tt.start, tt.end, got, ok, tt.want)
		}
	}
}

func TestParseElements(t *testing.T) {
	key := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	// An interval dump, unordered as the kernel lists it, with adjacent
	// intervals, an open-ended one, and a range that is not a prefix.
	dump := []nftables.SetElement{
		{Key: key("10.0.2.0"), IntervalEnd: true},
		{Key: key("255.0.0.0"), Timeout: time.Hour, Expires: time.Minute},
		{Key: key("10.0.1.0"), Timeout: time.Hour, Expires: 30 * time.Minute},
		{Key: key("10.0.1.0"), IntervalEnd: true},
		{Key: key("10.0.0.0")},
		{Key: key("172.16.0.0")},
		{Key: key("172.16.0.10"), IntervalEnd: true},
	}
	have, foreign := parseElements(nets4, dump)
	want := map[netip.Prefix]kernelElem{
		netip.MustParsePrefix("10.0.0.0/24"): {},
		netip.MustParsePrefix("10.0.1.0/24"): {timeout: time.Hour, expires: 30 * time.Minute},
		netip.MustParsePrefix("255.0.0.0/8"): {timeout: time.Hour, expires: time.Minute},
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("have = %v, want %v", have, want)
	}
	wantForeign := [][]nftables.SetElement{{{Key: key("172.16.0.0")}, {Key: key("172.16.0.10"), IntervalEnd: true}}}
	if !reflect.DeepEqual(foreign, wantForeign) {
		t.Errorf("foreign = %v, want %v", foreign, wantForeign)
	}

	hosts, foreign := parseElements(hosts6, []nftables.SetElement{{Key: key("2001:db8::1"), Timeout: time.Minute, Expires: time.Second}})
	if len(foreign) != 0 || hosts[netip.MustParsePrefix("2001:db8::1/128")] != (kernelElem{time.Minute, time.Second}) {
		t.Errorf("hosts = %v, foreign = %v", hosts, foreign)
	}
}

func TestOverlaps(t *testing.T) {
	j := newJail("web", "web")
	p := netip.MustParsePrefix
	now := time.Now().UnixNano()
	j.store(p("10.0.0.0/16"), 0)
	j.store(p("10.1.2.0/24"), 0)
	j.store(p("10.1.3.0/24"), now-int64(time.Hour)) // long expired
	j.store(p("2001:db8::/32"), 0)
	j.store(p("10.9.9.9/32"), 0)

	if q, _, ok := j.covering(p("10.0.7.0/24"), now); !ok || q != p("10.0.0.0/16") {
		t.Errorf("covering(10.0.7.0/24) = %v, %t", q, ok)
	}
	if _, _, ok := j.covering(p("10.1.3.0/25"), now); ok {
		t.Error("an expired prefix covers")
	}
	if _, _, ok := j.covering(p("2001:db9::/48"), now); ok {
		t.Error("2001:db8::/32 covers 2001:db9::/48")
	}
	if got := j.covered(p("10.1.0.0/16"), now); !reflect.DeepEqual(got, []netip.Prefix{p("10.1.2.0/24")}) {
		t.Errorf("covered(10.1.0.0/16) = %v", got)
	}
	if got := j.covered(p("10.2.0.0/24"), now); got != nil {
		t.Errorf("covered(10.2.0.0/24) = %v", got)
	}

	u := j.forget(p("10.0.0.0/16"))
	if _, _, ok := j.covering(p("10.0.7.0/24"), now); ok {
		t.Error("a forgotten prefix covers")
	}
	u.apply()
	if _, _, ok := j.covering(p("10.0.7.0/24"), now); !ok {
		t.Error("undo did not restore 10.0.0.0/16")
	}
	j.sweep(now)
	if _, ok := j.lookup(p("10.1.3.0/24")); ok || j.netBits[0][24] != 1 {
		t.Errorf("sweep kept the expired prefix (netBits %d)", j.netBits[0][24])
	}
}

func TestRuleMatches(t *testing.T) {
	tcp, udp := enforce.TCP, enforce.UDP
	tests := []struct {
		m    enforce.Match
		want []ruleMatch
	}{
		{enforce.Match{Protocols: []enforce.Protocol{tcp, udp}}, []ruleMatch{{[]enforce.Protocol{tcp, udp}, drop}}},
		{enforce.Match{Protocols: []enforce.Protocol{tcp, udp}, Reject: true}, []ruleMatch{{[]enforce.Protocol{tcp}, rejectTCPReset}, {[]enforce.Protocol{udp}, rejectICMPX}}},
		{enforce.Match{Protocols: []enforce.Protocol{udp}, Reject: true}, []ruleMatch{{[]enforce.Protocol{udp}, rejectICMPX}}},
		{enforce.Match{Reject: true}, []ruleMatch{{[]enforce.Protocol{tcp}, rejectTCPReset}, {nil, rejectICMPX}}},
		{enforce.Match{}, []ruleMatch{{nil, drop}}},
	}
	for _, tt := range tests {
		if got := ruleMatches(tt.m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ruleMatches(%v) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

func TestSampleIndexes(t *testing.T) {
	for _, tt := range []struct{ n, k, want int }{{10, 3, 3}, {10, 10, 10}, {10, 50, 10}, {0, 5, 0}, {1_000_000, 1000, 1000}} {
		got := sampleIndexes(tt.n, tt.k)
		if len(got) != tt.want {
			t.Errorf("sampleIndexes(%d, %d) has %d indexes, want %d", tt.n, tt.k, len(got), tt.want)
		}
		for i := range got {
			if i < 0 || i >= tt.n {
				t.Errorf("sampleIndexes(%d, %d) returned %d", tt.n, tt.k, i)
			}
		}
	}
}

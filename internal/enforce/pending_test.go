package enforce

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestPendingTake(t *testing.T) {
	a := netip.MustParsePrefix("192.0.2.1/32")
	aMapped := netip.MustParsePrefix("::ffff:192.0.2.1/128")
	b := netip.MustParsePrefix("2001:db8::/64")
	bUnmasked := netip.MustParsePrefix("2001:db8::1/64")

	var p Pending
	p.Add(Ban{Jail: "web", Prefix: a, Timeout: time.Minute})
	p.Add(Ban{Jail: "sip", Prefix: a, Timeout: time.Hour})
	p.Delete("web", b)
	p.Add(Ban{Jail: "web", Prefix: aMapped, Timeout: 2 * time.Minute}) // replaces the first
	p.Add(Ban{Jail: "web", Prefix: bUnmasked})                         // replaces the unban
	p.Add(Ban{Jail: "web", Prefix: netip.Prefix{}})
	p.Add(Ban{Jail: "web", Prefix: netip.Prefix{}})
	if p.Len() != 7 {
		t.Fatalf("Len = %d, want 7", p.Len())
	}
	got := p.Take()
	want := []Change{
		{Ban: Ban{Jail: "sip", Prefix: a, Timeout: time.Hour}},
		{Ban: Ban{Jail: "web", Prefix: aMapped, Timeout: 2 * time.Minute}},
		{Ban: Ban{Jail: "web", Prefix: bUnmasked}},
		{Ban: Ban{Jail: "web", Prefix: netip.Prefix{}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Take =\n%v\nwant\n%v", got, want)
	}
	if p.Len() != 0 || p.Take() != nil {
		t.Error("Take did not empty the Pending")
	}

	p.Add(Ban{Jail: "web", Prefix: a})
	p.Add(Ban{Jail: "sip", Prefix: a})
	p.Delete("web", b)
	p.DropJail("web")
	if got := p.Take(); len(got) != 1 || got[0].Jail != "sip" {
		t.Errorf("after DropJail(web), Take = %v", got)
	}
}

// BenchmarkPendingTake stages and takes 100,000 distinct bans, the bulk
// path of a restart.
func BenchmarkPendingTake(b *testing.B) {
	bans := make([]Ban, 100_000)
	for i := range bans {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		bans[i] = Ban{Jail: "web", Prefix: netip.PrefixFrom(a, 32), Timeout: time.Minute}
	}
	b.ReportAllocs()
	for b.Loop() {
		var p Pending
		for _, ban := range bans {
			p.Add(ban)
		}
		if got := p.Take(); len(got) != len(bans) {
			b.Fatalf("Take returned %d changes", len(got))
		}
	}
	b.ReportMetric(float64(len(bans))*float64(b.N)/b.Elapsed().Seconds(), "bans/s")
}

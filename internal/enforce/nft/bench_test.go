package nft

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/enforce"
)

// hostBans returns n distinct single-address bans of jail web.
func hostBans(n int, ipv6 bool) []enforce.Ban {
	bans := make([]enforce.Ban, n)
	for i := range bans {
		var a netip.Addr
		if ipv6 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		} else {
			a = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		bans[i] = enforce.Ban{Jail: "web", Prefix: netip.PrefixFrom(a, a.BitLen()), Timeout: 10 * time.Minute}
	}
	return bans
}

// TestCommit100k writes 100,000 bans in one Commit, as at a restart after
// a large attack, and reports the rate.
func TestCommit100k(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 bans")
	}
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web", Ports: "443"})
	bans := hostBans(100_000, false)

	cpuBefore := cpuTime(t)
	began := time.Now()
	for _, b := range bans {
		e.Add(b)
	}
	commit(t, e)
	elapsed := time.Since(began)
	cpu := cpuTime(t) - cpuBefore
	rate := float64(len(bans)) / elapsed.Seconds()
	// On a busy machine the wall time says little; the CPU time, which
	// includes the kernel's work in the netlink send, says what an idle
	// core would do.
	t.Logf("%d bans in one Commit: %v, %.0f elements/s; CPU %v (user+system), %.0f elements per CPU second",
		len(bans), elapsed.Round(time.Millisecond), rate, cpu.Round(time.Millisecond), float64(len(bans))/cpu.Seconds())
	// The target is 200,000/s; only a gross regression fails, as shared
	// CI machines are noisy.
	if rate < 50_000 {
		t.Errorf("%.0f elements/s, want at least 50,000 (target 200,000)", rate)
	}

	found, err := e.reader.GetSetElements((&jail{base: "web"}).set(e.table, hosts4))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(bans) {
		t.Errorf("set holds %d elements, want %d", len(found), len(bans))
	}
}

// cpuTime returns the CPU time the process used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommit measures Commit of n new bans, and of n renewals (which
// remove and re-add each element).
func BenchmarkCommit(b *testing.B) {
	for _, bc := range []struct {
		n           int
		ipv6, renew bool
	}{
		{1, false, false},
		{1_000, false, false},
		{100_000, false, false},
		{100_000, true, false},
		{100_000, false, true},
	} {
		name := fmt.Sprintf("n=%d/ipv6=%t/renew=%t", bc.n, bc.ipv6, bc.renew)
		b.Run(name, func(b *testing.B) {
			ns := newNS(b)
			e := ns.newEnforcer(b, Options{})
			ctx := context.Background()
			if err := e.Start(ctx, enforce.Spec{Jail: "web"}); err != nil {
				b.Fatal(err)
			}
			bans := hostBans(bc.n, bc.ipv6)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if bc.renew {
					for _, ban := range bans {
						e.Add(ban)
					}
				} else if err := e.Flush(ctx, "web"); err != nil {
					b.Fatal(err)
				}
				if err := e.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, ban := range bans {
					e.Add(ban)
				}
				if err := e.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.n)*float64(b.N)/b.Elapsed().Seconds(), "elements/s")
		})
	}
}

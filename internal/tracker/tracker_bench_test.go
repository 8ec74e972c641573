package tracker

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAddExisting is the hot path: another failure of an ID that already
// has a full set of matches. It must not allocate.
func BenchmarkAddExisting(b *testing.B) {
	tr := New(Options{FindTime: 10 * time.Minute, MaxRetry: 1 << 62, MaxMatches: 5})
	const match = "Jan  1 00:00:00 rp nginx: 192.0.2.1 - - \"POST /api/client/v2/conferences/x/request_token\" 403"
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		tr.Add(Failure{ID: "192.0.2.1", Time: t0.Add(time.Duration(i) * time.Second), Attempts: 1, Match: match})
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		tr.Add(Failure{ID: "192.0.2.1", Time: t0.Add(time.Duration(i) * time.Millisecond), Attempts: 1, Match: match})
	}
}

// BenchmarkAddDistinct adds failures of 1M distinct IDs to a tracker capped
// at 100k, so that every Add past the first 100k evicts. bytes/ID is the heap
// the tracker holds per tracked ID, not counting the ID strings themselves
// (the caller's, shared with the tracker).
func BenchmarkAddDistinct(b *testing.B) {
	const distinct, maxIDs = 1_000_000, 100_000
	ids := make([]string, distinct)
	for i := range ids {
		ids[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	t0 := time.Unix(1_700_000_000, 0)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	tr := New(Options{FindTime: 10 * time.Minute, MaxRetry: 5, MaxMatches: 5, MaxIDs: maxIDs})
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		tr.Add(Failure{ID: ids[i%distinct], Time: t0.Add(time.Duration(i) * time.Millisecond), Attempts: 1})
		i++
	}
	b.StopTimer()

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := tr.Len(); n > 0 {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/ID")
	}
	if tr.Len() > maxIDs {
		b.Fatalf("Len = %d over the cap", tr.Len())
	}
	runtime.KeepAlive(ids)
}

// BenchmarkCleanup scans 100k tickets of which none is stale.
func BenchmarkCleanup(b *testing.B) {
	tr := New(Options{FindTime: 10 * time.Minute, MaxRetry: 5})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 100_000 {
		tr.Add(Failure{ID: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), Time: t0})
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Cleanup(t0)
	}
}

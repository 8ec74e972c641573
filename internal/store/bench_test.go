package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchBan returns the i-th of a set of distinct, realistically sized bans:
// maxretry's default of five log lines of matches, about 200 bytes each, and
// a captured field, as a Pexip jail keeps.
func benchBan(i int) BanRecord {
	id := fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff)
	line := fmt.Sprintf(`2026-05-01T12:00:00.000+00:00 rp1 nginx: %s - - [01/May/2026:12:00:00 +0000] "POST /api/client/v2/conferences/meet.alice/request_token HTTP/1.1" 403 98 "-" "Mozilla/5.0"`, id)
	return BanRecord{
		Jail: fmt.Sprintf("jail%d", i%4), ID: id,
		Time: epoch.Add(-time.Duration(i) * time.Millisecond), BanTime: 24 * time.Hour,
		Count: 1 + i%5, Failures: 5,
		Matches: []string{line, line, line, line, line},
		Fields:  map[string]string{"alias": "meet.alice"},
	}
}

// fill adds bans benchBan(from) to benchBan(to-1) in transactions of 1,000.
func fill(b testing.TB, s *Store, from, to int) {
	b.Helper()
	var batch Batch
	for i := from; i < to; i++ {
		batch.AddBan(benchBan(i))
		if batch.Len() == 1000 || i == to-1 {
			if err := s.Apply(b.Context(), &batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
}

// BenchmarkActiveBans is the restore on start: reading every current ban.
func BenchmarkActiveBans(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("bans=%d", n), func(b *testing.B) {
			s, _ := openTemp(b)
			fill(b, s, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				bans, err := s.ActiveBans(b.Context(), "", epoch)
				if err != nil || len(bans) != n {
					b.Fatalf("ActiveBans = %d, %v", len(bans), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ban")
		})
	}
}

// BenchmarkApply measures writing bans, one transaction per batch.
func BenchmarkApply(b *testing.B) {
	for _, size := range []int{1, 100, 1_000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := openTemp(b)
			var batch Batch
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				batch.Reset()
				for range size {
					batch.AddBan(benchBan(next))
					next++
				}
				if err := s.Apply(b.Context(), &batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next), "ns/ban")
		})
	}
}

// BenchmarkInsert100k is the write side of the restore target: 100,000
// bans into an empty file, in transactions of 1,000.
func BenchmarkInsert100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "pinjail.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		fill(b, s, 0, 100_000)
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkBanCount is the bantime.increment lookup made for every
// failure, of an ID banned before and of one never banned (a flood's).
func BenchmarkBanCount(b *testing.B) {
	s, _ := openTemp(b)
	fill(b, s, 0, 100_000)
	keys := make([]BanRecord, 1000)
	for i := range keys {
		keys[i] = benchBan(i * 97)
	}
	for _, banned := range []bool{true, false} {
		for _, overall := range []bool{false, true} {
			b.Run(fmt.Sprintf("banned=%v/overall=%v", banned, overall), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r := keys[i%len(keys)]
					if !banned {
						r.ID = "198.51.100.7"
					}
					if n, _, err := s.BanCount(r.Jail, r.ID, overall); err != nil || (n > 0) != banned {
						b.Fatalf("BanCount = %d, %v", n, err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkHistory reads a whole day's history of 100,000 bans, matches
// included: the report path, and what ActiveBans would cost with matches.
func BenchmarkHistory(b *testing.B) {
	s, _ := openTemp(b)
	fill(b, s, 0, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		bans, err := s.History(b.Context(), HistoryQuery{})
		if err != nil || len(bans) != 100_000 {
			b.Fatalf("History = %d, %v", len(bans), err)
		}
	}
}

// BenchmarkOpen measures start-up on a file of 100,000 bans, including
// quick_check.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "pinjail.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, 0, 100_000)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

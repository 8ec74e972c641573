package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/source"
)

// nginxLine is a typical line of the Pexip reverse proxy's api.access.log
// (about 250 bytes).
const nginxLine = `198.51.100.23 - - [14/May/2024:09:20:02 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "https://rp.example.com/webapp/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36" "10.0.0.11:443" "403" "0.012"` + "\n"

// BenchmarkFollow measures how fast a Follower delivers the lines of a
// growing file, rotated (rename and create) every 64 MB.
//
// The "reader" cases time the Follower alone: it is parked in the callback
// while each block is appended, with the timer stopped, so the figure does
// not depend on how fast the machine writes files. The "with-writer" case
// times appending and following together; a 2-vCPU VM whose disk and tmpfs
// take about 290 MB/s (dd) caps it at about 1.1M lines/s.
func BenchmarkFollow(b *testing.B) {
	const linesPerBlock = 4096
	block := []byte(strings.Repeat(nginxLine, linesPerBlock))
	for _, tc := range []struct {
		name    string
		backend string
		writer  bool
	}{
		{"reader/auto", "auto", false},
		{"reader/polling", "polling", false},
		{"with-writer/auto", "auto", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "api.access.log")
			w, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { w.Close() }()
			appendBlock := func(n int) {
				if n > 0 && n%64 == 0 {
					w.Close()
					if err := os.Rename(path, path+".1"); err != nil {
						b.Fatal(err)
					}
					if w, err = os.Create(path); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Write(block); err != nil {
					b.Fatal(err)
				}
			}

			fl, err := New([]Path{{Pattern: path}}, Options{Backend: tc.backend, PollInterval: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			// The callback signals reached at the last line of each block
			// and, unless the writer runs concurrently, waits for release.
			var (
				delivered, signalled int64
				want                 atomic.Int64 // written while the callback runs, with the writer
			)
			reached, release := make(chan struct{}), make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				fl.Run(ctx, func(batch []source.Line) {
					delivered += int64(len(batch))
					// With the writer, a read may end past the block
					// waited for.
					if w := want.Load(); delivered >= w && w > signalled {
						signalled = w
						reached <- struct{}{}
						if !tc.writer {
							<-release
						}
					}
				})
			}()
			defer func() {
				cancel()
				close(release)
				<-done
			}()

			want.Store(linesPerBlock)
			appendBlock(0)
			<-reached
			b.SetBytes(int64(len(block)))
			b.ReportAllocs()
			n := 1
			for b.Loop() {
				if tc.writer {
					want.Add(linesPerBlock)
					appendBlock(n)
				} else {
					b.StopTimer()
					appendBlock(n)
					want.Add(linesPerBlock)
					b.StartTimer()
					release <- struct{}{}
				}
				<-reached
				n++
			}
			b.ReportMetric(float64((n-1)*linesPerBlock)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

// BenchmarkIngest measures the live path of a line: the daemon follows a
// real file with the built-in pexiprp jail as shipped (its three sibling
// jails off, the firewall a dry run), and each iteration appends a block
// of the Pexip reverse proxy's traffic, attackers included, and waits
// until the jail has read all of it. The block is written while the
// daemon waits for the jail's lock, so the time is the daemon's alone;
// bench/daemon.sh measures writing and reading together, from outside the
// process.
func BenchmarkIngest(b *testing.B) {
	log, err := rplog.Sample(100_000, time.Now(), 1)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkFollow(b, "", func(int) []byte { return log })
}

// BenchmarkFlood is bench/daemon.sh's flood: one wrong PIN from each of a
// stream of distinct addresses, all tracked (maxretry 100) and none
// banned, with the daemon's own state-saving interval.
func BenchmarkFlood(b *testing.B) {
	const perBlock = 50_000
	var buf bytes.Buffer
	benchmarkFollow(b, "mode = strict\nroombudget = 0\nmaxretry = 100\nmaxtracked = 10000000", func(n int) []byte {
		buf.Reset()
		now := time.Now().Format("02/Jan/2006:15:04:05 -0700")
		for i := range perBlock {
			a := n*perBlock + i
			fmt.Fprintf(&buf, "10.%d.%d.%d - - [%s]  \"POST /api/client/v2/conferences/meet/request_token HTTP/1.1\" 403 46 \"-\" \"curl/8\" \"10.0.0.1:443\" \"403\" \"0.01\"\n",
				a>>16&0xff, a>>8&0xff, a&0xff, now)
		}
		return buf.Bytes()
	})
}

// benchmarkFollow runs a daemon whose pexiprp jail has the settings local
// and, for each iteration n, appends block(n) to its log and waits until
// the jail has read it.
func benchmarkFollow(b *testing.B, local string, block func(n int) []byte) {
	td := startTestDaemon(b, &testDaemon{dir: memDir(b), logger: slog.New(slog.DiscardHandler), daemonIntervals: true}, local)
	r, err := td.d.runner("pexiprp")
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(td.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()

	want := r.j.Stats().Lines
	var lines, size uint64
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		// The jail's lock parks the runner while the block is written,
		// so that the figure is the daemon's, not the file system's.
		b.StopTimer()
		data := block(n)
		r.mu.Lock()
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		r.mu.Unlock()
		b.StartTimer()
		n := uint64(bytes.Count(data, []byte{'\n'}))
		want += n
		lines += n
		size += uint64(len(data))
		for r.j.Stats().Lines < want {
			<-tick.C
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(size)/float64(lines), "bytes/line")
}

// memDir returns a temporary directory on tmpfs where there is one, so
// that the speed of the disk does not cap the daemon's.
func memDir(b *testing.B) string {
	dir, err := os.MkdirTemp("/dev/shm", "pinjail-bench-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

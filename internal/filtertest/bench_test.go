package filtertest

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/rplog"
)

// rpLog generates lines of a Pexip reverse proxy's log.
func rpLog(tb testing.TB, lines int) []byte {
	tb.Helper()
	log, err := rplog.Sample(lines, time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), 1)
	if err != nil {
		tb.Fatal(err)
	}
	return log
}

// BenchmarkRun runs filters over a reverse proxy's log read from memory,
// as a stream, and from a file, whose blocks the workers read at once.
func BenchmarkRun(b *testing.B) {
	const lines = 100_000
	log := rpLog(b, lines)
	path := writeLog(b, log)
	sources := []struct {
		name string
		open func() (io.Reader, func() error, error)
	}{
		{"stream", func() (io.Reader, func() error, error) {
			return bytes.NewReader(log), func() error { return nil }, nil
		}},
		{"file", func() (io.Reader, func() error, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, nil, err
			}
			return f, f.Close, nil
		}},
	}
	for _, bb := range []struct{ name, file string }{
		{"pexiprp", "../builtin/conf/filter.d/pexiprp.conf"},
		{"every-line", "../../bench/everyline.conf"},
	} {
		spec, _, _, err := LoadFilter("", bb.file, config.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, src := range sources {
			b.Run(bb.name+"/"+src.name, func(b *testing.B) {
				f, err := filter.New(spec, filter.Options{CheckAllRegex: true})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(log)))
				b.ReportAllocs()
				for b.Loop() {
					r, closeFn, err := src.open()
					if err != nil {
						b.Fatal(err)
					}
					_, err = Run(r, f, Options{}, nil)
					if cerr := closeFn(); err == nil {
						err = cerr
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
			})
		}
	}
}

// BenchmarkDate dates the lines of a reverse-proxy log with the pexiprp
// filter, the stage of a run that workers guess: a log of 100,000 lines,
// which the processor's caches do not hold, and a block of 2,000 lines,
// about the size of a run's batches, which they do.
func BenchmarkDate(b *testing.B) {
	for _, bb := range []struct {
		name  string
		lines int
	}{{"cold", 100_000}, {"warm", 2_000}} {
		b.Run(bb.name, func(b *testing.B) { benchmarkDate(b, bb.lines) })
	}
}

func benchmarkDate(b *testing.B, n int) {
	log := rpLog(b, n)
	spec, _, _, err := LoadFilter("", "../builtin/conf/filter.d/pexiprp.conf", config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f, err := filter.New(spec, filter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
	now := time.Now()
	var date filter.LineDate
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		for _, line := range lines {
			f.Date(line, now, &date)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(lines)*b.N), "ns/line")
}

package rplog

import (
	"io"
	"testing"
	"time"
)

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkTraffic measures generating background traffic, warm-up
// included, per line.
func BenchmarkTraffic(b *testing.B) {
	const lines = 200_000
	var out countingWriter
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter(&out, 1)
		if err := w.Traffic(TrafficOptions{Start: may14, Lines: lines}); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(out.n / int64(b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lines*b.N), "ns/line")
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLine measures queueing and writing one scripted line.
func BenchmarkLine(b *testing.B) {
	w := NewWriter(io.Discard, 1)
	r := Request{
		Time: may14, Addr: alice,
		Method: "POST", Path: "/api/client/v2/conferences/meet.alice%40example.com/request_token",
		Status: 403, Bytes: 73, Referer: webAppReferer, UserAgent: webAppAgent,
		Upstreams: []Upstream{{node1, 403, 36 * time.Millisecond}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Line(r); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		r.Time = r.Time.Add(time.Second)
	}
}

package filter

import (
	"bufio"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
)

// Lines of a Pexip reverse proxy's API log.
const (
	pexipMiss = `198.51.100.23 - - [14/May/2024:09:02:19 +0000]  "GET /api/client/v2/conferences/meet.alice%40example.com/conference_status HTTP/1.1" 200 402 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "200" "0.011"`
	// pexipNear passes the prefilter and fails the regex.
	pexipNear = `198.51.100.23 - - [14/May/2024:09:20:02 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token/x HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443" "403" "0.051"`
	pexipHit  = `198.51.100.23 - - [14/May/2024:09:20:02 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443, 10.44.0.12:443" "502, 403" "0.002, 0.051"`
)

// pexiprpSpec builds the built-in pexiprp filter from its file. It reads
// the two single-line options it needs, so it follows edits of the filter
// without the configuration loader.
func pexiprpSpec(tb testing.TB) *config.Filter {
	tb.Helper()
	data, err := fs.ReadFile(builtin.FS(), "filter.d/pexiprp.conf")
	if err != nil {
		tb.Fatal(err)
	}
	spec := &config.Filter{Name: "pexiprp", MaxLines: 1}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		value = strings.ReplaceAll(strings.TrimSpace(value), "%%", "%")
		switch strings.TrimSpace(key) {
		case "failregex":
			spec.FailRegex = []config.Regex{{Pattern: value, Pos: config.Position{File: "pexiprp.conf", Line: n}}}
		case "datepattern":
			spec.DatePattern = value
		}
	}
	if len(spec.FailRegex) == 0 {
		tb.Fatal("pexiprp.conf: no failregex")
	}
	return spec
}

func newBenchFilter(b *testing.B, spec *config.Filter) *Filter {
	f, err := New(spec, Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkProcess(b *testing.B) {
	catchAll := &config.Filter{
		FailRegex:   []config.Regex{{Pattern: `^<ADDR>\s`}},
		DatePattern: "%d/%b/%Y:%H:%M:%S %z",
	}
	benches := []struct {
		name string
		spec *config.Filter
		line string
	}{
		{"pexiprp/miss", pexiprpSpec(b), pexipMiss},
		{"pexiprp/near-miss", pexiprpSpec(b), pexipNear},
		{"pexiprp/match", pexiprpSpec(b), pexipHit},
		{"catch-all", catchAll, pexipMiss},
	}
	now := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			f := newBenchFilter(b, bb.spec)
			line := []byte(bb.line)
			var res Result
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				f.Process(line, now, &res)
			}
		})
	}
}

// TestProcessMissAllocs checks that lines without a failure cost no
// allocation, whether the prefilter or the regex turns them down.
func TestProcessMissAllocs(t *testing.T) {
	f, err := New(pexiprpSpec(t), Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	var res Result
	for _, line := range []string{pexipMiss, pexipNear} {
		b := []byte(line)
		if n := testing.AllocsPerRun(100, func() { f.Process(b, now, &res) }); n != 0 {
			t.Errorf("%.0f allocations per miss for %.40q...", n, line)
		}
	}
	f.Process([]byte(pexipMiss), now, &res)
	if !res.Prefiltered {
		t.Error("the prefilter let a GET line through")
	}
	f.Process([]byte(pexipNear), now, &res)
	if res.Prefiltered || len(res.Failures) != 0 {
		t.Errorf("near miss: prefiltered %v, failures %v", res.Prefiltered, res.Failures)
	}
	f.Process([]byte(pexipHit), now, &res)
	if len(res.Failures) != 1 || res.Failures[0].ID != "198.51.100.23" || res.Failures[0].Fields["alias"] != "meet.alice%40example.com" {
		t.Errorf("match: %+v", res.Failures)
	}
}

// BenchmarkDateMatch runs the two stages pinjail regex runs on every line:
// Date, then Match, whose prefilter knows where the date is.
func BenchmarkDateMatch(b *testing.B) {
	now := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	for _, bb := range []struct{ name, line string }{
		{"miss", pexipMiss}, {"near-miss", pexipNear}, {"match", pexipHit},
	} {
		b.Run(bb.name, func(b *testing.B) {
			f := newBenchFilter(b, pexiprpSpec(b))
			line := []byte(bb.line)
			var (
				res  Result
				date LineDate
			)
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				f.Date(line, now, &date)
				f.Match(line, &date, now, &res)
			}
		})
	}
}

// TestDateMatchMissAllocs checks that Date and Match allocate nothing for
// lines without a failure.
func TestDateMatchMissAllocs(t *testing.T) {
	f, err := New(pexiprpSpec(t), Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	var (
		res  Result
		date LineDate
	)
	for _, line := range []string{pexipMiss, pexipNear} {
		b := []byte(line)
		if n := testing.AllocsPerRun(100, func() { f.Date(b, now, &date); f.Match(b, &date, now, &res) }); n != 0 {
			t.Errorf("%.0f allocations per miss for %.40q...", n, line)
		}
	}
}

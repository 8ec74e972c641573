package main

import (
	"maps"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestParseByJail(t *testing.T) {
	body := []byte(`# HELP pinjail_lines_total Log lines read.
# TYPE pinjail_lines_total counter
pinjail_lines_total{jail="pexiprp"} 1e+06
pinjail_lines_total{jail="pexip-aliasscan"} 12345
pinjail_lines_matched_total{jail="pexiprp"} 45515
pinjail_tracked_ids{jail="pexiprp"} 7
`)
	for _, tc := range []struct {
		metric string
		want   map[string]float64
	}{
		{"pinjail_lines_total", map[string]float64{"pexiprp": 1e6, "pexip-aliasscan": 12345}},
		{"pinjail_lines_matched_total", map[string]float64{"pexiprp": 45515}},
		{"pinjail_tracked_ids", map[string]float64{"pexiprp": 7}},
		{"pinjail_bans_total", map[string]float64{}},
	} {
		got, err := parseByJail(body, tc.metric)
		if err != nil {
			t.Fatalf("%s: %v", tc.metric, err)
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.metric, got, tc.want)
		}
	}
}

func TestParseByJailRejects(t *testing.T) {
	for _, body := range []string{
		`pinjail_lines_total{jail="pexiprp"} many`,
		`pinjail_lines_total{jail="pexiprp",other="x"} 1`,
	} {
		if got, err := parseByJail([]byte(body), "pinjail_lines_total"); err == nil {
			t.Errorf("%q: got %v, want an error", body, got)
		}
	}
}

func FuzzParseByJail(f *testing.F) {
	f.Add([]byte("pinjail_lines_total{jail=\"a\"} 1\n"))
	f.Add([]byte("pinjail_lines_total{jail=\"\"} \n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseByJail(body, "pinjail_lines_total")
		if err == nil && got == nil {
			t.Error("nil map without an error")
		}
	})
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{ms(5), 50, 5 * time.Millisecond},
		{ms(5), 99, 5 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2), 99, 2 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

func TestAddresses(t *testing.T) {
	first := netip.MustParseAddr("172.16.0.1")
	for _, tc := range []struct {
		i    int
		want string
	}{
		{0, "172.16.0.1"},
		{255, "172.16.1.0"},
		{99_999, "172.17.134.160"},
	} {
		if got := addrAt(first, tc.i); got.String() != tc.want {
			t.Errorf("addrAt(%v, %d) = %v, want %s", first, tc.i, got, tc.want)
		}
	}
	last := netip.MustParseAddr("255.255.255.254")
	if err := checkRange(last, 2); err != nil {
		t.Errorf("checkRange(%v, 2): %v", last, err)
	}
	if err := checkRange(last, 3); err == nil {
		t.Errorf("checkRange(%v, 3) accepted a range past 255.255.255.255", last)
	}
}

func TestProc(t *testing.T) {
	cur, peak, err := rss(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cur <= 0 || peak < cur {
		t.Errorf("rss = %d, peak %d", cur, peak)
	}
	// Burn a little CPU so that the figure has something to count.
	began := time.Now()
	for time.Since(began) < 30*time.Millisecond {
	}
	cpu, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 {
		t.Errorf("cpuTime = %v after 30 ms of spinning", cpu)
	}
}

package rplog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/testenv"
)

// generate returns n lines of traffic from seed, with the lines script
// queues first mixed in.
func generate(t testing.TB, seed uint64, n int, rate float64, script func(*Writer) error) ([]byte, Counts) {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, seed)
	if script != nil {
		if err := script(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Traffic(TrafficOptions{Start: may14, Lines: n, Rate: rate}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), w.Counts()
}

func TestTrafficLines(t *testing.T) {
	const n = 100_000
	log, counts := generate(t, 1, n, 0, nil)
	if counts.Lines != n {
		t.Fatalf("Counts().Lines = %d, want %d", counts.Lines, n)
	}
	var (
		lines, static, tokens, retried, ipv6, notModified int
		addrs                                             = map[netip.Addr]bool{}
		nodes                                             = map[netip.AddrPort]bool{}
		last                                              time.Time
	)
	for line := range strings.Lines(string(log)) {
		lines++
		r, err := parseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		if r.Time.Before(last) {
			t.Fatalf("line %d goes back in time: %q", lines, line)
		}
		last = r.Time
		if len(r.Upstreams) == 0 {
			t.Fatalf("line %d: no upstream: %q", lines, line)
		}
		if up := r.Upstreams[len(r.Upstreams)-1]; up.Status != r.Status {
			t.Fatalf("line %d: status %d, last upstream %d: %q", lines, r.Status, up.Status, line)
		}
		switch {
		case strings.HasPrefix(r.Path, "/webapp/") || strings.HasPrefix(r.Path, "/static/"):
			static++
		case strings.HasSuffix(r.Path, "/request_token"):
			tokens++
		}
		if len(r.Upstreams) > 1 {
			retried++
		}
		if r.Addr.Is6() {
			ipv6++
		}
		if r.Status == 304 {
			notModified++
		}
		addrs[r.Addr] = true
		for _, u := range r.Upstreams {
			nodes[u.Addr] = true
		}
	}
	if lines != n {
		t.Fatalf("%d lines, want %d", lines, n)
	}
	// The mix the benchmarks rely on: mostly static files, a few percent of
	// token requests, some retries, both address families.
	for _, c := range []struct {
		what     string
		got      int
		min, max float64
	}{
		{"static files", static, 0.40, 0.65},
		{"request_token calls", tokens, 0.02, 0.12},
		{"PIN failures", counts.PINFailures, 0.01, 0.08},
		{"registration failures", counts.RegistrationFailures, 0.001, 0.02},
		{"unknown aliases", counts.UnknownAliases, 0.003, 0.04},
		{"retried requests", retried, 0.0005, 0.005},
		{"IPv6 clients' lines", ipv6, 0.1, 0.35},
		{"304s", notModified, 0.15, 0.5},
		{"client addresses", len(addrs), 0.01, 0.2},
	} {
		if share := float64(c.got) / n; share < c.min || share > c.max {
			t.Errorf("%s: %d of %d lines (%.4f), want between %.4f and %.4f", c.what, c.got, n, share, c.min, c.max)
		}
	}
	if len(nodes) != numNodes {
		t.Errorf("%d conferencing nodes, want %d", len(nodes), numNodes)
	}
}

func TestTrafficDeterministic(t *testing.T) {
	a, _ := generate(t, 7, 20_000, 0, nil)
	b, _ := generate(t, 7, 20_000, 0, nil)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different logs")
	}
	c, _ := generate(t, 8, 20_000, 0, nil)
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same log")
	}
}

func TestTrafficGolden(t *testing.T) {
	log, _ := generate(t, 1, 300, 0, nil)
	golden(t, "traffic-seed1.log", log)
}

func TestTrafficRate(t *testing.T) {
	for _, rate := range []float64{20, DefaultRate, 1000} {
		const n = 50_000
		log, _ := generate(t, 3, n, rate, nil)
		lastLine := log[bytes.LastIndexByte(log[:len(log)-1], '\n')+1:]
		last, err := parseLine(strings.TrimSuffix(string(lastLine), "\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := n / last.Time.Sub(may14).Seconds()
		if math.Abs(got-rate)/rate > 0.1 {
			t.Errorf("rate %v: %d lines took %v, %.1f lines/s", rate, n, last.Time.Sub(may14), got)
		}
	}
}

func TestTrafficMergesQueued(t *testing.T) {
	attacker := netip.MustParseAddr("203.0.113.250")
	var queued []Request
	for i := range 50 {
		queued = append(queued, Request{
			// From before Start to well after the traffic ends.
			Time: may14.Add(time.Duration(i-5) * 2 * time.Second), Addr: attacker,
			Method: "POST", Path: "/api/client/v2/conferences/meet.bob%40example.com/request_token",
			Status: 403, Bytes: 46,
			Upstreams: []Upstream{{node1, 403, 40 * time.Millisecond}},
		})
	}
	const n = 10_000 // about 50 s at the default rate
	log, counts := generate(t, 1, n, 0, func(w *Writer) error {
		for _, r := range queued {
			if err := w.Line(r); err != nil {
				return err
			}
		}
		return nil
	})
	_, alone := generate(t, 1, n, 0, nil)
	if counts.Lines != n+50 || counts.PINFailures != alone.PINFailures+50 {
		t.Errorf("Counts() = %+v, want those of the traffic alone %+v plus 50 PIN failures", counts, alone)
	}
	var last time.Time
	seen := 0
	for line := range strings.Lines(string(log)) {
		r, err := parseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Time.Before(last) {
			t.Fatalf("goes back in time: %q", line)
		}
		last = r.Time
		if r.Addr == attacker {
			if want := queued[seen].Time; !r.Time.Equal(want) {
				t.Fatalf("queued line %d at %v, want %v", seen+1, r.Time, want)
			}
			seen++
		}
	}
	if seen != 50 {
		t.Errorf("%d queued lines written, want 50", seen)
	}
}

func TestTrafficRejects(t *testing.T) {
	for _, opts := range []TrafficOptions{
		{Lines: 1},
		{Start: may14, Lines: -1},
		{Start: may14, Lines: 1, Rate: -1},
		{Start: may14, Lines: 1, Rate: math.NaN()},
		{Start: may14, Lines: 1, Rate: math.Inf(1)},
		{Start: may14, Lines: 1, Rate: MaxRate + 1},
		{Start: may14, Until: may14.Add(-time.Second)},
	} {
		if err := NewWriter(io.Discard, 1).Traffic(opts); err == nil {
			t.Errorf("Traffic(%+v): no error", opts)
		}
	}
}

// TestCountsMatchFilter checks the expected counts against the filter's own
// regular expression and against direct counts, over traffic with scripted
// joins and guesses mixed in.
func TestCountsMatchFilter(t *testing.T) {
	log, counts := generate(t, 5, 100_000, 0, func(w *Writer) error {
		// Half of the scripted calls go through a failing node.
		if err := w.Outage(may14.Add(3*time.Minute), may14.Add(30*time.Minute)); err != nil {
			return err
		}
		flows := []Flow{PexRTC, PexRTCTypo, SDK, SDKTypo, SSO, Open, PexRTCTwoTypos, SDKTwoTypos}
		for i, flow := range flows {
			if _, err := w.Join(flow, alice, "meet.carol%40example.com", may14.Add(time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		if _, err := w.Register(alice, "carol%40example.com", 2, may14.Add(time.Minute)); err != nil {
			return err
		}
		for i := range 20 {
			at := may14.Add(time.Duration(i) * 5 * time.Second)
			err := errors.Join(
				w.Guess(alice, "meet.carol%40example.com", at),
				w.GuessPassword(alice, "carol%40example.com", at.Add(time.Second)),
				w.TryAlias(alice, strconv.Itoa(1000+i), at.Add(2*time.Second)),
			)
			if err != nil {
				return err
			}
		}
		return nil
	})

	filter := pexiprpFilter(t)
	registration := regexp.MustCompile(`"POST /api/client/v2/registrations/[^/]+/request_token HTTP/1.1" 401 `)
	unknown := regexp.MustCompile(`"[A-Z]+ /api/client/v2/conferences/[^/]+/request_token HTTP/1.1" 404 `)
	var got Counts
	for line := range strings.Lines(string(log)) {
		line = strings.TrimSuffix(line, "\n")
		got.Lines++
		if filter.MatchString(line) {
			got.PINFailures++
		}
		if registration.MatchString(line) {
			got.RegistrationFailures++
		}
		if unknown.MatchString(line) {
			got.UnknownAliases++
		}
	}
	if got != counts {
		t.Errorf("counted in the log %+v, Writer counted %+v", got, counts)
	}
	if counts.PINFailures == 0 || counts.RegistrationFailures == 0 || counts.UnknownAliases == 0 {
		t.Errorf("Counts() = %+v, want some of each", counts)
	}
}

// TestCountsMatchFail2ban runs fail2ban-regex itself with the built-in
// pexiprp filter over generated traffic: the number of lines it matches
// must be the Writer's count, which is what the benchmark relies on.
func TestCountsMatchFail2ban(t *testing.T) {
	if testing.Short() {
		t.Skip("runs fail2ban-regex")
	}
	fail2banRegex := testenv.RequireCommand(t, "fail2ban-regex")
	dir := t.TempDir()
	conf, err := fs.ReadFile(builtin.FS(), "filter.d/pexiprp.conf")
	if err != nil {
		t.Fatal(err)
	}
	filterPath := filepath.Join(dir, "pexiprp.conf")
	if err := os.WriteFile(filterPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	log, counts := generate(t, 11, 20_000, 0, nil)
	logPath := filepath.Join(dir, "api.access.log")
	if err := os.WriteFile(logPath, log, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(fail2banRegex, logPath, filterPath).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in fail2ban-regex's output:\n%s", out)
	}
	if got, want := string(m[1])+" lines, "+string(m[3])+" matched", fmt.Sprintf("%d lines, %d matched", counts.Lines, counts.PINFailures); got != want {
		t.Errorf("fail2ban-regex: %s, want %s", got, want)
	}
}

func TestTrafficUntil(t *testing.T) {
	until := may14.Add(5 * time.Minute)
	for _, lines := range []int{0, 1000, 1_000_000} {
		var out bytes.Buffer
		w := NewWriter(&out, 4)
		// A scripted line after Until is still written, by Flush.
		if err := w.Guess(alice, "meet.alice", until.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := w.Traffic(TrafficOptions{Start: may14, Until: until, Lines: lines, Rate: 50}); err != nil {
			t.Fatal(err)
		}
		written := w.Counts().Lines
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var last time.Time
		n := 0
		for line := range strings.Lines(out.String()) {
			r, err := parseLine(strings.TrimSuffix(line, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if n++; n <= written {
				last = r.Time
			}
		}
		switch {
		case lines == 1000 && written != 1000:
			t.Errorf("Lines 1000, Until 5m at 50/s: wrote %d lines, want 1000", written)
		case lines != 1000 && (last.After(until) || until.Sub(last) > 10*time.Second):
			t.Errorf("Lines %d: traffic's last line at %v, want shortly before %v", lines, last, until)
		case lines != 1000 && (written < 12_000 || written > 18_000):
			t.Errorf("Lines %d: wrote %d lines in 5 minutes at 50 lines/s", lines, written)
		}
		if n != written+1 {
			t.Errorf("Lines %d: %d lines in the log, want the traffic's %d and the scripted one", lines, n, written)
		}
	}
}

func TestTrafficLegitimateOnly(t *testing.T) {
	const n = 100_000
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	start := may14
	if err := w.Traffic(TrafficOptions{Start: start, Lines: n, LegitimateOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	attackers4 := netip.MustParsePrefix("203.0.113.0/24")
	attackers6 := netip.MustParsePrefix("2001:db8:ffff::/48")
	type attempt struct {
		addr  netip.Addr
		alias string
	}
	// Every 403 of a join is followed by its 200; only joins cut short by
	// the end of the log may be missing it.
	pending := map[attempt]time.Time{}
	var last time.Time
	for line := range strings.Lines(out.String()) {
		r, err := parseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Time
		if attackers4.Contains(r.Addr) || attackers6.Contains(r.Addr) {
			t.Fatalf("an attacker's address: %q", line)
		}
		alias, ok := strings.CutPrefix(r.Path, "/api/client/v2/conferences/")
		if !ok || !strings.HasSuffix(alias, "/request_token") {
			continue
		}
		k := attempt{r.Addr, alias}
		switch r.Status {
		case 403:
			if _, ok := pending[k]; !ok {
				pending[k] = r.Time
			}
		case 200:
			delete(pending, k)
		default:
			t.Errorf("request_token answered %d: %q", r.Status, line)
		}
	}
	for k, at := range pending {
		if last.Sub(at) > time.Minute {
			t.Errorf("%s's 403 on %s at %v was never followed by a 200", k.addr, k.alias, at)
		}
	}
	c := w.Counts()
	if c.UnknownAliases != 0 || c.PINFailures == 0 {
		t.Errorf("Counts() = %+v, want PIN prompts and no unknown aliases", c)
	}
	// Legitimate registrations mistype a password now and then, never more
	// than once.
	if c.RegistrationFailures > n/200 {
		t.Errorf("%d registration failures in %d lines", c.RegistrationFailures, n)
	}
	if rate := float64(n) / last.Sub(start).Seconds(); math.Abs(rate-DefaultRate)/DefaultRate > 0.1 {
		t.Errorf("%.1f lines/s, want about %d", rate, DefaultRate)
	}
}

package rplog

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestJoin(t *testing.T) {
	tests := []struct {
		flow     Flow
		statuses string
		// Seconds from the first call to each.
		offsets []int
		agent   string
	}{
		{PexRTC, "403 200", []int{0, 8}, webAppAgent},
		{PexRTCTypo, "403 403 403 200", []int{0, 6, 13, 19}, webAppAgent},
		{SDK, "403 200", []int{0, 6}, sdkAgent},
		{SDKTypo, "403 403 200", []int{0, 6, 12}, sdkAgent},
		{SSO, "403 403 200", []int{0, 3, 23}, webAppAgent},
		{Open, "200", []int{0}, webAppAgent},
		{PexRTCTwoTypos, "403 403 403 403 403 200", []int{0, 6, 13, 19, 26, 32}, webAppAgent},
		{SDKTwoTypos, "403 403 403 200", []int{0, 6, 12, 18}, sdkAgent},
	}
	for _, tt := range tests {
		t.Run(tt.flow.String(), func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, 1)
			end, err := w.Join(tt.flow, alice, "meet.alice%40example.com", may14)
			if err != nil {
				t.Fatal(err)
			}
			if want := may14.Add(time.Duration(tt.offsets[len(tt.offsets)-1]) * time.Second); !end.Equal(want) {
				t.Errorf("Join returned %v, want the time of the last call %v", end, want)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var statuses []string
			pinFailures := 0
			for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				r, err := parseLine(line)
				if err != nil {
					t.Fatal(err)
				}
				statuses = append(statuses, strconv.Itoa(r.Status))
				if got, want := r.Time.Sub(may14), time.Duration(tt.offsets[i])*time.Second; got != want {
					t.Errorf("call %d at +%v, want +%v", i+1, got, want)
				}
				if r.UserAgent != tt.agent || r.Addr != alice || len(r.Upstreams) != 1 || r.Upstreams[0].Status != r.Status {
					t.Errorf("call %d: %q", i+1, line)
				}
				if r.Status == 403 {
					pinFailures++
				}
			}
			if got := strings.Join(statuses, " "); got != tt.statuses {
				t.Errorf("statuses %s, want %s", got, tt.statuses)
			}
			if got := w.Counts().PINFailures; got != pinFailures {
				t.Errorf("Counts().PINFailures = %d, want %d", got, pinFailures)
			}
		})
	}
}

func TestJoinRejects(t *testing.T) {
	w := NewWriter(new(bytes.Buffer), 1)
	if _, err := w.Join(Flow(0), alice, "meet.alice", may14); err == nil || !strings.Contains(err.Error(), "unknown join flow Flow(0)") {
		t.Errorf("Join with flow 0: %v", err)
	}
	for _, alias := range []string{"", "a/b", "a?b", "a b"} {
		if _, err := w.Join(PexRTC, alice, alias, may14); err == nil || !strings.Contains(err.Error(), "not a URL path segment") {
			t.Errorf("Join with alias %q: %v", alias, err)
		}
		if err := w.Guess(alice, alias, may14); err == nil {
			t.Errorf("Guess with alias %q: no error", alias)
		}
	}
	if _, err := w.Join(PexRTC, netip.Addr{}, "meet.alice", may14); err == nil {
		t.Error("Join without an address: no error")
	}
	if len(w.queue) != 0 {
		t.Errorf("rejected joins queued %d lines", len(w.queue))
	}
}

// TestScenario scripts an office joining a meeting while a guesser attacks
// it, the kind of sequence scenario tests build, and checks it against a
// golden log.
func TestScenario(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	office := netip.MustParseAddr("100.64.7.1")
	attacker := netip.MustParseAddr("203.0.113.66")
	for i, flow := range []Flow{PexRTC, PexRTCTypo, SDK, SDKTypo, SSO, Open} {
		if _, err := w.Join(flow, office, "meet.alice%40example.com", may14.Add(time.Duration(i)*10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		if err := w.Guess(attacker, "meet.alice%40example.com", may14.Add(time.Duration(i)*5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	golden(t, "scenario.log", out.Bytes())
	// 2+4+2+3+3+1 join calls, 1+3+1+2+2+0 of them 403s, and the guesses.
	if got, want := w.Counts(), (Counts{Lines: 15 + 12, PINFailures: 9 + 12}); got != want {
		t.Errorf("Counts() = %+v, want %+v", got, want)
	}
}

func TestNodeIndex(t *testing.T) {
	// nginx's ip_hash over four equal nodes.
	tests := []struct {
		addr string
		node int
	}{
		{"198.51.100.23", 0}, // (((89*113+198)%6271*113+51)%6271*113+100)%6271 = 936
		{"198.51.100.200", 0},
		{"100.64.7.1", nodeIndex(netip.MustParseAddr("100.64.7.254"))},
	}
	for _, tt := range tests {
		if got := nodeIndex(netip.MustParseAddr(tt.addr)); got != tt.node {
			t.Errorf("nodeIndex(%s) = %d, want %d", tt.addr, got, tt.node)
		}
	}
	seen := map[int]bool{}
	for i := range 256 {
		seen[nodeIndex(netip.AddrFrom4([4]byte{100, 64, byte(i), 1}))] = true
		seen[nodeIndex(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))] = true
	}
	if len(seen) != numNodes {
		t.Errorf("256 /24s and IPv6 addresses reach %d nodes, want %d", len(seen), numNodes)
	}
}

func TestAttackRequests(t *testing.T) {
	attacker := netip.MustParseAddr("2001:db8:a77a:1::9")
	tests := []struct {
		name  string
		queue func(*Writer) error
		want  string
		// The line counted as what.
		counts Counts
	}{{
		name:   "wrong PIN",
		queue:  func(w *Writer) error { return w.Guess(attacker, "meet.alice%40example.com", may14) },
		want:   `2001:db8:a77a:1::9 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.13:443" "403" "0.041"`,
		counts: Counts{Lines: 1, PINFailures: 1},
	}, {
		name:   "wrong password",
		queue:  func(w *Writer) error { return w.GuessPassword(attacker, "alice%40example.com", may14) },
		want:   `2001:db8:a77a:1::9 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/registrations/alice%40example.com/request_token HTTP/1.1" 401 12 "-" "python-requests/2.31.0" "10.44.0.13:443" "401" "0.020"`,
		counts: Counts{Lines: 1, RegistrationFailures: 1},
	}, {
		name:   "unknown alias",
		queue:  func(w *Writer) error { return w.TryAlias(attacker, "4711", may14) },
		want:   `2001:db8:a77a:1::9 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/conferences/4711/request_token HTTP/1.1" 404 74 "-" "python-requests/2.31.0" "10.44.0.13:443" "404" "0.012"`,
		counts: Counts{Lines: 1, UnknownAliases: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, 1)
			if err := tt.queue(w); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want+"\n" {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if got := w.Counts(); got != tt.counts {
				t.Errorf("Counts() = %+v, want %+v", got, tt.counts)
			}
		})
	}
}

func TestAttackRequestsReject(t *testing.T) {
	w := NewWriter(new(bytes.Buffer), 1)
	for _, alias := range []string{"", "a/b", "a?b", "a b"} {
		if err := w.GuessPassword(alice, alias, may14); err == nil || !strings.Contains(err.Error(), "not a URL path segment") {
			t.Errorf("GuessPassword with user %q: %v", alias, err)
		}
		if err := w.TryAlias(alice, alias, may14); err == nil || !strings.Contains(err.Error(), "not a URL path segment") {
			t.Errorf("TryAlias with alias %q: %v", alias, err)
		}
	}
	if err := w.TryAlias(netip.Addr{}, "4711", may14); err == nil {
		t.Error("TryAlias without an address: no error")
	}
	if len(w.queue) != 0 {
		t.Errorf("rejected requests queued %d lines", len(w.queue))
	}
}

func TestRegister(t *testing.T) {
	for wrong := range 3 {
		t.Run(strconv.Itoa(wrong)+" wrong", func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, 1)
			end, err := w.Register(alice, "alice%40example.com", wrong, may14)
			if err != nil {
				t.Fatal(err)
			}
			if want := may14.Add(time.Duration(wrong) * 8 * time.Second); !end.Equal(want) {
				t.Errorf("Register returned %v, want %v", end, want)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var statuses []string
			for line := range strings.Lines(out.String()) {
				r, err := parseLine(strings.TrimSuffix(line, "\n"))
				if err != nil {
					t.Fatal(err)
				}
				if r.Method != "POST" || r.Path != "/api/client/v2/registrations/alice%40example.com/request_token" || r.UserAgent != sdkAgent {
					t.Errorf("not a registration: %q", line)
				}
				statuses = append(statuses, strconv.Itoa(r.Status))
			}
			want := strings.TrimSpace(strings.Repeat("401 ", wrong) + "200")
			if got := strings.Join(statuses, " "); got != want {
				t.Errorf("statuses %s, want %s", got, want)
			}
			if got := w.Counts(); got != (Counts{Lines: wrong + 1, RegistrationFailures: wrong}) {
				t.Errorf("Counts() = %+v", got)
			}
		})
	}
	w := NewWriter(new(bytes.Buffer), 1)
	if _, err := w.Register(alice, "alice%40example.com", -1, may14); err == nil {
		t.Error("Register with -1 wrong passwords: no error")
	}
	if _, err := w.Register(alice, "a/b", 1, may14); err == nil {
		t.Error("Register of user a/b: no error")
	}
	if _, err := w.Register(netip.Addr{}, "alice", 2, may14); err == nil {
		t.Error("Register without an address: no error")
	}
	if len(w.queue) != 0 {
		t.Errorf("rejected registrations queued %d lines", len(w.queue))
	}
}

func TestOutage(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	// Queued before the outage is declared: not retried.
	if err := w.Guess(alice, "meet.alice", may14.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Outage(may14.Add(10*time.Second), may14.Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{0, 10, 39, 40} {
		if err := w.Guess(alice, "meet.alice", may14.Add(at*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Join(PexRTC, alice, "meet.bob", may14.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(out.String()) {
		r, err := parseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		var ups []string
		for _, u := range r.Upstreams {
			ups = append(ups, u.Addr.String()+"="+strconv.Itoa(u.Status))
		}
		got = append(got, fmt.Sprintf("+%v %d %s", r.Time.Sub(may14), r.Status, strings.Join(ups, ",")))
	}
	want := []string{
		"+0s 403 10.44.0.11:443=403",
		"+10s 403 10.44.0.11:443=502,10.44.0.12:443=403",
		"+20s 403 10.44.0.11:443=502,10.44.0.12:443=403",
		"+28s 200 10.44.0.11:443=502,10.44.0.12:443=200",
		"+30s 403 10.44.0.11:443=403",
		"+39s 403 10.44.0.11:443=502,10.44.0.12:443=403",
		"+40s 403 10.44.0.11:443=403",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The retried 403s are PIN failures too: the client got a 403.
	if c := w.Counts(); c.PINFailures != 6 {
		t.Errorf("Counts().PINFailures = %d, want 6", c.PINFailures)
	}
	if err := w.Outage(may14, may14); err == nil {
		t.Error("an outage that ends when it starts: no error")
	}
}

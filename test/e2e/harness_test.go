package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReverseProxyLogsPexapplog checks the harness itself: the node's PIN
// answers reach the client through nginx, and nginx logs them in the RP's
// pexapplog format, one line per request_token.
func TestReverseProxyLogsPexapplog(t *testing.T) {
	rp := newReverseProxy(t)
	attacker, user := rp.client(attackerAddr), rp.client(userAddr)
	user.join(t, 0)
	attacker.wrongPIN(t)

	const line = `^(10\.200\.0\.[23]) - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]  ` +
		`"POST /api/client/v2/conferences/meet\.alice/request_token HTTP/1\.1" (\d{3}) \d+ ` +
		`"https://10\.200\.0\.1/webapp/" "pinjail-e2e" "127\.0\.0\.1:\d+" "(\d{3})" "\d+\.\d{3}"$`
	want := []string{"10.200.0.3 403", "10.200.0.3 200", "10.200.0.2 403"}
	re := regexp.MustCompile(line)
	var lines []string
	// nginx writes a line once the response is sent, so the last one may
	// land just after the client has its answer.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(rp.nginx.apiLog)
		if err != nil {
			t.Fatal(err)
		}
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("api.access.log has %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %d is not in the pexapplog format:\n%s", i+1, l)
			continue
		}
		if m[2] != m[3] {
			t.Errorf("line %d: status %s but upstream status %s:\n%s", i+1, m[2], m[3], l)
		}
		if got := m[1] + " " + m[2]; got != want[i] {
			t.Errorf("line %d: %s, want %s:\n%s", i+1, got, want[i], l)
		}
	}
}

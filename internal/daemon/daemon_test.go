package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/client"
	"github.com/pinjail/pinjail/internal/enforce"
)

// testDaemon is a daemon on temporary files with a dry-run enforcer.
type testDaemon struct {
	dir, log, db, sock string
	logger             *slog.Logger // nil for the test's output
	// daemonIntervals keeps the daemon's own save and reconcile
	// intervals rather than the tests' short ones.
	daemonIntervals bool
	enf             *enforce.Log
	reg             *prometheus.Registry
	d               *Daemon
	done            chan error
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newTestDaemon(t testing.TB, dir, local string) *testDaemon {
	t.Helper()
	return startTestDaemon(t, &testDaemon{dir: dir}, local)
}

// startTestDaemon writes td's configuration, with the pexiprp jail alone
// and local added to its section, and starts it.
func startTestDaemon(t testing.TB, td *testDaemon, local string) *testDaemon {
	t.Helper()
	dir := td.dir
	td.log, td.db, td.sock = filepath.Join(dir, "api.access.log"), filepath.Join(dir, "pinjail.db"), filepath.Join(dir, "run", "pinjail.sock")
	writeFile(t, filepath.Join(dir, "jail.local"), fmt.Sprintf(`[pexiprp-slow]
enabled = false
[pexip-registration]
enabled = false
[pexip-aliasscan]
enabled = false
[pexiprp]
logpath = %s
%s
`, td.log, local))
	if _, err := os.Stat(td.log); err != nil {
		writeFile(t, td.log, "")
	}
	td.start(t)
	return td
}

func (td *testDaemon) start(t testing.TB) {
	t.Helper()
	s := DefaultSettings()
	s.DBFile, s.Socket = td.db, td.sock
	if !td.daemonIntervals {
		s.ReconcileInterval, s.SaveInterval = time.Hour, 10*time.Millisecond
	}
	td.enf = enforce.NewLog(nil, nil)
	td.reg = prometheus.NewRegistry()
	logger := td.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	d, err := New(Options{ConfigDir: td.dir, Builtin: builtin.FS(), Settings: s, Enforcer: td.enf, Registry: td.reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	td.d, td.done = d, make(chan error, 1)
	go func() { td.done <- d.Run(context.Background()) }()
	t.Cleanup(td.stop)
	td.waitFor(t, "the control socket", func() bool {
		_, err := client.New(td.sock).Status(context.Background())
		return err == nil
	})
}

func (td *testDaemon) stop() {
	if td.d == nil {
		return
	}
	td.d.Stop()
	<-td.done
	td.d = nil
}

func (td *testDaemon) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// appendGuesses logs n wrong PINs of addr on alias, now.
func (td *testDaemon) appendGuesses(t *testing.T, addr, alias string, n int) {
	t.Helper()
	f, err := os.OpenFile(td.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range n {
		fmt.Fprintf(f, "%s - - [%s]  \"POST /api/client/v2/conferences/%s/request_token HTTP/1.1\" 403 46 \"-\" \"curl/8\" \"10.0.0.1:443\" \"403\" \"0.01\"\n",
			addr, time.Now().Format("02/Jan/2006:15:04:05 -0700"), alias)
	}
}

func (td *testDaemon) firewallHas(jail, addr string) bool {
	return slices.ContainsFunc(td.enf.Banned(jail), func(b enforce.Ban) bool { return b.Prefix.Addr().String() == addr })
}

func TestBanRestartUnban(t *testing.T) {
	dir := t.TempDir()
	td := newTestDaemon(t, dir, "mode = strict\nmaxretry = 3\nroombudget = 0")
	c := client.New(td.sock)
	ctx := context.Background()

	td.appendGuesses(t, "198.51.100.7", "meet", 3)
	td.waitFor(t, "the ban in the firewall", func() bool { return td.firewallHas("pexiprp", "198.51.100.7") })
	// Two failures of another address are counted, not banned.
	td.appendGuesses(t, "198.51.100.8", "meet", 2)
	td.waitFor(t, "the failures", func() bool {
		st, err := c.JailStatus(ctx, "pexiprp")
		return err == nil && st.TotalFailed == 5
	})

	// A restart keeps the ban and the failure count: one more failure bans.
	td.stop()
	td.start(t)
	if !td.firewallHas("pexiprp", "198.51.100.7") {
		t.Fatal("ban not restored into the firewall")
	}
	td.appendGuesses(t, "198.51.100.8", "meet", 1)
	td.waitFor(t, "the second ban after restart", func() bool { return td.firewallHas("pexiprp", "198.51.100.8") })

	banned, err := c.Banned(ctx, "198.51.100.7")
	if err != nil || len(banned) != 1 || banned[0].Jail != "pexiprp" {
		t.Fatalf("banned: %+v %v", banned, err)
	}
	if n, err := c.Unban(ctx, "pexiprp", "198.51.100.7"); err != nil || n != 1 {
		t.Fatalf("unban: %d %v", n, err)
	}
	if td.firewallHas("pexiprp", "198.51.100.7") {
		t.Fatal("unban left the firewall element")
	}
	if n, err := c.Ban(ctx, "pexiprp", "2001:db8::/64"); err != nil || n != 1 {
		t.Fatalf("manual prefix ban: %d %v", n, err)
	}
	if _, err := c.Ban(ctx, "pexiprp", "not-an-address"); err == nil {
		t.Error("a bad address was accepted")
	}
	if _, err := c.JailStatus(ctx, "nope"); err == nil {
		t.Error("an unknown jail was accepted")
	}

	metrics := gather(t, td.reg)
	for name, want := range map[string]float64{
		"pinjail_lines_total":          1, // since the restart
		"pinjail_lines_matched_total":  1,
		"pinjail_failures_total":       1,
		"pinjail_bans_total":           2,
		"pinjail_banned":               2,
		"pinjail_unbans_total":         1,
		"pinjail_follower_lag_bytes":   0,
		"pinjail_tracked_ids":          -1, // present, any value
		"pinjail_enforce_errors_total": 0,
	} {
		got, ok := metrics[name]
		if !ok {
			t.Errorf("metric %s missing", name)
		} else if want >= 0 && got != want {
			t.Errorf("metric %s = %v, want %v", name, got, want)
		}
	}
}

// gather returns the registry's metrics of jail pexiprp (or with no jail
// label) by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			jailLabel := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "jail" {
					jailLabel = l.GetValue()
				}
			}
			if jailLabel != "" && jailLabel != "pexiprp" {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				out[f.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[f.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestReloadRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	td := newTestDaemon(t, dir, "mode = strict\nmaxretry = 2\nroombudget = 0")
	c := client.New(td.sock)
	ctx := context.Background()
	td.appendGuesses(t, "198.51.100.9", "meet", 2)
	td.waitFor(t, "the ban", func() bool { return td.firewallHas("pexiprp", "198.51.100.9") })

	writeFile(t, filepath.Join(dir, "jail.local"), "[pexiprp]\nmaxretry = lots\n")
	resp, err := c.Reload(ctx, "")
	if err != nil || len(resp.Errors) == 0 {
		t.Fatalf("a bad configuration was accepted: %+v %v", resp, err)
	}
	writeFile(t, filepath.Join(dir, "jail.local"), fmt.Sprintf("[pexiprp]\nlogpath = %s\nmode = strict\nmaxretry = 4\nroombudget = 0\n[pexiprp-slow]\nenabled = false\n[pexip-registration]\nenabled = false\n[pexip-aliasscan]\nenabled = false\n", td.log))
	if resp, err := c.Reload(ctx, ""); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("reload: %+v %v", resp, err)
	}
	// Bans survive the reload.
	if b, err := c.Banned(ctx, "198.51.100.9"); err != nil || len(b) != 1 {
		t.Fatalf("ban lost in reload: %+v %v", b, err)
	}
}

func TestAttackWebhook(t *testing.T) {
	got := make(chan AttackNotice, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n AttackNotice
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		got <- n
	}))
	defer srv.Close()
	dir := t.TempDir()
	td := newTestDaemon(t, dir, "mode = strict\nroombudget = 3\nattackwebhook = "+srv.URL)
	for i := range 6 {
		td.appendGuesses(t, fmt.Sprintf("198.18.0.%d", i+1), "board", 2)
	}
	select {
	case n := <-got:
		if n.Event != "room_under_attack" || n.Alias != "board" || n.Jail != "pexiprp" || !n.Until.After(n.Time) {
			t.Errorf("notice %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook call")
	}
	td.waitFor(t, "the attackers' bans", func() bool { return td.firewallHas("pexiprp", "198.18.0.1") })
}

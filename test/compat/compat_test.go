// Package compat checks that an admin's fail2ban configuration for a Pexip
// reverse proxy runs under pinjail unchanged: the seed jail.local (with
// fail2ban's own jail.conf, action.d and filter.d from the Debian package)
// loads, and the daemon bans through its shell actions.
package compat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/testenv"
)

// fail2banTree copies the installed /etc/fail2ban into a temporary
// directory and adds the seed jail.local, unchanged.
func fail2banTree(t *testing.T) string {
	t.Helper()
	testenv.RequireFile(t, "/etc/fail2ban/jail.conf")
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if out, err := exec.Command("cp", "-a", "/etc/fail2ban", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying /etc/fail2ban: %v: %s", err, out)
	}
	seed, err := os.ReadFile("testdata/seed-jail.local")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), seed, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSeedJailLocalLoads(t *testing.T) {
	dir := fail2banTree(t)
	cfg, err := config.Load(dir, config.Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Problems {
		if p.Severity == config.SeverityError {
			t.Errorf("problem: %v", p)
		}
	}
	j := cfg.Jail("pexiprp")
	if j == nil || !j.Enabled || j.Err != nil {
		t.Fatalf("pexiprp: %+v", j)
	}
	if j.MaxRetry != 3 || j.FindTime != 300*time.Second || j.BanTime != 300*time.Second {
		t.Errorf("pexiprp: maxretry %d findtime %v bantime %v, want 3, 5m, 5m", j.MaxRetry, j.FindTime, j.BanTime)
	}
	var names []string
	for _, a := range j.Actions {
		names = append(names, a.Name)
	}
	if strings.Join(names, " ") != "iptables-multiport sendmail-whois-lines" {
		t.Errorf("actions %v, want iptables-multiport sendmail-whois-lines", names)
	}
	// The tree has no pexiprp filter: pinjail's built-in one applies.
	if !strings.HasPrefix(j.Filter.File, "(builtin)") {
		t.Errorf("filter from %s, want the built-in one", j.Filter.File)
	}
}

// TestSeedJailLocalBans runs the daemon on the seed configuration in a
// network namespace of its own and checks that a PIN guesser lands in
// iptables-multiport's chain there.
func TestSeedJailLocalBans(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	testenv.RequireCommand(t, "iptables")
	dir := fail2banTree(t)
	work := t.TempDir()
	logPath := filepath.Join(work, "pexapp.access.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Where the test runs differs from the proxy, not the admin's files:
	// a jail.d .local (read after jail.local) points the jail at the
	// test's log and keeps the other jails off.
	local := fmt.Sprintf("[pexiprp]\nlogpath = %s\n[sshd]\nenabled = false\n", logPath)
	if err := os.WriteFile(filepath.Join(dir, "jail.d", "zz-test.local"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}

	ns := testenv.NewNetNS(t, "pj-compat").Name

	bin := filepath.Join(work, "pinjail")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/pinjail").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	sock := filepath.Join(work, "pinjail.sock")
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	daemon := exec.CommandContext(ctx, "ip", "netns", "exec", ns, bin, "--config-dir", dir, "run",
		"--db", filepath.Join(work, "pinjail.db"), "--socket", sock)
	daemon.Stderr = &stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		daemon.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr.String())
		}
	})
	waitFor(t, "the daemon", func() bool {
		return exec.Command(bin, "status", "--socket", sock).Run() == nil
	})

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Join accounting holds the first five 403s; the sixth releases them.
	for range 6 {
		fmt.Fprintf(f, "198.51.100.7 - - [%s]  \"POST /api/client/v2/conferences/meet/request_token HTTP/1.1\" 403 46 \"-\" \"python-requests/2.31\" \"10.0.0.1:443\" \"403\" \"0.01\"\n",
			time.Now().Format("02/Jan/2006:15:04:05 -0700"))
	}
	f.Close()
	waitFor(t, "the iptables ban", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "iptables", "-S", "f2b-pexiprp").CombinedOutput()
		return bytes.Contains(out, []byte("-s 198.51.100.7/32"))
	})
	out, _ := exec.Command("ip", "netns", "exec", ns, "iptables", "-S", "INPUT").CombinedOutput()
	// The seed sets no port for pexiprp, so fail2ban's default (all ports)
	// applies, as it would under fail2ban.
	if !bytes.Contains(out, []byte("--dports 0:65535 -j f2b-pexiprp")) {
		t.Errorf("INPUT chain does not send traffic to f2b-pexiprp:\n%s", out)
	}
	if out, err := exec.Command(bin, "unban", "pexiprp", "198.51.100.7", "--socket", sock).CombinedOutput(); err != nil {
		t.Fatalf("unban: %v: %s", err, out)
	}
	waitFor(t, "the iptables unban", func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "iptables", "-S", "f2b-pexiprp").CombinedOutput()
		return !bytes.Contains(out, []byte("198.51.100.7"))
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

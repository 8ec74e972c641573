package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/testenv"
)

// binDir holds the pinjail binary the tests build, once per run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pinjail-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildPinjail = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "pinjail")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pinjail/pinjail/cmd/pinjail").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/pinjail: %w\n%s", err, out)
	}
	return bin, nil
})

// jail is the part of [pexiprp] a test chooses.
type jail struct {
	maxRetry          int
	findTime, banTime time.Duration
	// mode is the filter's mode; "strict" when empty.
	mode string
}

// jailName is the jail under test, the built-in Pexip jail.
const jailName = "pexiprp"

// pinjail is the daemon under test, running in the proxy namespace with
// its configuration, database and socket in the test's directory, and its
// own nftables table.
type pinjail struct {
	bin    string
	ns     *netNS
	dir    string // configuration directory; also holds the rest
	socket string
	table  string
	output string // the daemon's log, over all its runs

	cmd    *exec.Cmd
	exited chan struct{}
}

// startPinjail configures the Pexip jail on rp's API log and starts the
// daemon; it is stopped when t ends.
func startPinjail(t testing.TB, rp *reverseProxy, j jail) *pinjail {
	t.Helper()
	testenv.RequireCommand(t, "go")
	bin, err := buildPinjail()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &pinjail{
		bin:    bin,
		ns:     rp.proxy,
		dir:    dir,
		socket: filepath.Join(dir, "pinjail.sock"),
		table:  fmt.Sprintf("pinjail_e2e_%08x", rand.Uint32()),
		output: filepath.Join(dir, "pinjail.log"),
	}
	tmpl, err := template.ParseFiles("testdata/jail.local")
	if err != nil {
		t.Fatal(err)
	}
	mode := j.mode
	if mode == "" {
		mode = "strict"
	}
	var conf bytes.Buffer
	err = tmpl.Execute(&conf, map[string]any{
		"Mode":     mode,
		"Log":      rp.nginx.apiLog,
		"MaxRetry": j.maxRetry,
		"FindTime": int(j.findTime.Seconds()),
		"BanTime":  int(j.banTime.Seconds()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			logFile(t, "pinjail output", p.output)
		}
	})
	p.start(t)
	return p
}

// start runs the daemon and waits until it answers for the jail.
func (p *pinjail) start(t testing.TB) {
	t.Helper()
	out, err := os.OpenFile(p.output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = p.ns.Command(p.bin, "--config-dir", p.dir, "--log-level", "debug", "run",
		"--db", filepath.Join(p.dir, "pinjail.db"),
		"--socket", p.socket,
		"--nft-table", p.table,
		"--reconcile", "1s")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		p.cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.status()
		if err == nil {
			return
		}
		select {
		case <-exited:
			logFile(t, "pinjail output", p.output)
			t.Fatalf("pinjail exited at start: %v", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pinjail does not answer for jail %s: %v", jailName, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the daemon with SIGTERM, as systemd does.
func (p *pinjail) stop(t testing.TB) {
	t.Helper()
	if p.running() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			t.Errorf("pinjail did not stop on SIGTERM")
		}
	}
}

// kill kills the daemon with SIGKILL: no chance to save anything.
func (p *pinjail) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func (p *pinjail) running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// cli runs a pinjail control command against the daemon and returns its
// standard output.
func (p *pinjail) cli(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append(args, "--socket", p.socket)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("pinjail %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

func (p *pinjail) mustCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.cli(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// status returns the jail's counters, from `pinjail status pexiprp --json`.
func (p *pinjail) status() (api.JailStatus, error) {
	out, err := p.cli("status", jailName, "--json")
	if err != nil {
		return api.JailStatus{}, err
	}
	var st api.JailStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return api.JailStatus{}, fmt.Errorf("pinjail status --json: %w: %q", err, out)
	}
	return st, nil
}

// waitFailed waits until the jail has counted total failures, so that
// the test knows pinjail has read every line nginx wrote so far.
func (p *pinjail) waitFailed(t testing.TB, total uint64) {
	t.Helper()
	var st api.JailStatus
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, err = p.status()
		if err == nil && st.TotalFailed >= total {
			break
		}
	}
	switch {
	case err != nil:
		t.Fatal(err)
	case st.TotalFailed != total:
		t.Fatalf("pinjail counted %d failures, want %d", st.TotalFailed, total)
	}
}

// settledFailures waits until the jail's failure total stays put for a
// while, as after a restart pinjail reads again the lines it had not
// saved, and returns it.
func (p *pinjail) settledFailures(t testing.TB) uint64 {
	t.Helper()
	const quiet = 500 * time.Millisecond
	last, since := ^uint64(0), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := p.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalFailed != last {
			last, since = st.TotalFailed, time.Now()
		} else if time.Since(since) >= quiet {
			return last
		}
	}
	t.Fatalf("pinjail's failure total does not settle")
	return 0
}

// banned returns the kernel's ban of addr in the jail's IPv4 set, in the
// proxy namespace; ok is false when the set does not hold addr, err not
// nil when the set cannot be listed.
func (p *pinjail) banned(addr netip.Addr) (b kernelBan, ok bool, err error) {
	bans, err := p.kernelBans()
	if err != nil {
		return kernelBan{}, false, err
	}
	b, ok = bans[addr]
	return b, ok, nil
}

// kernelBan is a set element: its timeout and the time left of it, both
// zero for a permanent ban.
type kernelBan struct {
	timeout, expires time.Duration
}

// kernelBans lists the elements of the jail's IPv4 address set with nft.
func (p *pinjail) kernelBans() (map[netip.Addr]kernelBan, error) {
	out, err := p.ns.nft("-j", "list", "set", "inet", p.table, jailName+"-v4")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("nft -j list set: %w", err)
	}
	bans := make(map[netip.Addr]kernelBan)
	for _, obj := range doc.Nftables {
		if obj.Set == nil {
			continue
		}
		for _, raw := range obj.Set.Elem {
			addr, b, err := parseElem(raw)
			if err != nil {
				return nil, err
			}
			bans[addr] = b
		}
	}
	return bans, nil
}

// parseElem reads a set element as nft -j prints it: "10.0.0.1", or
// {"elem": {"val": "10.0.0.1", "timeout": 60, "expires": 59}}.
func parseElem(raw json.RawMessage) (netip.Addr, kernelBan, error) {
	var val string
	var b kernelBan
	if err := json.Unmarshal(raw, &val); err != nil {
		var wrapped struct {
			Elem struct {
				Val              string
				Timeout, Expires int64
			}
		}
		if err := json.Unmarshal(raw, &wrapped); err != nil {
			return netip.Addr{}, b, fmt.Errorf("set element %s: %w", raw, err)
		}
		val = wrapped.Elem.Val
		b = kernelBan{time.Duration(wrapped.Elem.Timeout) * time.Second, time.Duration(wrapped.Elem.Expires) * time.Second}
	}
	addr, err := netip.ParseAddr(val)
	return addr, b, err
}

// waitBanned waits until the kernel holds a ban of c, then checks at the
// packet level that c can no longer connect. It returns the ban and when
// it was first seen.
func (p *pinjail) waitBanned(t testing.TB, c *client) (kernelBan, time.Time) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var b kernelBan
		var ok bool
		if b, ok, err = p.banned(c.addr); ok {
			seen := time.Now()
			c.expectBlocked(t)
			return b, seen
		}
	}
	t.Fatalf("%s is not banned in the kernel set %s (last error: %v)", c, jailName+"-v4", err)
	return kernelBan{}, time.Time{}
}

// bannedWithin polls the kernel set for a ban of addr for up to d.
func (p *pinjail) bannedWithin(addr netip.Addr, d time.Duration) (kernelBan, bool) {
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if b, ok, err := p.banned(addr); err == nil && ok {
			return b, true
		}
		if time.Now().After(deadline) {
			return kernelBan{}, false
		}
	}
}

// expectNotBanned checks that the kernel holds no ban of c and that c
// connects.
func (p *pinjail) expectNotBanned(t testing.TB, c *client) {
	t.Helper()
	b, ok, err := p.banned(c.addr)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatalf("%s is banned in the kernel (%+v), want it not banned", c, b)
	}
	c.expectOpen(t)
}

// tableOnHost reports whether the host namespace has the daemon's table.
// It only lists; the host's firewall is never changed.
func (p *pinjail) tableOnHost() bool {
	err := exec.Command("nft", "list", "table", "inet", p.table).Run()
	var ee *exec.ExitError
	return err == nil || !errors.As(err, &ee)
}

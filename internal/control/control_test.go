package control_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/client"
	"github.com/pinjail/pinjail/internal/control"
	"github.com/pinjail/pinjail/internal/testenv"
)

// backend is an in-memory daemon: the control server's contract is what is
// under test here, the daemon has its own tests.
type backend struct {
	mu      sync.Mutex
	bans    map[string][]string
	stopped chan struct{}
}

func newBackend() *backend {
	return &backend{bans: map[string][]string{"pexiprp": nil, "sshd": nil}, stopped: make(chan struct{})}
}

func (b *backend) Status() api.Status { return api.Status{Jails: []string{"pexiprp", "sshd"}} }

func (b *backend) JailStatus(j string) (api.JailStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ips, ok := b.bans[j]
	if !ok {
		return api.JailStatus{}, &control.NotFoundError{Jail: j}
	}
	return api.JailStatus{Name: j, CurrentlyBanned: len(ips), BannedIPs: ips}, nil
}

func (b *backend) Ban(_ context.Context, j, a string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.bans[j]; !ok {
		return 0, &control.NotFoundError{Jail: j}
	}
	if net.ParseIP(a) == nil {
		return 0, &control.InputError{Err: errors.New("not an address: " + a)}
	}
	b.bans[j] = append(b.bans[j], a)
	return 1, nil
}

func (b *backend) Unban(_ context.Context, j, a string) (int, error) { return 0, nil }
func (b *backend) UnbanAll(context.Context) (int, error)             { return 0, nil }
func (b *backend) Banned(string) []api.Banned                        { return nil }
func (b *backend) Reload(_ context.Context, j string) api.ReloadResponse {
	return api.ReloadResponse{Errors: []string{"jail.local:3: bad"}}
}
func (b *backend) Stop() { close(b.stopped) }

func serve(t *testing.T) (string, *backend) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "pinjail.sock")
	be := newBackend()
	s, err := control.Listen(path, be, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return path, be
}

func TestRoundTrip(t *testing.T) {
	path, be := serve(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", dst.Mode().Perm())
	}
	c := client.New(path)
	ctx := context.Background()
	s, err := c.Status(ctx)
	if err != nil || strings.Join(s.Jails, ",") != "pexiprp,sshd" {
		t.Fatalf("Status = %v, %v", s, err)
	}
	if n, err := c.Ban(ctx, "pexiprp", "192.0.2.7"); n != 1 || err != nil {
		t.Fatalf("Ban = %d, %v", n, err)
	}
	js, err := c.JailStatus(ctx, "pexiprp")
	if err != nil || js.CurrentlyBanned != 1 || js.BannedIPs[0] != "192.0.2.7" {
		t.Fatalf("JailStatus = %+v, %v", js, err)
	}
	var ae *client.APIError
	if _, err := c.JailStatus(ctx, "nope"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("unknown jail: %v", err)
	}
	if _, err := c.Ban(ctx, "pexiprp", "not-an-ip"); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("bad address: %v", err)
	}
	if r, err := c.Reload(ctx, ""); err != nil || len(r.Errors) != 1 {
		t.Errorf("Reload = %+v, %v", r, err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-be.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not reach the backend")
	}
}

func TestNotRunning(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Status(context.Background()); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("err = %v, want ErrNotRunning", err)
	}
}

func TestSecondDaemonRefusedStaleSocketReplaced(t *testing.T) {
	path, _ := serve(t)
	if _, err := control.Listen(path, newBackend(), nil); err == nil || !strings.Contains(err.Error(), "another pinjail") {
		t.Fatalf("second Listen: %v", err)
	}
	// A socket file nobody listens on is stale and gets replaced.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	s, err := control.Listen(stale, newBackend(), nil)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	s.Shutdown(context.Background())
}

func TestBrowserRequestRefused(t *testing.T) {
	path, _ := serve(t)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	req, _ := http.NewRequest(http.MethodGet, "http://pinjail"+api.PathStatus, nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

// TestNonRootRefused opens the socket to everyone and connects as nobody:
// the peer-credential check must still refuse.
func TestNonRootRefused(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.RequireCommand(t, "setpriv")
	// Debian's python, readable by nobody (a pyenv shim under /root is not).
	py := "/usr/bin/python3"
	testenv.RequireFile(t, py)
	dir, err := os.MkdirTemp("", "pinjail-ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "pinjail.sock")
	s, err := control.Listen(path, newBackend(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	os.Chmod(dir, 0o755)
	os.Chmod(path, 0o666)
	script := `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /v1/status HTTP/1.0\r\nHost: pinjail\r\n\r\n")
print(s.recv(4096).decode().split("\r\n")[0])`
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "403") {
		t.Fatalf("nobody got %q, want 403", out)
	}
}

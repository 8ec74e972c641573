package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// nginx is the reverse proxy's nginx, running in the proxy namespace.
type nginx struct {
	apiLog   string // the pexapplog access log of /api
	errorLog string
	proc     *os.Process
	exited   chan struct{}
}

// startNginx runs nginx in ns, listening with TLS on addr:443 and
// proxying /api to node, until t ends. It returns once nginx accepts
// connections.
func startNginx(t testing.TB, ns *netNS, addr netip.Addr, node string, cert certificate) *nginx {
	t.Helper()
	// nginx's workers run as nobody and reopen the logs themselves on
	// SIGUSR1, so its directory must be open to them, which t.TempDir's
	// are not.
	dir, err := os.MkdirTemp("", "pinjail-e2e-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	cert.write(t, filepath.Join(dir, "rp.crt"), filepath.Join(dir, "rp.key"))
	n := &nginx{apiLog: filepath.Join(dir, "api.access.log"), errorLog: filepath.Join(dir, "error.log"), exited: make(chan struct{})}
	tmpl, err := template.ParseFiles("testdata/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.Create(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.Execute(conf, map[string]string{
		"Dir":    dir,
		"Listen": netip.AddrPortFrom(addr, 443).String(),
		"Node":   node,
		"APILog": n.apiLog,
	})
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := ns.Command("nginx", "-p", dir, "-c", conf.Name(), "-e", n.errorLog)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec runs nginx in its own process, so this is nginx's
	// master.
	n.proc = cmd.Process
	go func() {
		cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.proc.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			n.proc.Kill()
			<-n.exited
			t.Errorf("nginx did not stop on SIGTERM")
		}
		if t.Failed() {
			logFile(t, "nginx error log", n.errorLog)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var c net.Conn
		err := ns.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(addr, 443).String(), time.Second)
			return err
		})
		if err == nil {
			c.Close()
			return n
		}
		select {
		case <-n.exited:
			logFile(t, "nginx output", out.Name())
			t.Fatalf("nginx exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reopenLogs asks nginx to reopen its logs, as logrotate's postrotate
// does on the RP, and waits until its worker, which writes the access
// log, has done so.
func (n *nginx) reopenLogs(t testing.TB) {
	t.Helper()
	// The worker logs this notice and reopens in the same step, before it
	// serves another request.
	workerReopened := regexp.MustCompile(`(?m)\[notice\] (\d+)#\d+: reopening logs$`)
	count := func() int {
		b, err := os.ReadFile(n.errorLog)
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for _, m := range workerReopened.FindAllSubmatch(b, -1) {
			if string(m[1]) != strconv.Itoa(n.proc.Pid) {
				c++
			}
		}
		return c
	}
	before := count()
	if err := n.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count() == before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nginx's worker did not reopen its logs after SIGUSR1")
		}
	}
}

// certificate is the proxy's self-signed certificate.
type certificate struct {
	der []byte
	key *ecdsa.PrivateKey
}

func newCert(t testing.TB, addr netip.Addr) certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pinjail e2e reverse proxy"},
		IPAddresses:           []net.IP{addr.AsSlice()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return certificate{der: der, key: key}
}

func (c certificate) pool(t testing.TB) *x509.CertPool {
	t.Helper()
	cert, err := x509.ParseCertificate(c.der)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p
}

func (c certificate) write(t testing.TB, certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o644),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// logFile logs the contents of a file, for a failed test's diagnosis.
func logFile(t testing.TB, what, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s: %v", what, err)
		return
	}
	t.Logf("%s (%s):\n%s", what, path, b)
}

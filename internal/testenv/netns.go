package testenv

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// NetNS is a network namespace that exists for one test only, so that no
// test ever touches the host's firewall or network.
type NetNS struct {
	Name string
	file *os.File
}

// NewNetNS creates a namespace named after prefix, with loopback up, and
// deletes it when t ends. It skips or fails t without root or ip.
func NewNetNS(t testing.TB, prefix string) *NetNS {
	t.Helper()
	RequireRoot(t)
	RequireCommand(t, "ip")
	name := fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n := &NetNS{Name: name, file: f}
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// Fd returns the namespace's file descriptor, for netlink sockets opened
// in it.
func (n *NetNS) Fd() int { return int(n.file.Fd()) }

// IP runs `ip -n NAME args...`.
func (n *NetNS) IP(t testing.TB, args ...string) {
	t.Helper()
	Run(t, "ip", append([]string{"-n", n.Name}, args...)...)
}

// Command returns a command that runs name inside n.
func (n *NetNS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into n. Sockets stay in the
// namespace they were created in, so fn can open listeners and
// connections there that the rest of the test then uses from any thread.
func (n *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(netns.NsHandle(n.Fd())); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and exits with the goroutine, so no
			// other goroutine ever runs in the wrong namespace.
			errc <- fmt.Errorf("leave %s: %w", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Run runs a command and fails t if it fails, returning its output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

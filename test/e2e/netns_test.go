package e2e

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

// netNS is a network namespace that exists for one test only.
type netNS struct {
	name string
	file *os.File
}

// newNetNS creates a namespace with loopback up and deletes it when t ends.
func newNetNS(t testing.TB, role string) *netNS {
	t.Helper()
	name := fmt.Sprintf("pj-e2e-%s-%08x", role, rand.Uint32())
	run(t, "ip", "netns", "add", name)
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
	n := &netNS{name: name, file: f}
	n.ip(t, "link", "set", "lo", "up")
	return n
}

func (n *netNS) ip(t testing.TB, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", n.name}, args...)...)
}

// command returns a command that runs name inside n.
func (n *netNS) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// nft runs the nft tool inside n.
func (n *netNS) nft(args ...string) (string, error) {
	out, err := n.command("nft", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft %s in %s: %w: %s", strings.Join(args, " "), n.name, err, out)
	}
	return string(out), nil
}

// do runs fn on an OS thread switched into n. Sockets stay in the
// namespace they were created in, so fn can open listeners and
// connections there that the rest of the test then uses from any thread.
func (n *netNS) do(fn func() error) error {
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
		if err := netns.Set(netns.NsHandle(n.file.Fd())); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and exits with the goroutine, so no
			// other goroutine ever runs in the wrong namespace.
			errc <- fmt.Errorf("leave %s: %w", n.name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

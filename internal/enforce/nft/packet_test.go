package nft

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/enforce"
)

// TestPackets sends real connections from a client namespace to a proxy
// namespace, joined by a veth pair, and checks that bans block them.
func TestPackets(t *testing.T) {
	proxy, client := newNS(t), newNS(t)
	proxy.IP(t, "link", "add", "pj-proxy", "type", "veth", "peer", "name", "pj-client", "netns", client.Name)
	for _, side := range []struct {
		ns          *testNS
		dev, v4, v6 string
	}{
		{proxy, "pj-proxy", "10.200.0.1/24", "fd00:200::1/64"},
		{client, "pj-client", "10.200.0.2/24", "fd00:200::2/64"},
	} {
		side.ns.IP(t, "addr", "add", side.v4, "dev", side.dev)
		side.ns.IP(t, "addr", "add", side.v6, "dev", side.dev, "nodad")
		side.ns.IP(t, "link", "set", side.dev, "up")
	}
	for _, port := range []string{"8443", "8080"} {
		listen(t, proxy, "[::]:"+port)
	}
	const (
		v4Guarded   = "10.200.0.1:8443"
		v4Other     = "10.200.0.1:8080"
		v6Guarded   = "[fd00:200::1]:8443"
		clientV4    = "10.200.0.2/32"
		clientV6Net = "fd00:200::/64"
	)
	dial := func(addr string) error {
		return client.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	expect := func(addr string, open bool) {
		t.Helper()
		err := dial(addr)
		// A fresh veth pair on a loaded machine can miss the first
		// handshake; an open port must answer within a few tries.
		for try := 0; open && err != nil && try < 3; try++ {
			err = dial(addr)
		}
		if open && err != nil {
			t.Errorf("connect to %s: %v, want success", addr, err)
		}
		if !open && err == nil {
			t.Errorf("connect to %s succeeded, want it blocked", addr)
		}
	}

	e := proxy.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web", Ports: "8443"})
	expect(v4Guarded, true)
	expect(v6Guarded, true)

	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix(clientV4), Timeout: time.Hour})
	commit(t, e)
	expect(v4Guarded, false)
	expect(v4Other, true) // the jail guards port 8443 only
	expect(v6Guarded, true)

	e.Delete("web", mustPrefix(clientV4))
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix(clientV6Net), Timeout: time.Hour})
	commit(t, e)
	expect(v4Guarded, true)
	expect(v6Guarded, false)
	e.Delete("web", mustPrefix(clientV6Net))
	commit(t, e)
	expect(v6Guarded, true)

	// A rejecting jail answers with a TCP reset: the connection is refused
	// at once instead of timing out.
	start(t, e, enforce.Spec{Jail: "other", Ports: "8080", Block: "reject"})
	e.Add(enforce.Ban{Jail: "other", Prefix: mustPrefix(clientV4)})
	commit(t, e)
	if err := dial(v4Other); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to %s with a rejecting ban: %v, want connection refused", v4Other, err)
	}
	expect(v4Guarded, true)
	e.Delete("other", mustPrefix(clientV4))
	commit(t, e)
	expect(v4Other, true)

	// The kernel lifts a ban on time by itself.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix(clientV4), Timeout: 2 * time.Second})
	commit(t, e)
	banned := time.Now()
	expect(v4Guarded, false)
	time.Sleep(time.Until(banned.Add(2500 * time.Millisecond)))
	expect(v4Guarded, true)
	if elems := proxy.ruleset(t).sets["web-v4"].Elem; len(elems) != 0 {
		t.Errorf("web-v4 still holds %v after the timeout", elems)
	}
}

// listen accepts and closes connections on addr inside ns until the test
// ends.
func listen(t *testing.T, ns *testNS, addr string) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

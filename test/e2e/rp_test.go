package e2e

import (
	"crypto/x509"
	"net/netip"
	"testing"

	"github.com/pinjail/pinjail/internal/testenv"
)

// The test network: the proxy and three client addresses on one /24.
var (
	proxyAddr    = netip.MustParseAddr("10.200.0.1")
	attackerAddr = netip.MustParseAddr("10.200.0.2")
	userAddr     = netip.MustParseAddr("10.200.0.3")
	otherAddr    = netip.MustParseAddr("10.200.0.4")
)

// reverseProxy is a Pexip RP in its namespace, reachable from a client
// namespace over a veth pair: nginx in front of a conferencing node.
type reverseProxy struct {
	proxy, clients *netNS
	nginx          *nginx
	roots          *x509.CertPool
}

// newReverseProxy builds the network and starts the node and nginx; all
// of it goes away when t ends.
func newReverseProxy(t testing.TB) *reverseProxy {
	t.Helper()
	testenv.RequireRoot(t)
	for _, cmd := range []string{"ip", "nft", "nginx"} {
		testenv.RequireCommand(t, cmd)
	}
	proxy, clients := newNetNS(t, "proxy"), newNetNS(t, "client")
	proxy.IP(t, "link", "add", "rp0", "type", "veth", "peer", "name", "client0", "netns", clients.Name)
	proxy.IP(t, "addr", "add", proxyAddr.String()+"/24", "dev", "rp0")
	proxy.IP(t, "link", "set", "rp0", "up")
	for _, a := range []netip.Addr{attackerAddr, userAddr, otherAddr} {
		clients.IP(t, "addr", "add", a.String()+"/24", "dev", "client0")
	}
	clients.IP(t, "link", "set", "client0", "up")

	node := startNode(t, proxy, &conferencingNode{pins: map[string]string{room: roomPIN}})
	cert := newCert(t, proxyAddr)
	return &reverseProxy{
		proxy:   proxy,
		clients: clients,
		nginx:   startNginx(t, proxy, proxyAddr, node, cert),
		roots:   cert.pool(t),
	}
}

// client returns a client connecting from addr.
func (rp *reverseProxy) client(addr netip.Addr) *client {
	return newClient(rp.clients, addr, netip.AddrPortFrom(proxyAddr, 443), rp.roots)
}

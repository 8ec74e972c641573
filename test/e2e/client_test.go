package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// dialTimeout bounds a TCP connect. A ban drops the SYN, so a banned
// client's connect times out; the proxy answers an allowed one at once.
const dialTimeout = time.Second

// client is one source address in the client namespace.
type client struct {
	ns   *netNS
	addr netip.Addr
	rp   netip.AddrPort // the proxy's TLS listener
	http *http.Client
}

func newClient(ns *netNS, addr netip.Addr, rp netip.AddrPort, roots *x509.CertPool) *client {
	c := &client{ns: ns, addr: addr, rp: rp}
	c.http = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:     c.dial,
			TLSClientConfig: &tls.Config{RootCAs: roots},
			// Every request opens a new connection, as guessing scripts
			// commonly do, so a ban shows as a connect that times out.
			DisableKeepAlives: true,
		},
	}
	return c
}

func (c *client) String() string { return c.addr.String() }

// dial opens a connection from c's address, in the client namespace.
func (c *client) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: c.addr.AsSlice()}, Timeout: dialTimeout}
	var conn net.Conn
	err := c.ns.Do(func() (err error) {
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// connect opens a TCP connection to the proxy's port 443 and closes it.
func (c *client) connect() error {
	conn, err := c.dial(context.Background(), "tcp", c.rp.String())
	if err != nil {
		return err
	}
	return conn.Close()
}

// expectOpen fails t unless c can connect to the proxy.
func (c *client) expectOpen(t testing.TB) {
	t.Helper()
	if err := c.connect(); err != nil {
		t.Fatalf("%s: connect to %s: %v, want it open", c, c.rp, err)
	}
}

// expectBlocked fails t unless c's connection to the proxy times out, as
// it does when the proxy drops c's packets.
func (c *client) expectBlocked(t testing.TB) {
	t.Helper()
	err := c.connect()
	if err == nil {
		t.Fatalf("%s: connect to %s succeeded, want it dropped", c, c.rp)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: connect to %s: %v, want a timeout (dropped packets)", c, c.rp, err)
	}
}

// tokenReply is a request_token answer: the HTTP status and the JSON
// result.
type tokenReply struct {
	status int
	result json.RawMessage
}

// requestToken asks for a token to room, sending pin in the "pin" header
// unless it is empty, as Pexip's clients do.
func (c *client) requestToken(room, pin string) (tokenReply, error) {
	url := fmt.Sprintf("https://%s/api/client/v2/conferences/%s/request_token", c.rp, room)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"display_name":"e2e"}`)))
	if err != nil {
		return tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pinjail-e2e")
	// The web app's page, as a browser sends it.
	req.Header.Set("Referer", fmt.Sprintf("https://%s/webapp/", c.rp.Addr()))
	if pin != "" {
		req.Header.Set("pin", pin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return tokenReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenReply{}, err
	}
	var msg struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Status != "success" {
		return tokenReply{}, fmt.Errorf("request_token: HTTP %d, unexpected body %q", resp.StatusCode, body)
	}
	return tokenReply{status: resp.StatusCode, result: msg.Result}, nil
}

// The room every test joins, protected by roomPIN.
const (
	room     = "meet.alice"
	roomPIN  = "2468"
	wrongPIN = "1111"
)

// wrongPIN sends one wrong PIN and checks the node's "Invalid PIN".
func (c *client) wrongPIN(t testing.TB) {
	t.Helper()
	r, err := c.requestToken(room, wrongPIN)
	if err != nil {
		t.Fatalf("%s: wrong PIN: %v", c, err)
	}
	if r.status != http.StatusForbidden || string(r.result) != `"Invalid PIN"` {
		t.Fatalf("%s: wrong PIN: HTTP %d %s, want 403 \"Invalid PIN\"", c, r.status, r.result)
	}
}

// join joins the room as PexRTC, the web app, does: a request without a
// PIN gets the PIN prompt, the next one with the PIN gets a token. Each
// typo costs a wrong PIN and a new prompt first (reference/pexip.md §1.2).
func (c *client) join(t testing.TB, typos int) {
	t.Helper()
	c.pinPrompt(t)
	for range typos {
		c.wrongPIN(t)
		c.pinPrompt(t)
	}
	r, err := c.requestToken(room, roomPIN)
	if err != nil {
		t.Fatalf("%s: join with the PIN: %v", c, err)
	}
	var token struct{ Token string }
	if json.Unmarshal(r.result, &token); r.status != http.StatusOK || token.Token == "" {
		t.Fatalf("%s: join with the PIN: HTTP %d %s, want 200 with a token", c, r.status, r.result)
	}
}

// pinPrompt asks for a token without a PIN and checks the PIN prompt.
func (c *client) pinPrompt(t testing.TB) {
	t.Helper()
	r, err := c.requestToken(room, "")
	if err != nil {
		t.Fatalf("%s: request_token without a PIN: %v", c, err)
	}
	var prompt struct{ Pin string }
	if json.Unmarshal(r.result, &prompt); r.status != http.StatusForbidden || prompt.Pin != "required" {
		t.Fatalf("%s: request_token without a PIN: HTTP %d %s, want 403 with the PIN prompt", c, r.status, r.result)
	}
}

package rplog

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Flow is the sequence of request_token calls one client makes to join a
// conference, as Pexip's clients make them. Every PIN-protected join starts
// with a 403 PIN prompt, so even a join with the right PIN logs a failure
// for the pexiprp filter.
type Flow int

const (
	// PexRTC is a web app (PexRTC) user typing the right PIN: 403 PIN
	// prompt, 200 after 8 s.
	PexRTC Flow = iota + 1
	// PexRTCTypo is a web app user whose first PIN is wrong. The app starts
	// over after the error, so the prompt comes twice: 403 prompt, 403
	// Invalid PIN 6 s later, 403 prompt 7 s later, 200 6 s later.
	PexRTCTypo
	// SDK is an app built on Pexip's SDKs, right PIN: 403 prompt, 200 6 s
	// later.
	SDK
	// SDKTypo is an SDK app whose first PIN is wrong; it stays on its PIN
	// screen: 403 prompt, 403 Invalid PIN 6 s later, 200 6 s later.
	SDKTypo
	// SSO is a web app user of a conference behind single sign-on: 403
	// listing the identity providers, 403 redirect 3 s later, 200 20 s
	// later.
	SSO
	// Open is a join to a conference without a PIN: 200.
	Open
	// PexRTCTwoTypos is a web app user whose first two PINs are wrong; the
	// app starts over after each: 403 prompt, 403 Invalid PIN, 403 prompt,
	// 403 Invalid PIN, 403 prompt, 200, 6 or 7 s apart as in PexRTCTypo.
	PexRTCTwoTypos
	// SDKTwoTypos is an SDK app whose first two PINs are wrong: 403 prompt,
	// two 403 Invalid PIN and the 200, 6 s apart.
	SDKTwoTypos
)

func (f Flow) String() string {
	switch f {
	case PexRTC:
		return "pexrtc"
	case PexRTCTypo:
		return "pexrtc-typo"
	case SDK:
		return "sdk"
	case SDKTypo:
		return "sdk-typo"
	case SSO:
		return "sso"
	case Open:
		return "open"
	case PexRTCTwoTypos:
		return "pexrtc-2typos"
	case SDKTwoTypos:
		return "sdk-2typos"
	}
	return fmt.Sprintf("Flow(%d)", int(f))
}

// joinStep is one request_token call of a join: the answer, and the time
// since the call before, as a user takes it.
type joinStep struct {
	status, bytes int
	after         time.Duration
}

// Body sizes of request_token answers. The 403 bodies are JSON without
// gzip: the PIN prompt {"pin":"required",...}, "Invalid PIN", the list of
// identity providers and an SSO redirect.
const (
	tokenBytes    = 2211
	promptBytes   = 73
	invalidBytes  = 46
	idpListBytes  = 142
	redirectBytes = 436

	// Answers of registrations/<alias>/request_token: wrong credentials,
	// and the registration token.
	unauthorizedBytes = 12
	registrationBytes = 651
	// notFoundBytes is the 404 {"status":"success","result":"Neither
	// conference nor gateway found"}.
	notFoundBytes = 74
)

// steps returns the calls of f, nil for an unknown flow.
func (f Flow) steps() []joinStep {
	switch f {
	case PexRTC:
		return []joinStep{{403, promptBytes, 0}, {200, tokenBytes, 8 * time.Second}}
	case PexRTCTypo:
		return []joinStep{
			{403, promptBytes, 0}, {403, invalidBytes, 6 * time.Second},
			{403, promptBytes, 7 * time.Second}, {200, tokenBytes, 6 * time.Second},
		}
	case SDK:
		return []joinStep{{403, promptBytes, 0}, {200, tokenBytes, 6 * time.Second}}
	case SDKTypo:
		return []joinStep{{403, promptBytes, 0}, {403, invalidBytes, 6 * time.Second}, {200, tokenBytes, 6 * time.Second}}
	case SSO:
		return []joinStep{{403, idpListBytes, 0}, {403, redirectBytes, 3 * time.Second}, {200, tokenBytes, 20 * time.Second}}
	case Open:
		return []joinStep{{200, tokenBytes, 0}}
	case PexRTCTwoTypos:
		return []joinStep{
			{403, promptBytes, 0}, {403, invalidBytes, 6 * time.Second},
			{403, promptBytes, 7 * time.Second}, {403, invalidBytes, 6 * time.Second},
			{403, promptBytes, 7 * time.Second}, {200, tokenBytes, 6 * time.Second},
		}
	case SDKTwoTypos:
		return []joinStep{
			{403, promptBytes, 0}, {403, invalidBytes, 6 * time.Second},
			{403, invalidBytes, 6 * time.Second}, {200, tokenBytes, 6 * time.Second},
		}
	}
	return nil
}

// isWebApp reports whether f is a browser running the web app, which sends
// a referer; the SDKs send none.
func (f Flow) isWebApp() bool { return f != SDK && f != SDKTypo && f != SDKTwoTypos }

// The user agents and referer of scripted clients.
const (
	webAppAgent   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	webAppReferer = "https://meet.example.com/webapp/"
	sdkAgent      = "okhttp/4.12.0"
	guesserAgent  = "python-requests/2.31.0"
)

// Join queues the request_token calls of addr joining the conference alias
// with flow, the first at t, and returns the time of the last. alias is the
// path segment as the client sends it ("meet.alice%40example.com"). Join
// draws nothing from the seed, so scripting it never changes the traffic.
func (w *Writer) Join(flow Flow, addr netip.Addr, alias string, t time.Time) (time.Time, error) {
	steps := flow.steps()
	if steps == nil {
		return time.Time{}, fmt.Errorf("rplog: unknown join flow %v", flow)
	}
	if err := checkAlias(alias); err != nil {
		return time.Time{}, err
	}
	agent, referer := sdkAgent, ""
	if flow.isWebApp() {
		agent, referer = webAppAgent, webAppReferer
	}
	first := len(w.queue)
	for _, s := range steps {
		t = t.Add(s.after)
		upstreamTime := 36 * time.Millisecond
		if s.status == 200 {
			upstreamTime = 94 * time.Millisecond
		}
		err := w.Line(Request{
			Time: t, Addr: addr,
			Method: "POST", Path: conferencesPrefix + alias + "/request_token",
			Status: s.status, Bytes: s.bytes,
			Referer: referer, UserAgent: agent,
			Upstreams: w.scriptedUpstreams(addr, t, s.status, upstreamTime),
		})
		if err != nil {
			w.queue = w.queue[:first]
			return time.Time{}, fmt.Errorf("rplog: %v join: %w", flow, err)
		}
	}
	return t, nil
}

// Guess queues one wrong PIN for the conference alias from addr at t, sent
// by a script, as a guesser does: no referer, answered 403 "Invalid PIN".
// Like Join it draws nothing from the seed.
func (w *Writer) Guess(addr netip.Addr, alias string, t time.Time) error {
	return w.attack(addr, conferencesPrefix, alias, t, 403, invalidBytes, 41*time.Millisecond)
}

// GuessPassword queues one wrong password for the registration of the
// device alias user ("alice%40example.com") from addr at t, sent by a
// script: answered 401, which Pexip's stock filter does not watch.
func (w *Writer) GuessPassword(addr netip.Addr, user string, t time.Time) error {
	return w.attack(addr, registrationsPrefix, user, t, 401, unauthorizedBytes, 20*time.Millisecond)
}

// TryAlias queues a request_token from addr at t for a conference alias
// that does not exist, answered 404 "Neither conference nor gateway
// found": a scanner looking for rooms.
func (w *Writer) TryAlias(addr netip.Addr, alias string, t time.Time) error {
	return w.attack(addr, conferencesPrefix, alias, t, 404, notFoundBytes, 12*time.Millisecond)
}

// attack queues one scripted request_token of an attacker: prefix names the
// API (conferences or registrations), alias the conference or device.
func (w *Writer) attack(addr netip.Addr, prefix, alias string, t time.Time, status, size int, d time.Duration) error {
	if err := checkAlias(alias); err != nil {
		return err
	}
	return w.Line(Request{
		Time: t, Addr: addr,
		Method: "POST", Path: prefix + alias + "/request_token",
		Status: status, Bytes: size,
		UserAgent: guesserAgent,
		Upstreams: w.scriptedUpstreams(addr, t, status, d),
	})
}

// Register queues a Pexip app registering the device alias user
// ("alice%40example.com") from addr: wrong 401s for passwords the user
// mistyped, 8 s apart, then the 200, the first call at t. It returns the
// time of the last call. Like Join it draws nothing from the seed.
func (w *Writer) Register(addr netip.Addr, user string, wrong int, t time.Time) (time.Time, error) {
	if wrong < 0 {
		return time.Time{}, fmt.Errorf("rplog: negative number of wrong passwords %d", wrong)
	}
	if err := checkAlias(user); err != nil {
		return time.Time{}, err
	}
	first := len(w.queue)
	for i := range wrong + 1 {
		status, size := 401, unauthorizedBytes
		if i == wrong {
			status, size = 200, registrationBytes
		}
		if i > 0 {
			t = t.Add(8 * time.Second)
		}
		err := w.Line(Request{
			Time: t, Addr: addr,
			Method: "POST", Path: registrationsPrefix + user + "/request_token",
			Status: status, Bytes: size,
			UserAgent: sdkAgent,
			Upstreams: w.scriptedUpstreams(addr, t, status, 20*time.Millisecond),
		})
		if err != nil {
			w.queue = w.queue[:first]
			return time.Time{}, fmt.Errorf("rplog: registration: %w", err)
		}
	}
	return t, nil
}

// Outage makes the conferencing nodes fail the scripted calls (Join, Guess,
// GuessPassword, TryAlias, Register) queued from now on whose times are in
// [from, to): the node a client is sent to answers 502 at once, and nginx
// passes the request on to the next node, whose answer the client gets. The
// log then lists both ("10.44.0.11:443, 10.44.0.12:443" "502, 403"), the
// lines Pexip's stock filter misses. Traffic has retries of its own.
func (w *Writer) Outage(from, to time.Time) error {
	if !from.Before(to) {
		return fmt.Errorf("rplog: outage from %s to %s: it must end after it starts",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	w.outages = append(w.outages, outage{from, to})
	return nil
}

// outage is a span of time in which scripted calls are retried.
type outage struct{ from, to time.Time }

// scriptedUpstreams returns what nginx logs of a scripted call from addr at
// t whose answer, status, took d: the node ip_hash sends addr to, or during
// an outage a 502 from that node and the answer from the next one.
func (w *Writer) scriptedUpstreams(addr netip.Addr, t time.Time, status int, d time.Duration) []Upstream {
	node := nodeIndex(addr)
	for _, o := range w.outages {
		if !t.Before(o.from) && t.Before(o.to) {
			return []Upstream{
				{Addr: nodeAddr(node), Status: 502, Time: 2 * time.Millisecond},
				{Addr: nodeAddr(node + 1), Status: status, Time: d},
			}
		}
	}
	return []Upstream{{Addr: nodeAddr(node), Status: status, Time: d}}
}

// checkAlias reports an alias that would not be one path segment.
func checkAlias(alias string) error {
	if alias == "" || strings.ContainsAny(alias, "/? ") {
		return fmt.Errorf("rplog: alias %q is not a URL path segment", alias)
	}
	return nil
}

// The simulated reverse proxy passes requests to four conferencing nodes,
// 10.44.0.11:443 to 10.44.0.14:443.
const numNodes = 4

func nodeAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 44, 0, byte(11 + i%numNodes)}), 443)
}

// nodeIndex returns the node nginx's ip_hash picks first for addr: it hashes
// the /24 of an IPv4 address and the whole of an IPv6 one, so a client, and
// its neighbours, keep to one node.
func nodeIndex(addr netip.Addr) int {
	var key []byte
	if addr.Is4() {
		a := addr.As4()
		key = a[:3]
	} else {
		a := addr.As16()
		key = a[:]
	}
	h := 89
	for _, c := range key {
		h = (h*113 + int(c)) % 6271
	}
	return h % numNodes
}

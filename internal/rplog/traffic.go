package rplog

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// DefaultRate is the mean number of lines per virtual second that Traffic
// writes when TrafficOptions.Rate is zero: a busy reverse proxy.
const DefaultRate = 200

// MaxRate bounds TrafficOptions.Rate. Traffic simulates 40 minutes before
// Start, so its cost grows with the rate: at MaxRate the warm-up alone
// steps through 24 million requests.
const MaxRate = 10000

// TrafficOptions shape the background traffic of [Writer.Traffic].
type TrafficOptions struct {
	// Start is the virtual time of the first line; lines are written in
	// its location.
	Start time.Time
	// Lines is how many lines to write. With Until set, zero means no
	// limit.
	Lines int
	// Until, when set, ends the traffic at that virtual time: no line is
	// later, even if fewer than Lines were written.
	Until time.Time
	// Rate is the mean number of lines per virtual second, at most
	// MaxRate; DefaultRate when zero.
	Rate float64
	// LegitimateOnly leaves the attackers out (PIN guessers, registration
	// guessers, alias scanners): a background none of whose addresses
	// should ever be banned, for scenarios that script their attackers.
	LegitimateOnly bool
}

// Traffic writes opts.Lines lines of a reverse proxy's everyday traffic from
// opts.Start on (or up to opts.Until), together with the queued lines their
// times pass.
//
// Clients arrive at random. Most load the web app (the page and 25 to 70
// static files, mostly 304 for returning visitors) and join a call through
// one of the PIN flows; others join through an SDK app, register a device,
// or attack: PIN guessers (20 to 200 wrong PINs), registration password
// guessers (401s) and alias scanners (404s). A call fetches the conference
// status, the participants and a media call, refreshes its token every 40 s,
// releases it, and ends with the long-lived event stream. About one request
// in 500 is retried on a second node after a 502 or 504. Clients come from
// IPv4 and IPv6 documentation and shared address space, some of them from
// the same office NAT address.
//
// The reverse proxy has been busy before Start: calls already in progress go
// on, so the rate holds from the first line. Each call of Traffic simulates
// its own reverse proxy that way, drawing every random choice from the
// Writer's seed.
func (w *Writer) Traffic(opts TrafficOptions) error {
	switch {
	case opts.Start.IsZero():
		return errors.New("rplog: traffic needs a start time")
	case opts.Lines < 0:
		return fmt.Errorf("rplog: negative line count %d", opts.Lines)
	case !opts.Until.IsZero() && opts.Until.Before(opts.Start):
		return fmt.Errorf("rplog: traffic until %s, before its start %s",
			opts.Until.Format(time.RFC3339), opts.Start.Format(time.RFC3339))
	case !(opts.Rate >= 0 && opts.Rate <= MaxRate): // also rejects NaN
		return fmt.Errorf("rplog: traffic rate %v is not between 0 and %d lines per second", opts.Rate, MaxRate)
	}
	rate := opts.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	t := newTraffic(w, opts.Start, rate, opts.LegitimateOnly)
	limit, end := opts.Lines, time.Duration(math.MaxInt64)
	if !opts.Until.IsZero() {
		end = opts.Until.Sub(opts.Start)
		if limit == 0 {
			limit = math.MaxInt
		}
	}
	for written := 0; written < limit; {
		if len(t.sessions) == 0 || t.nextArrival < t.sessions[0].next {
			t.arrive()
			continue
		}
		s := t.sessions[0]
		if s.next > end {
			break
		}
		live := s.next >= 0 // lines before Start belong to the warm-up
		if live && len(w.queue) > 0 {
			if err := w.writeQueued(w.queuedUntil(t.start.Add(s.next))); err != nil {
				return err
			}
		}
		var e entry
		t.step(s, &e)
		if s.phase == ended {
			heap.Pop(&t.sessions)
			t.free = append(t.free, s)
		} else {
			heap.Fix(&t.sessions, 0)
		}
		if !live {
			continue
		}
		if err := w.write(&e); err != nil {
			return err
		}
		written++
	}
	return nil
}

// warmup is how long the simulated proxy runs before Start, longer than any
// session lasts, so that the traffic at Start is already steady.
const warmup = 40 * time.Minute

// The share of arriving clients of each kind.
const (
	webShare               = 0.60
	appShare               = 0.22
	registrationShare      = 0.15
	pinGuesserShare        = 0.01
	registrationGuessShare = 0.005
	// The rest scans aliases.

	legitimateShare = webShare + appShare + registrationShare
)

// The shape of sessions.
const (
	joinShare            = 0.9  // of web app visitors who join a call
	cachedShare          = 0.65 // of web app visitors with the static files cached (304)
	minAssets            = 25   // fewest static files a page load fetches
	maxRefreshes         = 45   // a call refreshes its token 1 to maxRefreshes times
	refreshEvery         = 40 * time.Second
	registrationTypo     = 0.05 // of registrations whose first password is wrong
	maxRegRefreshes      = 30
	minGuesses           = 20
	maxGuesses           = 200
	minRegGuesses        = 10
	maxRegGuesses        = 100
	minScans             = 10
	maxScans             = 100
	retryShare           = 0.002 // of proxied requests retried on a second node
	timeoutShare         = 0.1   // of retries after a 504 instead of a 502
	http2Share           = 0.4   // of browsers speaking HTTP/2
	officeShare          = 0.10  // of clients behind one of the office NATs
	ipv6Share            = 0.20
	documentationV4Share = 0.03 // of clients in 198.51.100.0/24
	numOffices           = 24
)

// phase is where a session is: each kind of client goes through its own
// phases, one line or more each, up to ended.
type phase uint8

const (
	pagePhase phase = iota
	assetPhase
	joinPhase
	setupPhase
	refreshPhase
	releasePhase
	eventsPhase
	registerPhase
	regRefreshPhase
	guessPhase
	regGuessPhase
	scanPhase
	ended
)

// session is one client: a state machine that writes its next line at next.
type session struct {
	// next is the time of the session's next line since Start; negative
	// during the warm-up.
	next time.Duration
	// seq orders sessions arriving at the same nanosecond, for determinism.
	seq   uint64
	phase phase
	// The session is at line i of n in its phase.
	i, n      int
	steps     []joinStep
	refreshes int
	callStart time.Duration
	// cached is set for a browser that has the static files cached;
	// failFirst for a registration whose first password is wrong.
	cached, failFirst bool
	addr              netip.Addr
	node              int
	proto             string
	agent             string
	referer           string
	alias             string
	// The ids of the participant and of its media call, in paths.
	participant, call [16]byte
}

// sessionQueue is a min-heap of sessions by the time of their next line.
type sessionQueue []*session

func (q sessionQueue) Len() int { return len(q) }
func (q sessionQueue) Less(i, j int) bool {
	return q[i].next < q[j].next || q[i].next == q[j].next && q[i].seq < q[j].seq
}
func (q sessionQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *sessionQueue) Push(x any)   { *q = append(*q, x.(*session)) }
func (q *sessionQueue) Pop() any {
	old := *q
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return s
}

// flowMix is the share of joins through each flow.
type flowMix []struct {
	flow  Flow
	share float64
}

func (m flowMix) pick(u float64) Flow {
	for _, f := range m {
		if u < f.share {
			return f.flow
		}
		u -= f.share
	}
	return m[len(m)-1].flow
}

func (m flowMix) meanLines() float64 {
	var n float64
	for _, f := range m {
		n += f.share * float64(len(f.flow.steps()))
	}
	return n
}

// asset is a static file of the web app and its size.
type asset struct {
	path  string
	bytes int
}

// traffic is the state of one Traffic call.
type traffic struct {
	w     *Writer
	rng   *rand.Rand
	start time.Time
	// legitimateOnly leaves out the attackers.
	legitimateOnly bool

	sessions sessionQueue
	free     []*session
	seq      uint64
	// nextArrival is the time the next client arrives, like session.next.
	nextArrival time.Duration
	// meanArrivalGap is the mean time between arrivals in nanoseconds.
	meanArrivalGap float64

	webFlows, appFlows flowMix
	assets             []asset
	offices            []netip.Addr
	// Conference and registration aliases, URL-encoded by the web app and
	// raw from the SDKs, drawn by popularity.
	aliases, rawAliases, users, rawUsers []string
	popularity                           *rand.Zipf
}

func newTraffic(w *Writer, start time.Time, rate float64, legitimateOnly bool) *traffic {
	t := &traffic{
		w:              w,
		rng:            w.rng,
		start:          start,
		legitimateOnly: legitimateOnly,
		nextArrival:    -warmup,
		webFlows: flowMix{
			{PexRTC, 0.55}, {PexRTCTypo, 0.10}, {SSO, 0.10}, {Open, 0.25},
		},
		appFlows: flowMix{
			{SDK, 0.70}, {SDKTypo, 0.10}, {Open, 0.20},
		},
		assets: webAppAssets(),
	}
	for _, name := range conferenceNames {
		t.aliases = append(t.aliases, "meet."+name+"%40example.com")
		t.rawAliases = append(t.rawAliases, "meet."+name+"@example.com")
		t.users = append(t.users, name+"%40example.com")
		t.rawUsers = append(t.rawUsers, name+"@example.com")
	}
	t.popularity = rand.NewZipf(t.rng, 1.2, 2, uint64(len(conferenceNames)-1))
	for range numOffices {
		t.offices = append(t.offices, t.sharedV4())
	}
	t.meanArrivalGap = float64(time.Second) / rate * t.meanLinesPerArrival()
	return t
}

// meanLinesPerArrival is the expected number of lines one arriving client
// writes, from which the arrival rate follows for a given line rate.
func (t *traffic) meanLinesPerArrival() float64 {
	call := 4 + (1+maxRefreshes)/2.0 + 2 // setup, refreshes, release, events
	web := 1 + (minAssets+float64(len(t.assets)))/2 + joinShare*(t.webFlows.meanLines()+call)
	app := t.appFlows.meanLines() + call
	reg := 1 + registrationTypo + (1+maxRegRefreshes)/2.0
	guesses := (minGuesses + maxGuesses) / 2.0
	regGuesses := (minRegGuesses + maxRegGuesses) / 2.0
	scans := (minScans + maxScans) / 2.0
	legitimate := webShare*web + appShare*app + registrationShare*reg
	if t.legitimateOnly {
		return legitimate / legitimateShare
	}
	scanShare := 1 - legitimateShare - pinGuesserShare - registrationGuessShare
	return legitimate + pinGuesserShare*guesses + registrationGuessShare*regGuesses + scanShare*scans
}

// arrive starts the session of the next client.
func (t *traffic) arrive() {
	var s *session
	if n := len(t.free); n > 0 {
		s, t.free = t.free[n-1], t.free[:n-1]
		*s = session{}
	} else {
		s = new(session)
	}
	s.next, s.seq = t.nextArrival, t.seq
	t.seq++
	t.nextArrival += time.Duration(t.rng.ExpFloat64() * t.meanArrivalGap)

	u := t.rng.Float64()
	if t.legitimateOnly {
		u *= legitimateShare
	}
	switch {
	case u < webShare:
		t.startWebVisit(s)
	case u < webShare+appShare:
		t.startAppCall(s)
	case u < legitimateShare || t.legitimateOnly: // || against rounding up
		s.addr = t.clientAddr()
		t.setAppClient(s)
		s.alias = t.pick(t.users, t.rawUsers)
		s.phase = registerPhase
		s.failFirst = t.rng.Float64() < registrationTypo
	case u < legitimateShare+pinGuesserShare:
		t.startAttack(s, guessPhase, minGuesses, maxGuesses)
		s.alias = t.pick(t.aliases, t.rawAliases)
	case u < legitimateShare+pinGuesserShare+registrationGuessShare:
		t.startAttack(s, regGuessPhase, minRegGuesses, maxRegGuesses)
		s.alias = t.pick(t.users, t.rawUsers)
	default:
		t.startAttack(s, scanPhase, minScans, maxScans)
	}
	s.node = nodeIndex(s.addr)
	heap.Push(&t.sessions, s)
}

func (t *traffic) startWebVisit(s *session) {
	s.addr = t.clientAddr()
	b := &browsers[t.rng.IntN(len(browsers))]
	s.agent, s.referer, s.proto = b.agent, webAppReferer, "HTTP/1.1"
	if b.http2 && t.rng.Float64() < http2Share {
		s.proto = "HTTP/2.0"
	}
	s.cached = t.rng.Float64() < cachedShare
	s.phase = pagePhase
}

func (t *traffic) startAppCall(s *session) {
	s.addr = t.clientAddr()
	t.setAppClient(s)
	t.startJoin(s, t.appFlows.pick(t.rng.Float64()), t.pick(t.aliases, t.rawAliases))
}

func (t *traffic) setAppClient(s *session) {
	s.agent, s.referer, s.proto = appAgents[t.rng.IntN(len(appAgents))], "", "HTTP/1.1"
}

func (t *traffic) startJoin(s *session, flow Flow, alias string) {
	s.phase, s.i, s.steps, s.alias = joinPhase, 0, flow.steps(), alias
}

func (t *traffic) startAttack(s *session, p phase, minLines, maxLines int) {
	if t.rng.Float64() < ipv6Share {
		s.addr = netip.AddrFrom16([16]byte{
			0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, byte(t.rng.IntN(256)),
			15: byte(1 + t.rng.IntN(254)),
		})
	} else {
		s.addr = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + t.rng.IntN(254))})
	}
	s.agent, s.referer, s.proto = attackAgents[t.rng.IntN(len(attackAgents))], "", "HTTP/1.1"
	s.phase, s.n = p, minLines+t.rng.IntN(maxLines-minLines+1)
}

// pick returns a popular alias, URL-encoded as the web app sends it or, half
// the time, raw as other clients do.
func (t *traffic) pick(encoded, raw []string) string {
	i := t.popularity.Uint64()
	if t.rng.IntN(2) == 0 {
		return raw[i]
	}
	return encoded[i]
}

// clientAddr returns the address of a legitimate client.
func (t *traffic) clientAddr() netip.Addr {
	switch u := t.rng.Float64(); {
	case u < officeShare:
		return t.offices[t.rng.IntN(len(t.offices))]
	case u < officeShare+ipv6Share:
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		// One of 4096 /48s, a random /64 and interface.
		n := t.rng.Uint64()
		a[4], a[5] = byte(n>>8)&0x0f, byte(n)
		a[6], a[7] = byte(n>>16), byte(n>>24)
		m := t.rng.Uint64()
		for i := 8; i < 16; i++ {
			a[i] = byte(m >> (8 * (i - 8)))
		}
		return netip.AddrFrom16(a)
	case u < officeShare+ipv6Share+documentationV4Share:
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + t.rng.IntN(254))})
	}
	return t.sharedV4()
}

// sharedV4 returns an address in one of the 16384 /24s of 100.64.0.0/10.
func (t *traffic) sharedV4() netip.Addr {
	n := t.rng.IntN(1 << 14)
	return netip.AddrFrom4([4]byte{100, byte(64 | n>>8), byte(n), byte(1 + t.rng.IntN(254))})
}

// step fills e with the line s writes now, then moves s on to its next line
// or ends it.
func (t *traffic) step(s *session, e *entry) {
	w, rng := t.w, t.rng
	*e = entry{
		time: t.start.Add(s.next), addr: s.addr,
		proto: s.proto, referer: s.referer, agent: s.agent,
	}
	switch s.phase {
	case pagePhase:
		w.path = append(w.path[:0], "/webapp/"...)
		t.static(e, s, 200, pageBytes)
		e.referer = "" // typed or followed from a meeting invitation
		s.phase, s.i, s.n = assetPhase, 0, minAssets+rng.IntN(len(t.assets)-minAssets+1)
		s.next += t.between(50*time.Millisecond, 400*time.Millisecond)

	case assetPhase:
		a := &t.assets[s.i]
		w.path = append(w.path[:0], a.path...)
		t.static(e, s, 200, a.bytes)
		s.i++
		switch {
		case s.i < s.n:
			s.next += t.between(5*time.Millisecond, 120*time.Millisecond)
		case rng.Float64() < joinShare:
			t.startJoin(s, t.webFlows.pick(rng.Float64()), t.aliases[t.popularity.Uint64()])
			s.next += t.between(2*time.Second, 20*time.Second) // typing the alias
		default:
			s.phase = ended
		}

	case joinPhase:
		st := s.steps[s.i]
		t.conferenceCall(e, s, "POST", "/request_token")
		t.answer(e, s, st.status, st.bytes, t.between(25*time.Millisecond, 120*time.Millisecond))
		s.i++
		if s.i < len(s.steps) {
			after := s.steps[s.i].after
			s.next += t.between(after/2, after*3/2)
			break
		}
		s.phase, s.i = setupPhase, 0
		s.participant, s.call = t.uuid(), t.uuid()
		s.next += t.between(100*time.Millisecond, 300*time.Millisecond)
		s.callStart = s.next

	case setupPhase:
		t.setup(e, s)
		s.i++
		if s.i < 4 {
			s.next += t.between(50*time.Millisecond, 800*time.Millisecond)
			break
		}
		s.phase, s.i, s.n = refreshPhase, 0, 1+rng.IntN(maxRefreshes)
		s.refreshes = s.n
		s.next += t.between(refreshEvery-2*time.Second, refreshEvery+2*time.Second)

	case refreshPhase:
		t.conferenceCall(e, s, "POST", "/refresh_token")
		t.answer(e, s, 200, 258+rng.IntN(5), t.apiTime())
		s.i++
		if s.i < s.n {
			s.next += t.between(refreshEvery-2*time.Second, refreshEvery+2*time.Second)
		} else {
			s.phase = releasePhase
			s.next += t.between(5*time.Second, 39*time.Second)
		}

	case releasePhase:
		t.conferenceCall(e, s, "POST", "/release_token")
		t.answer(e, s, 200, 35, t.apiTime())
		s.phase = eventsPhase
		s.next += t.between(10*time.Millisecond, 60*time.Millisecond)

	case eventsPhase:
		// The event stream, open since the call started, is logged when it
		// closes.
		t.conferenceCall(e, s, "GET", "/events?token=[FILTERED]")
		t.answer(e, s, 200, 1800+310*s.refreshes+rng.IntN(4000), s.next-s.callStart)
		s.phase = ended

	case registerPhase:
		w.path = append(append(append(w.path[:0], registrationsPrefix...), s.alias...), "/request_token"...)
		e.method = "POST"
		if s.failFirst {
			t.answer(e, s, 401, unauthorizedBytes, t.apiTime())
			s.failFirst = false
			s.next += t.between(5*time.Second, 15*time.Second)
			break
		}
		t.answer(e, s, 200, 630+rng.IntN(40), t.apiTime())
		s.phase, s.i, s.n = regRefreshPhase, 0, 1+rng.IntN(maxRegRefreshes)
		s.next += t.between(refreshEvery-2*time.Second, refreshEvery+2*time.Second)

	case regRefreshPhase:
		w.path = append(append(append(w.path[:0], registrationsPrefix...), s.alias...), "/refresh_token"...)
		e.method = "POST"
		t.answer(e, s, 200, 250+rng.IntN(5), t.apiTime())
		s.i++
		if s.i == s.n {
			s.phase = ended
		}
		s.next += t.between(refreshEvery-2*time.Second, refreshEvery+2*time.Second)

	case guessPhase:
		t.conferenceCall(e, s, "POST", "/request_token")
		t.answer(e, s, 403, invalidBytes, t.between(25*time.Millisecond, 120*time.Millisecond))
		t.attackStep(s, 500*time.Millisecond, 4*time.Second)

	case regGuessPhase:
		w.path = append(append(append(w.path[:0], registrationsPrefix...), s.alias...), "/request_token"...)
		e.method = "POST"
		t.answer(e, s, 401, unauthorizedBytes, t.apiTime())
		t.attackStep(s, 500*time.Millisecond, 3*time.Second)

	case scanPhase:
		w.path = append(w.path[:0], conferencesPrefix...)
		if rng.IntN(2) == 0 {
			w.path = strconv.AppendInt(w.path, int64(1000+rng.IntN(9000)), 10)
		} else {
			w.path = append(w.path, scanWords[rng.IntN(len(scanWords))]...)
		}
		if rng.IntN(3) == 0 {
			w.path = append(w.path, "%40example.com"...)
		}
		w.path = append(w.path, "/request_token"...)
		e.method = "POST"
		t.answer(e, s, 404, notFoundBytes, t.apiTime())
		t.attackStep(s, 200*time.Millisecond, 2*time.Second)
	}
}

// static makes e a GET of the static file in w.path, 304 when s has its
// files cached.
func (t *traffic) static(e *entry, s *session, status, size int) {
	if s.cached {
		status, size = 304, 0
	}
	e.method, e.path = "GET", t.w.path
	t.answer(e, s, status, size, t.between(time.Millisecond, 15*time.Millisecond))
}

// conferenceCall makes e a call of the client API for s's conference;
// suffix is the rest of the path.
func (t *traffic) conferenceCall(e *entry, s *session, method, suffix string) {
	w := t.w
	w.path = append(append(append(w.path[:0], conferencesPrefix...), s.alias...), suffix...)
	e.method = method
}

// setup makes e the s.i-th request of a call's start.
func (t *traffic) setup(e *entry, s *session) {
	w, rng := t.w, t.rng
	switch s.i {
	case 0:
		t.conferenceCall(e, s, "GET", "/conference_status")
		t.answer(e, s, 200, 380+rng.IntN(80), t.apiTime())
	case 1:
		t.conferenceCall(e, s, "GET", "/participants")
		t.answer(e, s, 200, 600+350*rng.IntN(20), t.apiTime())
	case 2:
		t.conferenceCall(e, s, "POST", "/participants/")
		w.path = appendUUID(w.path, s.participant)
		w.path = append(w.path, "/calls"...)
		t.answer(e, s, 200, 3000+rng.IntN(2200), t.between(40*time.Millisecond, 250*time.Millisecond))
	default:
		t.conferenceCall(e, s, "POST", "/participants/")
		w.path = appendUUID(w.path, s.participant)
		w.path = append(w.path, "/calls/"...)
		w.path = appendUUID(w.path, s.call)
		w.path = append(w.path, "/ack"...)
		t.answer(e, s, 200, 35, t.apiTime())
	}
}

// answer completes e, whose path is in w.path: the status and body sent to
// the client, and the conferencing node that answered after d. Now and then
// the node s uses fails, and nginx passes the request on to the next one.
func (t *traffic) answer(e *entry, s *session, status, size int, d time.Duration) {
	e.path, e.status, e.bytes = t.w.path, status, size
	ups := t.w.ups[:1]
	if t.rng.Float64() < retryShare {
		failed := Upstream{Addr: nodeAddr(s.node), Status: 502, Time: t.between(time.Millisecond, 5*time.Millisecond)}
		if t.rng.Float64() < timeoutShare {
			failed.Status, failed.Time = 504, 60*time.Second+t.between(0, 5*time.Millisecond)
		}
		ups = t.w.ups[:2]
		ups[0] = failed
		ups[1] = Upstream{Addr: nodeAddr(s.node + 1), Status: status, Time: d}
	} else {
		ups[0] = Upstream{Addr: nodeAddr(s.node), Status: status, Time: d}
	}
	e.upstreams = ups
}

// attackStep moves an attacker on to its next try, or ends it.
func (t *traffic) attackStep(s *session, minGap, maxGap time.Duration) {
	s.i++
	if s.i == s.n {
		s.phase = ended
	}
	s.next += t.between(minGap, maxGap)
}

func (t *traffic) apiTime() time.Duration {
	return t.between(4*time.Millisecond, 40*time.Millisecond)
}

// between returns a duration drawn uniformly from [lo, hi].
func (t *traffic) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(t.rng.Int64N(int64(hi-lo)+1))
}

// uuid returns a random (version 4) UUID.
func (t *traffic) uuid() [16]byte {
	var u [16]byte
	a, b := t.rng.Uint64(), t.rng.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func appendUUID(b []byte, u [16]byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

// Sample returns lines lines of Traffic from start, drawn from seed, as
// one block of text: the input tests and benchmarks run filters over.
func Sample(lines int, start time.Time, seed uint64) ([]byte, error) {
	var buf bytes.Buffer
	w := NewWriter(&buf, seed)
	if err := w.Traffic(TrafficOptions{Start: start, Lines: lines}); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

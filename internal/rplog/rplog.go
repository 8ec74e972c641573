// Package rplog writes synthetic access logs of a Pexip Infinity reverse
// proxy, line for line in the format its nginx uses (log_format pexapplog),
// for benchmarks and scenario tests.
//
// A [Writer] runs on a virtual clock and is deterministic: the same seed and
// the same calls give the same bytes. Scenario tests script exact sequences:
// joins through each client's PIN flow ([Writer.Join]), registrations
// ([Writer.Register]), attackers' requests ([Writer.Guess],
// [Writer.GuessPassword], [Writer.TryAlias]), any line at all
// ([Writer.Line]), from addresses anywhere in a network ([HostIn]) and with
// conferencing nodes failing ([Writer.Outage]). [Writer.Traffic] adds the
// random background of a busy reverse proxy (web app page loads, calls,
// token refreshes, registrations and, unless told to leave them out, PIN
// guessers and alias scanners). The Writer also counts the lines a
// PIN-guessing filter must match, so a test can compare a filter's match
// count with the exact expected one.
package rplog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request is one line of the log: what nginx knew about a request when it
// finished it.
type Request struct {
	// Time is $time_local, written in Time's location.
	Time time.Time
	// Addr is the client address, $remote_addr.
	Addr netip.Addr
	// User is $remote_user; empty is written as "-".
	User string
	// Method, Path and Proto make up the request line. Path is written as
	// given, so it is the already filtered and URL-encoded form
	// ("/api/client/v2/conferences/meet.alice%40example.com/events?token=[FILTERED]").
	// An empty Proto is written as "HTTP/1.1".
	Method, Path, Proto string
	// Status is the status sent to the client, Bytes the body length.
	Status, Bytes int
	// Referer and UserAgent are the request headers; empty is written as
	// "-".
	Referer, UserAgent string
	// Upstreams lists the conferencing nodes nginx tried, in order. With
	// none, the three upstream fields are written as "-".
	Upstreams []Upstream
}

// Upstream is one attempt of nginx to pass a request to a conferencing node.
type Upstream struct {
	Addr   netip.AddrPort
	Status int
	// Time is $upstream_response_time, written with millisecond precision.
	Time time.Duration
}

// Counts are totals of the lines a [Writer] has written, by the kind of
// attack a filter would look for in them.
type Counts struct {
	Lines int
	// PINFailures counts the lines pinjail's pexiprp filter matches: a POST
	// to /api/client/v2/conferences/<alias>/request_token answered 403 whose
	// last upstream answer was also 403. These include the PIN prompts of
	// legitimate joins, as the filter cannot tell them apart.
	PINFailures int
	// RegistrationFailures counts POSTs to
	// /api/client/v2/registrations/<alias>/request_token answered 401.
	RegistrationFailures int
	// UnknownAliases counts request_token calls for conferences answered
	// 404: alias scanning.
	UnknownAliases int
}

// Writer writes log lines to an io.Writer in time order.
//
// Line, Join and Guess queue lines; Traffic writes its own lines and, as its
// clock passes them, the queued ones; Flush writes what is still queued.
// Queued lines with equal times keep the order in which they were added. A
// Writer is not safe for concurrent use.
type Writer struct {
	out *bufio.Writer
	rng *rand.Rand

	// queue holds the lines from Line, Join and Guess not written yet,
	// sorted by time unless unsorted is set.
	queue    []Request
	unsorted bool
	// outages are the spans in which scripted calls are retried.
	outages []outage

	counts Counts

	// Scratch space reused for every line, so that writing one allocates
	// nothing.
	buf  []byte
	path []byte
	ups  [2]Upstream

	// The $time_local text of the last second written, which most lines
	// share with the line before. timeLoc is nil until the first line.
	timeSec  int64
	timeLoc  *time.Location
	timeText []byte
}

// NewWriter returns a Writer that writes to w, drawing the random choices of
// Traffic from seed.
func NewWriter(w io.Writer, seed uint64) *Writer {
	return &Writer{
		out: bufio.NewWriterSize(w, 256<<10),
		// The second PCG word only has to differ from the first.
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Counts returns the totals of the lines written so far; queued lines count
// once Traffic or Flush has written them.
func (w *Writer) Counts() Counts { return w.counts }

// Line queues r. It returns an error, and queues nothing, if r could not be
// a line of the log.
func (w *Writer) Line(r Request) error {
	if err := r.validate(); err != nil {
		return err
	}
	r.Upstreams = slices.Clone(r.Upstreams) // the caller may reuse its slice
	w.queue = append(w.queue, r)
	w.unsorted = true
	return nil
}

// Flush writes every queued line, then flushes the underlying io.Writer.
func (w *Writer) Flush() error {
	if err := w.writeQueued(len(w.queue)); err != nil {
		return err
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("rplog: %w", err)
	}
	return nil
}

// sortQueue sorts the queue by time if lines were added since it was last
// sorted.
func (w *Writer) sortQueue() {
	if w.unsorted {
		slices.SortStableFunc(w.queue, func(a, b Request) int { return a.Time.Compare(b.Time) })
		w.unsorted = false
	}
}

// queuedUntil returns how many queued lines have times up to and including t.
func (w *Writer) queuedUntil(t time.Time) int {
	w.sortQueue()
	n, _ := slices.BinarySearchFunc(w.queue, t, func(r Request, t time.Time) int {
		if r.Time.After(t) {
			return 1
		}
		return -1
	})
	return n
}

// writeQueued writes the n earliest queued lines.
func (w *Writer) writeQueued(n int) error {
	w.sortQueue()
	for i := range n {
		r := &w.queue[i]
		w.path = append(w.path[:0], r.Path...)
		e := entry{
			time: r.Time, addr: r.Addr, user: r.User,
			method: r.Method, path: w.path, proto: r.Proto,
			status: r.Status, bytes: r.Bytes,
			referer: r.Referer, agent: r.UserAgent, upstreams: r.Upstreams,
		}
		if err := w.write(&e); err != nil {
			return err
		}
	}
	// Release the strings of the written lines, and keep the array when the
	// queue is empty.
	clear(w.queue[:n])
	if n == len(w.queue) {
		w.queue = w.queue[:0]
	} else {
		w.queue = w.queue[n:]
	}
	return nil
}

// entry is a line about to be written. Unlike Request its path is bytes, so
// that the traffic generator can assemble paths without allocating.
type entry struct {
	time      time.Time
	addr      netip.Addr
	user      string
	method    string
	path      []byte
	proto     string
	status    int
	bytes     int
	referer   string
	agent     string
	upstreams []Upstream
}

// write formats e as nginx's pexapplog does and counts it:
//
//	$remote_addr - $remote_user [$time_local]  "$request_filtered" $status $body_bytes_sent "$http_referer_filtered" "$http_user_agent" "$upstream_addr" "$upstream_status" "$upstream_response_time"
func (w *Writer) write(e *entry) error {
	b := e.addr.AppendTo(w.buf[:0])
	b = append(b, " - "...)
	b = appendField(b, e.user)
	b = append(b, " ["...)
	b = w.appendTime(b, e.time)
	b = append(b, "]  \""...)
	b = appendEscaped(b, e.method)
	b = append(b, ' ')
	pathStart := len(b)
	b = appendEscaped(b, e.path)
	pathEnd := len(b)
	b = append(b, ' ')
	proto := e.proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	b = appendEscaped(b, proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.bytes), 10)
	b = append(b, " \""...)
	b = appendField(b, e.referer)
	b = append(b, "\" \""...)
	b = appendField(b, e.agent)
	b = append(b, "\" \""...)
	b = appendUpstreams(b, e.upstreams)
	b = append(b, "\"\n"...)
	w.buf = b

	w.count(e, b[pathStart:pathEnd], proto)
	if _, err := w.out.Write(b); err != nil {
		return fmt.Errorf("rplog: %w", err)
	}
	return nil
}

// count adds e to the totals. path is the request path as written, so that
// the checks see the text a filter sees.
func (w *Writer) count(e *entry, path []byte, proto string) {
	w.counts.Lines++
	switch e.status {
	case 403:
		if e.method == "POST" && isHTTPVersion(proto) && lastUpstreamStatus(e.upstreams) == 403 &&
			isRequestToken(path, conferencesPrefix) {
			w.counts.PINFailures++
		}
	case 401:
		if e.method == "POST" && isRequestToken(path, registrationsPrefix) {
			w.counts.RegistrationFailures++
		}
	case 404:
		if isRequestToken(path, conferencesPrefix) {
			w.counts.UnknownAliases++
		}
	}
}

const (
	conferencesPrefix   = "/api/client/v2/conferences/"
	registrationsPrefix = "/api/client/v2/registrations/"
)

// isRequestToken reports whether path is prefix, an alias, and
// "/request_token", optionally followed by a query.
func isRequestToken(path []byte, prefix string) bool {
	rest, ok := bytes.CutPrefix(path, []byte(prefix))
	if !ok {
		return false
	}
	i := bytes.IndexAny(rest, "/?")
	if i <= 0 {
		return false
	}
	rest, ok = bytes.CutPrefix(rest[i:], []byte("/request_token"))
	return ok && (len(rest) == 0 || rest[0] == '?')
}

// isHTTPVersion reports whether proto is HTTP/d or HTTP/d.d, the versions a
// request line can carry.
func isHTTPVersion(proto string) bool {
	v, ok := strings.CutPrefix(proto, "HTTP/")
	switch {
	case !ok:
		return false
	case len(v) == 1:
		return isDigit(v[0])
	case len(v) == 3:
		return isDigit(v[0]) && v[1] == '.' && isDigit(v[2])
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lastUpstreamStatus(ups []Upstream) int {
	if len(ups) == 0 {
		return 0
	}
	return ups[len(ups)-1].Status
}

// appendTime appends t as $time_local ("14/May/2024:09:02:11 +0000").
func (w *Writer) appendTime(b []byte, t time.Time) []byte {
	if sec := t.Unix(); sec != w.timeSec || t.Location() != w.timeLoc {
		w.timeSec, w.timeLoc = sec, t.Location()
		w.timeText = t.AppendFormat(w.timeText[:0], "02/Jan/2006:15:04:05 -0700")
	}
	return append(b, w.timeText...)
}

// appendField appends s escaped, or "-" for an empty s, as nginx writes a
// variable with no value.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// appendEscaped appends s as nginx's default log escaping does: '"', '\'
// and bytes outside printable ASCII become \xHH, so no field can end early
// or break the line.
func appendEscaped[S string | []byte](b []byte, s S) []byte {
	const hex = "0123456789ABCDEF"
	plain := 0 // s[plain:i] needs no escaping
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, s[plain:i]...)
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			plain = i + 1
		}
	}
	return append(b, s[plain:]...)
}

// appendUpstreams appends the three upstream fields without their outer
// quotes: "10.44.0.11:443, 10.44.0.12:443" "502, 403" "0.002, 0.051".
func appendUpstreams(b []byte, ups []Upstream) []byte {
	if len(ups) == 0 {
		return append(b, `-" "-" "-`...)
	}
	for i, u := range ups {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = u.Addr.AppendTo(b)
	}
	b = append(b, `" "`...)
	for i, u := range ups {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(u.Status), 10)
	}
	b = append(b, `" "`...)
	for i, u := range ups {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendSeconds(b, u.Time)
	}
	return b
}

// appendSeconds appends d in seconds with three decimals, as nginx writes
// response times.
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	if frac < 100 {
		b = append(b, '0')
	}
	if frac < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10)
}

// validate reports why r cannot be a log line: nginx writes only these
// shapes, and they keep every field of the line unambiguous.
func (r *Request) validate() error {
	var err error
	switch {
	case r.Time.IsZero():
		err = errors.New("no time")
	case !r.Addr.IsValid() || r.Addr.Zone() != "":
		err = fmt.Errorf("client address %q is not an IP address without a zone", r.Addr)
	case r.Method == "" || r.Path == "":
		err = errors.New("method and path are required")
	case strings.Contains(r.Method, " ") || strings.Contains(r.Path, " ") ||
		strings.Contains(r.Proto, " ") || strings.Contains(r.User, " "):
		err = fmt.Errorf("space in method %q, path %q, protocol %q or user %q", r.Method, r.Path, r.Proto, r.User)
	case r.Status < 100 || r.Status > 999:
		err = fmt.Errorf("status %d is not three digits", r.Status)
	case r.Bytes < 0:
		err = fmt.Errorf("negative body size %d", r.Bytes)
	}
	for i, u := range r.Upstreams {
		if err != nil {
			break
		}
		switch {
		case !u.Addr.IsValid():
			err = fmt.Errorf("upstream %d: address %q is not valid", i+1, u.Addr)
		case u.Status < 100 || u.Status > 999:
			err = fmt.Errorf("upstream %d: status %d is not three digits", i+1, u.Status)
		case u.Time < 0:
			err = fmt.Errorf("upstream %d: negative response time %v", i+1, u.Time)
		}
	}
	if err != nil {
		return fmt.Errorf("rplog: request %s %s at %s: %w", r.Method, r.Path, r.Time.Format(time.RFC3339), err)
	}
	return nil
}

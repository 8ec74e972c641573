package rplog

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// pexapplog matches a line of nginx's pexapplog format, independently of the
// writer: address, user, time, request, status, bytes, referer, user agent
// and the three upstream fields.
var pexapplog = regexp.MustCompile(`^(\S+) - (\S+) \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]  "(\S+) (\S+) (\S+)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$`)

// parseLine reads a line back into a Request. It undoes no escaping, so it
// round-trips requests whose text needs none.
func parseLine(line string) (Request, error) {
	m := pexapplog.FindStringSubmatch(line)
	if m == nil {
		return Request{}, fmt.Errorf("not a pexapplog line: %q", line)
	}
	var r Request
	var err error
	if r.Addr, err = netip.ParseAddr(m[1]); err != nil {
		return r, err
	}
	if m[2] != "-" {
		r.User = m[2]
	}
	if r.Time, err = time.Parse("02/Jan/2006:15:04:05 -0700", m[3]); err != nil {
		return r, err
	}
	r.Method, r.Path, r.Proto = m[4], m[5], m[6]
	r.Status, _ = strconv.Atoi(m[7])
	r.Bytes, _ = strconv.Atoi(m[8])
	if m[9] != "-" {
		r.Referer = m[9]
	}
	if m[10] != "-" {
		r.UserAgent = m[10]
	}
	if m[11] == "-" {
		if m[12] != "-" || m[13] != "-" {
			return r, fmt.Errorf("upstream fields %q %q %q: address missing", m[11], m[12], m[13])
		}
		return r, nil
	}
	addrs, statuses, times := strings.Split(m[11], ", "), strings.Split(m[12], ", "), strings.Split(m[13], ", ")
	if len(addrs) != len(statuses) || len(addrs) != len(times) {
		return r, fmt.Errorf("upstream fields %q %q %q differ in length", m[11], m[12], m[13])
	}
	for i := range addrs {
		var u Upstream
		if u.Addr, err = netip.ParseAddrPort(addrs[i]); err != nil {
			return r, err
		}
		if u.Status, err = strconv.Atoi(statuses[i]); err != nil {
			return r, err
		}
		sec, ms, ok := strings.Cut(times[i], ".")
		if !ok || len(ms) != 3 {
			return r, fmt.Errorf("upstream time %q: want seconds with three decimals", times[i])
		}
		s, err1 := strconv.Atoi(sec)
		n, err2 := strconv.Atoi(ms)
		if err1 != nil || err2 != nil {
			return r, fmt.Errorf("upstream time %q is not a number", times[i])
		}
		u.Time = time.Duration(s)*time.Second + time.Duration(n)*time.Millisecond
		r.Upstreams = append(r.Upstreams, u)
	}
	return r, nil
}

// pexiprpFilter returns the failregex of the built-in pexiprp filter, read
// from the embedded file and translated to Go's syntax, which it shares but
// for fail2ban's tags.
func pexiprpFilter(t testing.TB) *regexp.Regexp {
	t.Helper()
	conf, err := fs.ReadFile(builtin.FS(), "filter.d/pexiprp.conf")
	if err != nil {
		t.Fatal(err)
	}
	var failregex string
	for line := range strings.SplitSeq(string(conf), "\n") {
		if v, ok := strings.CutPrefix(line, "failregex"); ok {
			_, failregex, _ = strings.Cut(v, "=")
			failregex = strings.TrimSpace(failregex)
		}
	}
	if failregex == "" {
		t.Fatal("filter.d/pexiprp.conf: no failregex")
	}
	for _, tag := range regexp.MustCompile(`</?[A-Z][A-Z0-9_-]*>`).FindAllString(failregex, -1) {
		if tag != "<ADDR>" && tag != "<F-ALIAS>" && tag != "</F-ALIAS>" {
			t.Fatalf("pexiprp failregex %q has tag %s, which this test does not translate", failregex, tag)
		}
	}
	re := strings.NewReplacer(
		"<ADDR>", `(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)`,
		"<F-ALIAS>", "(?P<alias>", "</F-ALIAS>", ")",
		"%%", "%",
	).Replace(failregex)
	return regexp.MustCompile(re)
}

var (
	may14 = time.Date(2024, time.May, 14, 9, 2, 11, 0, time.UTC)
	alice = netip.MustParseAddr("198.51.100.23")
	node1 = netip.MustParseAddrPort("10.44.0.11:443")
	node2 = netip.MustParseAddrPort("10.44.0.12:443")
)

func TestLineFormat(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want string
	}{{
		name: "PIN prompt",
		r: Request{
			Time: may14, Addr: alice,
			Method: "POST", Path: "/api/client/v2/conferences/meet.alice%40example.com/request_token",
			Status: 403, Bytes: 73,
			Referer: webAppReferer, UserAgent: webAppAgent,
			Upstreams: []Upstream{{node1, 403, 36 * time.Millisecond}},
		},
		want: `198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 73 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "403" "0.036"`,
	}, {
		name: "retried upstream",
		r: Request{
			Time: may14.Add(9 * time.Second), Addr: alice,
			Method: "POST", Path: "/api/client/v2/conferences/meet.alice%40example.com/request_token",
			Status: 403, Bytes: 46, UserAgent: "python-requests/2.31.0",
			Upstreams: []Upstream{{node1, 502, 2 * time.Millisecond}, {node2, 403, 51 * time.Millisecond}},
		},
		want: `198.51.100.23 - - [14/May/2024:09:02:20 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443, 10.44.0.12:443" "502, 403" "0.002, 0.051"`,
	}, {
		name: "no upstream, user, HTTP/2, IPv6, local time",
		r: Request{
			Time:   time.Date(2024, time.December, 31, 23, 59, 59, 999e6, time.FixedZone("", 2*3600)),
			Addr:   netip.MustParseAddr("2001:db8::7"),
			User:   "admin",
			Method: "GET", Path: "/", Proto: "HTTP/2.0",
			Status: 301, Bytes: 162,
		},
		want: `2001:db8::7 - admin [31/Dec/2024:23:59:59 +0200]  "GET / HTTP/2.0" 301 162 "-" "-" "-" "-" "-"`,
	}, {
		name: "escaped text",
		r: Request{
			Time: may14, Addr: alice,
			Method: "GET", Path: "/webapp/\"x\\y\x01\n",
			Status: 404, Bytes: 0,
			Referer: `https://evil.example/"`, UserAgent: "Müller\tAgent",
			Upstreams: []Upstream{{node1, 404, 1291694 * time.Millisecond}},
		},
		want: `198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "GET /webapp/\x22x\x5Cy\x01\x0A HTTP/1.1" 404 0 "https://evil.example/\x22" "M\xC3\xBCller\x09Agent" "10.44.0.11:443" "404" "1291.694"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, 1)
			if err := w.Line(tt.r); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want+"\n" {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if !pexapplog.MatchString(tt.want) {
				t.Errorf("the test's pexapplog regexp does not match %q", tt.want)
			}
		})
	}
}

func TestLineParsesBack(t *testing.T) {
	r := Request{
		Time:   time.Date(2024, time.May, 14, 9, 2, 11, 0, time.FixedZone("", -5*3600)),
		Addr:   netip.MustParseAddr("2001:db8:1::42"),
		Method: "POST", Path: "/api/client/v2/registrations/alice@example.com/request_token", Proto: "HTTP/1.0",
		Status: 401, Bytes: 12, Referer: "https://meet.example.com/webapp/", UserAgent: sdkAgent,
		Upstreams: []Upstream{{node2, 504, 60*time.Second + time.Millisecond}, {node1, 401, 20 * time.Millisecond}},
	}
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	if err := w.Line(r); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := parseLine(strings.TrimSuffix(out.String(), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(r.Time) {
		t.Errorf("time %v, want %v", got.Time, r.Time)
	}
	got.Time = r.Time
	if !reflect.DeepEqual(got, r) {
		t.Errorf("parsed back\n%+v\nwant\n%+v", got, r)
	}
}

func TestLineRejects(t *testing.T) {
	valid := Request{Time: may14, Addr: alice, Method: "GET", Path: "/", Status: 200}
	tests := []struct {
		name   string
		change func(*Request)
		want   string
	}{
		{"no time", func(r *Request) { r.Time = time.Time{} }, "no time"},
		{"no address", func(r *Request) { r.Addr = netip.Addr{} }, "not an IP address"},
		{"zone", func(r *Request) { r.Addr = netip.MustParseAddr("fe80::1%eth0") }, "without a zone"},
		{"no method", func(r *Request) { r.Method = "" }, "method and path are required"},
		{"no path", func(r *Request) { r.Path = "" }, "method and path are required"},
		{"space in path", func(r *Request) { r.Path = "/a b" }, `space in method "GET", path "/a b"`},
		{"space in user", func(r *Request) { r.User = "a b" }, "space in"},
		{"status", func(r *Request) { r.Status = 42 }, "status 42 is not three digits"},
		{"bytes", func(r *Request) { r.Bytes = -1 }, "negative body size -1"},
		{"upstream address", func(r *Request) { r.Upstreams = []Upstream{{Status: 200}} }, "upstream 1: address"},
		{"upstream status", func(r *Request) { r.Upstreams = []Upstream{{node1, 200, 0}, {node2, 1000, 0}} }, "upstream 2: status 1000"},
		{"upstream time", func(r *Request) { r.Upstreams = []Upstream{{node1, 200, -1}} }, "negative response time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.change(&r)
			var out bytes.Buffer
			w := NewWriter(&out, 1)
			err := w.Line(r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Line(%+v) = %v, want an error containing %q", r, err, tt.want)
			}
			if err := w.Flush(); err != nil || out.Len() != 0 || w.Counts().Lines != 0 {
				t.Errorf("after a rejected line: Flush %v, wrote %q, counts %+v", err, out.String(), w.Counts())
			}
		})
	}
}

func TestQueueOrder(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	for _, l := range []struct {
		at   time.Duration
		path string
	}{{3 * time.Second, "/c"}, {time.Second, "/a"}, {3 * time.Second, "/d"}, {2 * time.Second, "/b"}, {0, "/0"}} {
		if err := w.Line(Request{Time: may14.Add(l.at), Addr: alice, Method: "GET", Path: l.path, Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if w.Counts().Lines != 0 || out.Len() != 0 {
		t.Fatalf("lines written before Flush: %q", out.String())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for line := range strings.Lines(out.String()) {
		r, err := parseLine(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, r.Path)
	}
	// Equal times keep the order the lines were added in.
	if got, want := strings.Join(paths, " "), "/0 /a /b /c /d"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	if got := w.Counts().Lines; got != 5 {
		t.Errorf("Counts().Lines = %d, want 5", got)
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteError(t *testing.T) {
	w := NewWriter(errWriter{}, 1)
	if err := w.Line(Request{Time: may14, Addr: alice, Method: "GET", Path: "/", Status: 200}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush to a failing writer returned no error")
	}
	err := w.Traffic(TrafficOptions{Start: may14, Lines: 1e6})
	if err == nil {
		t.Error("Traffic to a failing writer returned no error")
	}
}

// FuzzLine checks that any request Line accepts is written as one pexapplog
// line, and that the line counts as a PIN failure exactly when the pexiprp
// filter matches it.
func FuzzLine(f *testing.F) {
	f.Add("POST", "/api/client/v2/conferences/meet.alice%40example.com/request_token", "HTTP/1.1", "", "-", "ua", 403, 403, false, false)
	f.Add("POST", "/api/client/v2/conferences/a\"b/request_token?x=1", "HTTP/2", "bob", "\"", "\\", 403, 403, true, true)
	f.Add("POST", "/api/client/v2/conferences/a/b/request_token", "HTTP/1.1", "", "", "", 403, 403, false, false)
	f.Add("GET", "/api/client/v2/conferences/x/request_token", "HTTP/1.1", "", "", "", 404, 404, false, true)
	f.Add("POST", "/api/client/v2/registrations/x/request_token", "HTTP/1.1x", "", "", "", 401, 401, true, false)
	filter := pexiprpFilter(f)
	f.Fuzz(func(t *testing.T, method, path, proto, user, referer, agent string, status, upstreamStatus int, retried, ipv6 bool) {
		r := Request{
			Time: may14, Addr: alice,
			Method: method, Path: path, Proto: proto, User: user,
			Status: status, Bytes: 10, Referer: referer, UserAgent: agent,
			Upstreams: []Upstream{{node1, upstreamStatus, time.Millisecond}},
		}
		if ipv6 {
			r.Addr = netip.MustParseAddr("2001:db8::1")
		}
		if retried {
			r.Upstreams = []Upstream{{node2, 502, time.Millisecond}, r.Upstreams[0]}
		}
		var out bytes.Buffer
		w := NewWriter(&out, 1)
		if err := w.Line(r); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		line, ok := strings.CutSuffix(out.String(), "\n")
		if !ok || strings.ContainsAny(line, "\n\r") {
			t.Fatalf("not one line: %q", out.String())
		}
		if !pexapplog.MatchString(line) {
			t.Fatalf("not a pexapplog line: %q", line)
		}
		if matched, counted := filter.MatchString(line), w.Counts().PINFailures == 1; matched != counted {
			t.Fatalf("pexiprp matches %v, counted as PIN failure %v: %q", matched, counted, line)
		}
	})
}

// golden compares got with the file testdata/name, or rewrites the file
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gotLines), len(wantLines)) {
			if gotLines[i] != wantLines[i] {
				t.Fatalf("%s: line %d differs:\ngot  %s\nwant %s\n(run with -update if the change is intended)", path, i+1, gotLines[i], wantLines[i])
			}
		}
		t.Fatalf("%s: got %d lines, want %d (run with -update if the change is intended)", path, len(gotLines), len(wantLines))
	}
}

package dates

import (
	"fmt"
	"testing"
	"time"
)

var benchLines = []struct {
	name, pattern, line string
}{
	{"default/syslog", "", "Jan 23 21:59:59 host sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2"},
	{"default/nginx", "", `192.0.2.1 - - [31/Oct/2006:09:22:55 -0000] "GET /index.html HTTP/1.1" 404 153 "-" "curl/8.0"`},
	{"default/iso", "", "2005-01-23T21:59:59.981746+01:00 host app: login failed for 192.0.2.1"},
	{"lnbeg/syslog", "{^LN-BEG}", "Jan 23 21:59:59 host sshd[1234]: Failed password for root from 192.0.2.1 port 22 ssh2"},
	{"pexiprp", "%d/%b/%Y:%H:%M:%S %z", `198.51.100.23 - - [14/May/2024:09:20:02 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443, 10.44.0.12:443" "502, 403" "0.002, 0.051"`},
}

// BenchmarkFind repeats one line: after the first, the detector finds the
// date where it found it last, with the template that matched last.
func BenchmarkFind(b *testing.B) {
	now := time.Unix(1124013600, 0)
	for _, bl := range benchLines {
		b.Run(bl.name, func(b *testing.B) {
			d, err := New(bl.pattern, nil)
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(bl.line)
			if _, ok := find(d, line, now); !ok {
				b.Fatal("no date")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				find(d, line, now)
			}
		})
	}
}

// BenchmarkFindVarying feeds lines whose dates move, as client addresses of
// different lengths make them move in access logs: fail2ban's detector
// then searches all its templates, not just the last one at the same place.
func BenchmarkFindVarying(b *testing.B) {
	now := time.Unix(1124013600, 0)
	lines := [][]byte{
		[]byte(`192.0.2.1 - - [31/Oct/2006:09:22:55 -0000] "GET / HTTP/1.1" 404 153 "-" "curl/8.0"`),
		[]byte(`198.51.100.200 - - [31/Oct/2006:09:22:56 -0000] "GET / HTTP/1.1" 404 153 "-" "curl/8.0"`),
		[]byte(`2001:db8::1 - - [31/Oct/2006:09:22:57 -0000] "GET / HTTP/1.1" 404 153 "-" "curl/8.0"`),
		[]byte(`10.1.2.3 - - [31/Oct/2006:09:22:58 -0000] "GET / HTTP/1.1" 404 153 "-" "curl/8.0"`),
	}
	for _, bc := range []struct{ name, pattern string }{{"default", ""}, {"pexiprp", "%d/%b/%Y:%H:%M:%S %z"}} {
		b.Run(bc.name, func(b *testing.B) { benchmarkLines(b, bc.pattern, lines, now) })
	}
}

// benchmarkLines dates lines in turn with a detector for pattern.
func benchmarkLines(b *testing.B, pattern string, lines [][]byte, now time.Time) {
	d, err := New(pattern, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0])))
	i := 0
	for b.Loop() {
		if _, ok := find(d, lines[i%len(lines)], now); !ok {
			b.Fatal("no date")
		}
		i++
	}
}

func BenchmarkNew(b *testing.B) {
	for _, bc := range []struct{ name, pattern string }{
		{"default", ""}, {"lnbeg", "{^LN-BEG}"}, {"pexiprp", "%d/%b/%Y:%H:%M:%S %z"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(bc.pattern, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// accessLog returns n lines of an nginx access log as a busy reverse proxy
// writes it: client addresses of all lengths, so the date moves, and about
// fifty lines a second, so consecutive dates are often equal.
func accessLog(n int) [][]byte {
	addrs := []string{"192.0.2.1", "198.51.100.200", "2001:db8:b4a:b419:e660:c7e1:661d:c743", "10.1.2.3", "2001:db8::17", "100.64.12.9"}
	lines := make([][]byte, n)
	for i := range lines {
		sec := i / 50
		lines[i] = fmt.Appendf(nil, `%s - - [14/May/2024:%02d:%02d:%02d +0000]  "GET /webapp/static/js/runtime.%d.js HTTP/1.1" 200 2380 "https://meet.example.com/webapp/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15" "10.44.0.14:443" "200" "0.007"`,
			addrs[i*7%len(addrs)], 9+sec/3600, sec/60%60, sec%60, i)
	}
	return lines
}

// BenchmarkFindAccessLog runs the pexiprp datepattern over an access log.
func BenchmarkFindAccessLog(b *testing.B) {
	benchmarkLines(b, "%d/%b/%Y:%H:%M:%S %z", accessLog(4096), time.Date(2024, 5, 14, 12, 0, 0, 0, time.UTC))
}

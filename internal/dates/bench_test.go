package dates

import (
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
			if _, ok := d.Find(line, now); !ok {
				b.Fatal("no date")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				d.Find(line, now)
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
		b.Run(bc.name, func(b *testing.B) {
			d, err := New(bc.pattern, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(lines[0])))
			i := 0
			for b.Loop() {
				if _, ok := d.Find(lines[i%len(lines)], now); !ok {
					b.Fatal("no date")
				}
				i++
			}
		})
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

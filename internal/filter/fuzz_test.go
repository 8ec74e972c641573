package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// FuzzNew feeds arbitrary regexes to New: it must return a filter or an
// error, never panic, and a filter it returns must process lines.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{
		`^<HOST>$`,
		`^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\S+) for <F-USER>.*</F-USER> from <HOST>`,
		`^(?P<a>\w+)(?P=a) <ADDR>\d{,3}(?!x)$`,
		`^<F-MLFID>x</F-MLFID><SKIPLINES>((?i)y) <F-TUPLE_ID_1>\S+</F-TUPLE_ID_1> <F-ID/>`,
		`[[:alpha:]\b\u00e9] (?#c)(?(1)a|b) <SUBNET>`,
		`</F-USER> <F-X> \Z $ {,} ((?iu)z)`,
	} {
		f.Add(seed)
	}
	lines := [][]byte{
		[]byte("Failed password for root from 192.0.2.1 port 22"),
		[]byte("aa 2001:db8::1 x"),
		[]byte("x\ny 10.0.0.1/24"),
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		for _, maxLines := range []int{1, 2} {
			spec := &config.Filter{FailRegex: []config.Regex{{Pattern: pattern}}, MaxLines: maxLines, DatePattern: "{NONE}"}
			flt, err := New(spec, Options{UseDNS: "raw", CheckAllRegex: true, RegexTimeout: 10 * time.Millisecond})
			if err != nil {
				continue
			}
			var res Result
			for _, line := range lines {
				flt.Process(line, testNow, &res)
				checkResult(t, flt, &res)
			}
		}
	})
}

// FuzzProcess feeds arbitrary lines to filters that use every stage: the
// pexiprp filter, a multi-line ID filter with a prefregex, and a
// multi-line buffer.
func FuzzProcess(f *testing.F) {
	for _, seed := range []string{
		pexipMiss, pexipNear, pexipHit,
		"h sshd[1]: Connection from 192.0.2.10",
		"h sshd[1]: Failed password for root from 2001:db8::1",
		"h sshd[1]: Accepted password for bob",
		"conn 1 open from 192.0.2.1",
		"conn 1 auth failed\r\n",
		"",
	} {
		f.Add(seed)
	}
	mlfid := &config.Filter{
		PrefRegex: &config.Regex{Pattern: `^<F-MLFID>\S+ sshd\[\d+\]: </F-MLFID><F-CONTENT>.+</F-CONTENT>$`},
		FailRegex: []config.Regex{
			{Pattern: `^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>$`},
			{Pattern: `^Failed password for <F-USER>\S+</F-USER>(?: from <HOST>)?$`},
			{Pattern: `^<F-MLFFORGET><F-MLFGAINED>Accepted password</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER>$`},
		},
		IgnoreRegex: []config.Regex{{Pattern: `192\.0\.2\.250`}},
	}
	multi := &config.Filter{
		FailRegex: []config.Regex{{Pattern: `^conn (?P<__cid>\d+) open from <HOST><SKIPLINES>^conn (?P=__cid) auth failed$`}},
		MaxLines:  3,
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, spec := range []*config.Filter{pexiprpSpec(t), mlfid, multi} {
			for _, checkAll := range []bool{false, true} {
				flt, err := New(spec, Options{UseDNS: "no", CheckAllRegex: checkAll, Location: time.UTC})
				if err != nil {
					t.Fatal(err)
				}
				var res Result
				for _, l := range strings.SplitAfter(line, "\n") {
					flt.Process([]byte(l), testNow, &res)
					checkResult(t, flt, &res)
				}
			}
		}
	})
}

// checkResult checks invariants every result holds.
func checkResult(t *testing.T, f *Filter, res *Result) {
	t.Helper()
	if res.Prefiltered && (len(res.Failures) > 0 || len(res.Matched) > 0 || res.Ignored) {
		t.Fatalf("prefiltered line has results: %+v", res)
	}
	for _, fl := range res.Failures {
		if fl.Regex < 0 || fl.Regex >= len(f.fail) {
			t.Fatalf("failure of regex %d of %d", fl.Regex, len(f.fail))
		}
		if fl.ID == "" && !fl.NoFail {
			t.Fatalf("failure without an ID: %+v", fl)
		}
		if fl.Attempts != len(fl.Lines) {
			t.Fatalf("%d attempts for %d lines", fl.Attempts, len(fl.Lines))
		}
	}
}

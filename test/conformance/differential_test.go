package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/testenv"
)

// python is the interpreter the Debian fail2ban package runs on.
const python = "/usr/bin/python3"

// dumpRecord is one line of testdata/fail2ban_dump.py's output: a filter
// variant with its effective regexes, or a line with fail2ban's result.
type dumpRecord struct {
	Kind    string `json:"kind"`
	Variant string `json:"variant"`
	Journal bool   `json:"journal"`
	Spec    struct {
		PrefRegex   *string  `json:"prefregex"`
		FailRegex   []string `json:"failregex"`
		IgnoreRegex []string `json:"ignoreregex"`
		MaxLines    int      `json:"maxlines"`
		DatePattern *string  `json:"datepattern"`
	} `json:"spec"`
	File  string  `json:"file"`
	Line  int     `json:"lnnum"`
	Text  string  `json:"line"`
	Found [][]any `json:"found"`
}

// TestAgainstFail2ban runs fail2ban itself over its sample logs, in the
// test suite's mode (every regex tried) and in the daemon's (first match
// wins), and checks that pinjail's filter, given the same regexes, finds
// the same failures on every line: IDs, times, every captured field, users
// and attempts. Unlike TestFail2banSamples it covers what the annotations
// leave out, and it checks the filter package apart from the loader.
func TestAgainstFail2ban(t *testing.T) {
	testenv.RequireFile(t, python)
	testenv.RequireFile(t, logsDir)
	loc, err := posixZone(testTZ)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(testNow, 0).In(loc)
	zzz := testFilterDir(t)
	for _, mode := range []struct {
		name     string
		checkAll bool
	}{{"all-regexes", true}, {"first-match", false}} {
		t.Run(mode.name, func(t *testing.T) {
			flag := "0"
			if mode.checkAll {
				flag = "1"
			}
			cmd := exec.Command(python, "testdata/fail2ban_dump.py", flag, zzz)
			cmd.Env = append(os.Environ(), "TZ="+testTZ)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("fail2ban_dump.py: %v\n%s", err, stderr.String())
			}
			filters := map[string]*filter.Filter{}
			lines, agree := 0, 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
			for sc.Scan() {
				var rec dumpRecord
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatal(err)
				}
				switch rec.Kind {
				case "variant":
					f, err := filter.New(rec.spec(), filter.Options{
						UseDNS: "warn", RawHost: true, CheckAllRegex: mode.checkAll, Journal: rec.Journal,
					})
					if err != nil {
						t.Errorf("%s: %v", rec.Variant, err)
						continue
					}
					filters[rec.Variant] = f
				case "line":
					f := filters[rec.Variant]
					if f == nil {
						continue
					}
					lines++
					var res filter.Result
					f.Process([]byte(rec.Text), now, &res)
					if msg := compareWithFail2ban(rec.Found, &res, mode.checkAll); msg != "" {
						t.Errorf("%s:%d: %s: %s\n    line: %s", rec.File, rec.Line, rec.Variant, msg, rec.Text)
						continue
					}
					agree++
				}
			}
			t.Logf("%d/%d lines give what fail2ban gives", agree, lines)
		})
	}
}

func (rec *dumpRecord) spec() *config.Filter {
	regexes := func(kind string, pats []string) []config.Regex {
		out := make([]config.Regex, len(pats))
		for i, p := range pats {
			out[i] = config.Regex{Pattern: p, Pos: config.Position{File: rec.Variant + " " + kind, Line: i + 1}}
		}
		return out
	}
	spec := &config.Filter{
		MaxLines:    rec.Spec.MaxLines,
		FailRegex:   regexes("failregex", rec.Spec.FailRegex),
		IgnoreRegex: regexes("ignoreregex", rec.Spec.IgnoreRegex),
	}
	if rec.Spec.PrefRegex != nil {
		spec.PrefRegex = &config.Regex{Pattern: *rec.Spec.PrefRegex}
	}
	if rec.Spec.DatePattern != nil {
		spec.DatePattern = *rec.Spec.DatePattern
	}
	return spec
}

// compareWithFail2ban compares fail2ban's result for a line,
// [regex, id, time, fail dict] entries, with pinjail's.
func compareWithFail2ban(found [][]any, res *filter.Result, checkAll bool) string {
	var want [][]any
	var matched []int
	for _, e := range found {
		matched = append(matched, int(e[0].(float64)))
		if e[1] != nil { // fail2ban's pending failures have no ID
			want = append(want, e)
		}
	}
	if checkAll {
		// In the daemon's mode fail2ban does not return matches that are
		// no failure or have no ID yet; Result.Matched does.
		got := slices.Compact(slices.Sorted(slices.Values(res.Matched)))
		if matched = slices.Compact(slices.Sorted(slices.Values(matched))); !slices.Equal(got, matched) {
			return fmt.Sprintf("failregexes matched %v, fail2ban %v", got, matched)
		}
	}
	if len(res.Failures) != len(want) {
		return fmt.Sprintf("%d failures %+v, fail2ban %d", len(res.Failures), res.Failures, len(want))
	}
	for i, e := range want {
		got := res.Failures[i]
		idx, id, fail := int(e[0].(float64)), e[1].(string), e[3].(map[string]any)
		if got.Regex != idx || got.ID != id {
			return fmt.Sprintf("failure %d: failregex %d id %q, fail2ban %d %q", i, got.Regex, got.ID, idx, id)
		}
		if ft, ok := e[2].(float64); ok && math.Abs(ft-float64(got.Time.UnixNano())/1e9) > 1e-6 {
			return fmt.Sprintf("failure %d: time %v, fail2ban %v", i, got.Time, time.Unix(0, int64(ft*1e9)))
		}
		nofail, _ := fail["nofail"].(string)
		if got.NoFail != (nofail != "") {
			return fmt.Sprintf("failure %d: nofail %v, fail2ban %q", i, got.NoFail, nofail)
		}
		for k, v := range fail {
			if msg := compareField(got, k, v); msg != "" {
				return fmt.Sprintf("failure %d: %s", i, msg)
			}
		}
	}
	return ""
}

func compareField(got filter.Failure, key string, want any) string {
	switch key {
	case "matches":
		if n := len(want.([]any)); n != got.Attempts {
			return fmt.Sprintf("attempts %d, fail2ban %d", got.Attempts, n)
		}
	case "users":
		var users []string
		for _, u := range want.([]any) {
			users = append(users, u.(string))
		}
		if !slices.Equal(users, got.Users) {
			return fmt.Sprintf("users %q, fail2ban %q", got.Users, users)
		}
	case "ip", "nofail-matches", "mlfpending":
		// The address behind an <F-ID> (Failure.Addr), and fail2ban's
		// bookkeeping of multi-line failures.
	default:
		v, ok := got.Fields[key]
		switch w := want.(type) {
		case nil:
			if ok {
				return fmt.Sprintf("field %s %q, fail2ban None", key, v)
			}
		case string:
			if !ok || v != w {
				return fmt.Sprintf("field %s %q (present %v), fail2ban %q", key, v, ok, w)
			}
		default:
			return fmt.Sprintf("field %s: unexpected fail2ban value %v", key, want)
		}
	}
	return ""
}

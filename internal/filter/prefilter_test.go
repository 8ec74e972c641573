package filter

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pinjail/pinjail/internal/config"
)

func TestNeedleIndex(t *testing.T) {
	tests := []struct {
		hay, lit string
		from     int
		want     int
	}{
		{"abcabc", "abc", 0, 0},
		{"abcabc", "abc", 1, 3},
		{"abcabc", "abc", 4, -1},
		{"ab", "abc", 0, -1},
		{"", "a", 0, -1},
		{"xxabx", "ab", 0, 2},
		{"aaab", "aab", 0, 1},
		{"a_b a_c", "a_c", 0, 4},
	}
	for _, tt := range tests {
		for rare := range len(tt.lit) {
			nd := &needle{text: []byte(tt.lit), rare: rare}
			if got := nd.index([]byte(tt.hay), tt.from); got != tt.want {
				t.Errorf("index(%q in %q from %d, rare byte %d) = %d, want %d", tt.lit, tt.hay, tt.from, rare, got, tt.want)
			}
		}
	}
}

func TestPrefilterCut(t *testing.T) {
	rs := func(pats ...string) []*regex {
		var out []*regex
		for _, p := range pats {
			r, _, err := compile(p, compileOptions{useDNS: "no", timeout: defaultRegexTimeout})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	p := newPrefilter(nil, rs(`^<HOST> \[\]\s+"POST /x" 403$`, `^<HOST> \[\]\s+"POST /x" 200$`), nil)
	if got := describe(p); got != `pref: ; common:  []; fail 0: "POST /x" 403; fail 1: "POST /x" 200` {
		t.Errorf("clauses: %s", got)
	}
	tests := []struct {
		line       string
		start, end int
		want       bool
		regexes    []bool
	}{
		// The date cut out of "[date]" makes "[]".
		{`1.2.3.4 [date] "POST /x" 403`, 9, 13, true, []bool{true, false}},
		{`1.2.3.4 [date] "POST /x" 200`, 9, 13, true, []bool{false, true}},
		// Not cut: "[]" is missing.
		{`1.2.3.4 [date] "POST /x" 403`, 0, 0, false, nil},
		// The literal is only in the date, which the regexes do not see.
		{`1.2.3.4 [] "POST /x" 403 tail`, 11, 24, false, nil},
		{`1.2.3.4 [] "POST /x" 403 "POST /x" 403`, 11, 24, true, []bool{true, false}},
	}
	for _, tt := range tests {
		got := p.candidateCut([]byte(tt.line), tt.start, tt.end)
		if got != tt.want {
			t.Errorf("candidateCut(%q, %d, %d) = %v, want %v", tt.line, tt.start, tt.end, got, tt.want)
			continue
		}
		for i, want := range tt.regexes {
			if p.mayMatch(i) != want {
				t.Errorf("%q: mayMatch(%d) = %v, want %v", tt.line, i, !want, want)
			}
		}
	}
}

// prefilterSpecs are filters whose regexes have literals for the
// prefilter, in every arrangement it handles.
func prefilterSpecs(t testing.TB) map[string]*config.Filter {
	return map[string]*config.Filter{
		"pexiprp": pexiprpSpec(t),
		"two regexes": {
			FailRegex: []config.Regex{
				{Pattern: `^<HOST> - \S+ \[\] "POST /api/(?P<alias>\w+)/request_token" 403`},
				{Pattern: `^<HOST> - \S+ \[\] "POST /api/(?P<alias>\w+)/request_token" <F-NOFAIL>200</F-NOFAIL>`},
			},
			DatePattern: "%d/%b/%Y:%H:%M:%S %z",
		},
		"ignore first": {
			FailRegex: []config.Regex{
				{Pattern: `^<HOST> login failed`}, {Pattern: `^<HOST> bad password`},
				{Pattern: `^<HOST> bad user`}, {Pattern: `^<HOST> bad token`},
			},
			IgnoreRegex: []config.Regex{{Pattern: `ok-agent`}},
			DatePattern: "%Y-%m-%d %H:%M:%S",
		},
		"prefregex": {
			PrefRegex:   &config.Regex{Pattern: `^\S+ app\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`},
			FailRegex:   []config.Regex{{Pattern: `^auth fail(?:ed)? from <HOST>$`}, {Pattern: `^denied <HOST>$`}},
			DatePattern: "",
		},
	}
}

// prefilterFragments make lines that come near the specs' literals.
var prefilterFragments = []string{
	"192.0.2.1", "2001:db8::1", " - - ", "[", "]", "[]", "14/May/2024:09:20:02 +0000", "2024-05-14 09:20:02",
	`"POST /api/`, "meet", "/request_token", `"`, " 403", " 200", "request", "_token", "POST", " HTTP/1.1",
	"login failed", "bad ", "password", "user", "token", "ok-agent", "host app[12]: ", "auth fail", "ed",
	" from ", "denied ", "Jan 23 21:59:59 ", " ", "x",
}

// TestPrefilterExact compares filters with and without their prefilter
// on random lines: the prefilter may only turn down lines no regex
// matches, whether the date is known (Date then Match) or not (Process).
func TestPrefilterExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var lines []string
	for range 20000 {
		var b strings.Builder
		for range 2 + r.IntN(10) {
			b.WriteString(prefilterFragments[r.IntN(len(prefilterFragments))])
		}
		lines = append(lines, b.String())
	}
	// Lines in the specs' formats, most of them matching.
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	for range 5000 {
		lines = append(lines,
			fmt.Sprintf(`%s - - [14/May/2024:09:20:%02d +0000]%s"POST /api/%s/request_token" %s`,
				pick("192.0.2.1", "2001:db8::1", "x"), r.IntN(60), pick(" ", "  ", ""), pick("meet", "a b", ""), pick("403", "200", "500")),
			fmt.Sprintf(`2024-05-14 09:20:%02d %s %s`, r.IntN(60), pick("192.0.2.7", "[2001:db8::7]"), pick("login failed", "bad password", "bad user", "bad token ok-agent", "fine")),
			fmt.Sprintf(`host app[%d]: %s%s`, r.IntN(100), pick("auth fail", "auth failed", "denied "), pick(" from 192.0.2.9", "192.0.2.9", "")),
		)
	}
	lines = append(lines, pexipMiss, pexipNear, pexipHit)
	for name, spec := range prefilterSpecs(t) {
		checkPrefilterExact(t, name, spec, lines)
	}
}

func checkPrefilterExact(t *testing.T, name string, spec *config.Filter, lines []string) {
	t.Helper()
	newFilter := func() *Filter {
		f, err := New(spec, Options{UseDNS: "no", CheckAllRegex: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	with, withDated, without := newFilter(), newFilter(), newFilter()
	if with.prefilter == nil {
		t.Fatalf("%s: no prefilter", name)
	}
	without.prefilter = nil
	var (
		a, b, c Result
		date    LineDate
	)
	for _, line := range lines {
		l := []byte(line)
		without.Process(l, testNow, &c)
		with.Process(l, testNow, &a)
		withDated.Date(l, testNow, &date)
		withDated.Match(l, &date, testNow, &b)
		want := summary(&c)
		if got := summary(&a); got != want && !(a.Prefiltered && want == "") {
			t.Fatalf("%s: Process(%q) with the prefilter: %s; without: %s", name, line, got, want)
		}
		if got := summary(&b); got != want && !(b.Prefiltered && want == "") {
			t.Fatalf("%s: Match(%q) with the prefilter: %s; without: %s", name, line, got, want)
		}
	}
}

// summary describes what a line gave, "" for nothing.
func summary(r *Result) string {
	if len(r.Matched) == 0 && !r.Ignored {
		return ""
	}
	ids := make([]string, 0, len(r.Failures))
	for _, f := range r.Failures {
		ids = append(ids, fmt.Sprintf("%s/%d/%v", f.ID, f.Regex, f.NoFail))
	}
	return fmt.Sprintf("matched %v ignored %v (%d) failures %v", r.Matched, r.Ignored, r.IgnoreRegex, ids)
}

func FuzzPrefilter(f *testing.F) {
	for _, s := range prefilterFragments {
		f.Add(s)
	}
	f.Add(pexipHit)
	f.Add(pexipNear)
	f.Fuzz(func(t *testing.T, line string) {
		for name, spec := range prefilterSpecs(t) {
			checkPrefilterExact(t, name, spec, []string{line})
		}
	})
}

// TestClone checks that a clone matches as its original does, and that
// Independent tells filters whose lines can be matched apart.
func TestClone(t *testing.T) {
	for name, spec := range prefilterSpecs(t) {
		f, err := New(spec, Options{UseDNS: "no", CheckAllRegex: true})
		if err != nil {
			t.Fatal(err)
		}
		if !f.Independent() {
			t.Errorf("%s: not independent", name)
		}
		c := f.Clone()
		var a, b Result
		for _, line := range append(slices.Clone(prefilterFragments), pexipHit, pexipNear, pexipMiss) {
			l := []byte(line)
			f.Process(l, testNow, &a)
			c.Process(l, testNow, &b)
			if summary(&a) != summary(&b) || a.Prefiltered != b.Prefiltered {
				t.Errorf("%s: %q: clone gives %s, original %s", name, line, summary(&b), summary(&a))
			}
		}
	}
	for _, spec := range []*config.Filter{
		{FailRegex: []config.Regex{{Pattern: `^<HOST> x`}}, MaxLines: 2},
		{PrefRegex: &config.Regex{Pattern: `^<F-MLFID>\S+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$`}, FailRegex: []config.Regex{{Pattern: `^<HOST> x`}}},
	} {
		f, err := New(spec, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Independent() {
			t.Errorf("filter with maxlines %d and prefregex %v is independent", spec.MaxLines, spec.PrefRegex)
		}
	}
}

func TestStraddles(t *testing.T) {
	tests := []struct {
		line       string
		start, end int
		lit        string
		want       bool
	}{
		{"a[date]b", 2, 6, "[]", true},
		{"a[date]b", 2, 6, "a[]b", true},
		{"a[date]b", 2, 6, "a[]bc", false},
		{"a[date]b", 2, 6, "xa[]", false},
		{"a[date]b", 2, 6, "[", false}, // in the line, not made by the cut
		{"[date]", 1, 5, "[]", true},
		{"date]", 0, 4, "]", false},
		{"[date", 1, 5, "[", false},
		{"ab-cd", 2, 3, "abcd", true},
		{"ab-cd", 2, 3, "bc", true},
		{"ab-cd", 2, 3, "b-c", false},
	}
	for _, tt := range tests {
		if got := straddles([]byte(tt.line), []byte(tt.lit), tt.start, tt.end); got != tt.want {
			t.Errorf("straddles(%q cut %d-%d, %q) = %v, want %v", tt.line, tt.start, tt.end, tt.lit, got, tt.want)
		}
	}
}

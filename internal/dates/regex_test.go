package dates

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
	"unicode/utf8"

	"github.com/pinjail/pinjail/internal/testenv"
)

// regexCases exercise the matcher on the Python constructs it supports,
// especially where backtracking order decides which match is reported.
var regexCases = []struct {
	pattern string
	texts   []string
}{
	{`a|ab|abc`, []string{"abc", "xab"}},
	{`(a|ab)(c|bcd)(d*)`, []string{"abcd"}},
	{`(a+)(b+)?`, []string{"aaab", "aaa"}},
	{`(a*?)(a*)`, []string{"aaa"}},
	{`(a+?)b`, []string{"aaab"}},
	{`x{2,3}?y`, []string{"xxxxy", "xxy"}},
	{`x{,2}y`, []string{"xxxy"}},
	{`x{2}`, []string{"xxx", "x"}},
	{`a{,}b`, []string{"aab"}},
	{`a{b`, []string{"a{b"}},
	{`a{1,b}`, []string{"a{1,b}"}},
	{`{`, []string{"{"}},
	{`(?:(a)|b)*c`, []string{"abac", "bbc"}},
	{`(a?)*b`, []string{"aab", "b"}},
	{`(a|)*b`, []string{"aab"}},
	{`(?:a*)*b`, []string{"aaab", "c"}},
	{`(?P<x>[-/])\d(?P=x)`, []string{"1-2-3", "1-2/3/4"}},
	{`(a)(b)\2\1`, []string{"abba", "abab"}},
	{`(?i)(ab)\1`, []string{"abAB"}},
	{`\b\w+\b`, []string{"  héllo wörld", "_x_ y"}},
	{`\B\w`, []string{"ab", "a"}},
	{`\bé`, []string{"xé é"}},
	{`\d+`, []string{"x٣٤5y", "１２"}},
	{`\s+`, []string{"a\u00a0\u2003b", "a\x1cb"}},
	{`\S+`, []string{" \u3000ab "}},
	{`\W+`, []string{"ab«»cd"}},
	{`[^\W\d]+`, []string{"12abc_3"}},
	{`[\d-z]+`, []string{"a-5z"}},
	{`[]a]+`, []string{"]a]"}},
	{`[^]a]+`, []string{"]bc"}},
	{`[a-]+`, []string{"-a-"}},
	{`[\]]`, []string{"x]"}},
	{`[\x41-\x43]+`, []string{"ABCD"}},
	{`\u00e9`, []string{"café"}},
	{`\x41\101\0`, []string{"AA\x00"}},
	{`[\101]`, []string{"A"}},
	{`(?i)[a-c]+`, []string{"xABCabc"}},
	{`(?i)straße`, []string{"STRASSE", "STRAẞE"}},
	{`(?i)k`, []string{"\u212a"}},
	{`(?i)[k]`, []string{"\u212a"}},
	{`(?i)i`, []string{"\u0130", "\u0131"}},
	{`(?i)[^a-z]`, []string{"\u212a!"}},
	{`(?i:a)b`, []string{"Ab", "AB"}},
	{`a(?i:b)c`, []string{"aBc", "aBC"}},
	{`(?-i:a)`, []string{"A"}},
	{`(?a)\w+`, []string{"héllo"}},
	{`(?s).+`, []string{"a\nb"}},
	{`.+`, []string{"a\nb"}},
	{`(?m)^b$`, []string{"a\nb\nc"}},
	{`^b$`, []string{"a\nb"}},
	{`a$`, []string{"a\n", "a\n\n"}},
	{`a\Z`, []string{"a\n", "a"}},
	{`\Aa`, []string{"ba", "ab"}},
	{`(?x) a b  # comment
	  c \ d`, []string{"abc d"}},
	{`a(?#comment)b`, []string{"ab"}},
	{`a(?=b)`, []string{"ac ab"}},
	{`a(?!b)`, []string{"ab ac"}},
	{`(?<=a)b`, []string{"cb ab"}},
	{`(?<!a)b`, []string{"ab cb"}},
	{`(?<=\baudit\()\d+`, []string{"xaudit(12 audit(34"}},
	{`(?<=ab|cd)e`, []string{"abe", "cde", "xe"}},
	{`(?=(a+))a*b\1`, []string{"baaabac"}},
	{`(?!(a))b`, []string{"b"}},
	{`(?:(?P<sq>\[)|^)x(?(sq)\]|$)`, []string{"[x]", "x", "[x"}},
	{`(?P<a>a)?(?(a)b|c)`, []string{"ab", "c", "ac"}},
	{`(a)?(?(1)b)c`, []string{"abc", "c", "ac"}},
	{`(?>a+)b`, []string{"aaab"}},
	{`(?>a+)a`, []string{"aaa"}},
	{`a++a`, []string{"aaa"}},
	{`a*+b`, []string{"aab"}},
	{`(?:ab)?+c`, []string{"abc", "c"}},
	{`x*`, []string{"", "abc"}},
	{`(?P<n>x)|(?P<m>y)`, []string{"y"}},
	{`a|b|`, []string{"c"}},
	{`()`, []string{"ab"}},
	{`(?=^|\b|\W)(\d+)(?=\b|\W|$)`, []string{"a12 34", "x5"}},
	{`^(?:\W{0,2})?(\w+)`, []string{"((ab", "(((ab", "«»ab"}},
	{`(?iu)(?P<b>jan|feb) (?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`, []string{"JAN 31", "feb  3", "Feb 03x"}},
	{`(?P<S>[0-5]?\d|6[0-1])(?=\b|\W|$)`, []string{"60", "61x", "6"}},
	{`(?P<Y>\d{4})-(?P<m>0?[1-9]|1[0-2])`, []string{"2005-1", "2005-10", "2005-012"}},
	// Errors: Python rejects these, and so must the parser.
	{`a**`, nil},
	{`*a`, nil},
	{`(a`, nil},
	{`a)`, nil},
	{`[a`, nil},
	{`[z-a]`, nil},
	{`\q`, nil},
	{`(?P<1>a)`, nil},
	{`(?P<a>x)(?P<a>y)`, nil},
	{`(?P=nope)`, nil},
	{`(a)\2`, nil},
	{`(?<=a+)b`, nil},
	{`a(?i)b`, nil},
	{`(?L)a`, nil},
	{`(?(1)a|b|c)`, nil},
	{`x{3,2}`, nil},
	{`(?z)`, nil},
}

// TestRegexAgainstPython compares the matcher with Python's re module on
// regexCases, at every start position.
func TestRegexAgainstPython(t *testing.T) {
	testenv.RequireFile(t, fail2banPython)
	type query struct {
		pattern, text string
		pos, endpos   int // in characters
	}
	var queries []query
	for _, c := range regexCases {
		if c.texts == nil {
			queries = append(queries, query{c.pattern, "", 0, 0})
		}
		for _, text := range c.texts {
			n := utf8.RuneCountInString(text)
			for pos := 0; pos <= n; pos++ {
				queries = append(queries, query{c.pattern, text, pos, n})
			}
			if n > 1 {
				queries = append(queries, query{c.pattern, text, 0, n - 1})
			}
		}
	}
	input := make([][]any, len(queries))
	for i, q := range queries {
		input[i] = []any{q.pattern, q.text, q.pos, q.endpos}
	}
	data, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fail2banPython, "testdata/python_re.py")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var results []json.RawMessage
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	var m machine
	for i, q := range queries {
		var want any
		if err := json.Unmarshal(results[i], &want); err != nil {
			t.Fatal(err)
		}
		p, err := compileRegex(q.pattern)
		if msg, isErr := want.(string); isErr {
			if err == nil {
				t.Errorf("%q compiles, but Python says: %s", q.pattern, msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", q.pattern, err)
			continue
		}
		text := []byte(q.text)
		input := text[:byteIndex(text, 0, q.endpos)]
		var got any
		if m.search(p, input, byteIndex(text, 0, q.pos)) {
			spans := []any{}
			for g := 0; g <= p.groups; g++ {
				s, e := m.caps[2*g], m.caps[2*g+1]
				if s < 0 || e < 0 {
					spans = append(spans, []any{-1.0, -1.0})
					continue
				}
				spans = append(spans, []any{float64(charIndex(text, 0, s)), float64(charIndex(text, 0, e))})
			}
			got = spans
		}
		if g, w := mustJSON(got), mustJSON(want); g != w {
			t.Errorf("search(%q, %q, %d, %d): got %s, Python %s", q.pattern, q.text, q.pos, q.endpos, g, w)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

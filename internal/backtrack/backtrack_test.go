package backtrack

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// describe lists the instructions of re's program in order, with what
// tells them apart.
func describe(re *Regexp) string {
	var parts []string
	for _, in := range re.insts {
		var s string
		switch in.op {
		case opFail:
			s = "fail"
		case opMatch:
			s = "match"
		case opLiteral:
			s = fmt.Sprintf("lit%q", in.lit)
		case opClass:
			s = "class"
		case opAlt:
			s = "alt"
		case opCapture:
			s = fmt.Sprintf("cap%d", in.arg)
		case opEmpty:
			s = "empty"
		case opPossessive:
			s = fmt.Sprintf("possessive{%d}", in.min)
		case opGreedy:
			s = fmt.Sprintf("greedy{%d}", in.min)
		case opLazy:
			s = fmt.Sprintf("lazy{%d}", in.min)
		case opRepeat:
			s = fmt.Sprintf("repeat{%d,%d}", in.min, in.max)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TestProgram checks what the optimisations make of patterns.
func TestProgram(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		// Literal strings are compared at once.
		{`abc`, `lit"abc" match`},
		{`(?i)ab`, `class class match`},
		{`é€`, `lit"é€" match`},
		{`\x{FFFD}a`, `class lit"a" match`},
		{`(a)`, `cap2 lit"a" cap3 match`},
		// A loop whose continuation cannot begin with its class takes its
		// longest run only, after any leading runes of the class.
		{`[^"]*"`, `possessive{0} lit"\"" match`},
		{`\S+ `, `possessive{1} lit" " match`},
		{`\d\d+x`, `possessive{2} lit"x" match`},
		{`\[[^\]]*\]`, `lit"[" possessive{0} lit"]" match`},
		{`(?P<a>[^/"\s?]+)/`, `cap2 possessive{1} cap3 lit"/" match`},
		{`a*?b`, `possessive{0} lit"b" match`},
		{`x+y`, `lit"x" possessive{0} lit"y" match`},
		// Otherwise it backtracks.
		{`[^"]*, `, `greedy{0} lit", " match`},
		{`x+`, `lit"x" greedy{0} match`},
		{`\S+\w`, `greedy{1} class match`},
		{`\S+$`, `possessive{1} empty match`},
		{`.*?b`, `lazy{0} lit"b" match`},
		{`\w+?\d`, `lazy{1} class match`},
		// Bounded repetitions of a class.
		{`\d{1,3}\.`, `repeat{1,3} lit"." match`},
		{`[0-9a-f]{2,4}:`, `repeat{2,4} lit":" match`},
		{`x{0,2}y`, `repeat{0,2} lit"y" match`},
		{`\d{1,3}5`, `class alt class alt class lit"5" match`},
		// Empty-width assertions.
		{`^a$`, `empty lit"a" empty match`},
		{`\bx\B`, `empty lit"x" empty match`},
	}
	for _, tt := range tests {
		re, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		if got := describe(re); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.expr, got, tt.want)
		}
	}
}

// TestStart checks how unanchored searches find where to start.
func TestStart(t *testing.T) {
	tests := []struct {
		expr     string
		anchored bool
		prefix   string
		starts   string // bytes a match may start with, of "ab1 é", or "*" for anywhere
	}{
		{`^ab`, true, "", "a"},
		{`\Ab`, true, "", "b"},
		{`ab`, false, "ab", "a"},
		{`(ab)c`, false, "ab", "a"},
		{`\d+x`, false, "", "1"},
		{`[ab]`, false, "", "ab"},
		{`é`, false, "é", "é"},
		{`[^a]`, false, "", "b1 é"},
		{`a*`, false, "", "*"},
		{`\z`, false, "", ""},
		{`(?m)^a`, false, "", "a"},
	}
	for _, tt := range tests {
		re, err := Compile(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		starts := "*"
		if re.startMay != nil {
			var b strings.Builder
			for _, c := range "ab1 é" {
				if re.startMay[string(c)[0]] {
					b.WriteRune(c)
				}
			}
			starts = b.String()
		}
		if re.anchored != tt.anchored || re.prefix != tt.prefix || starts != tt.starts {
			t.Errorf("%q: anchored %v, prefix %q, starts %q; want %v, %q, %q", tt.expr, re.anchored, re.prefix, starts, tt.anchored, tt.prefix, tt.starts)
		}
	}
}

// TestFindSubmatchIndex checks matches worked out by hand, each also
// checked against regexp.
func TestFindSubmatchIndex(t *testing.T) {
	tests := []struct {
		expr, input string
		want        []int
	}{
		{`a`, "", nil},
		{`a`, "ba", []int{1, 2}},
		{`x*`, "", []int{0, 0}},
		{`x*`, "ab", []int{0, 0}},
		{`x*\z`, "ab", []int{2, 2}},
		// Possessive loops and what follows them.
		{`"([^"]*)"`, `a "b c" d`, []int{2, 7, 3, 6}},
		{`(\S+) (\S+)`, "ab  cd ef", []int{4, 9, 4, 6, 7, 9}},
		{`\[([^\]]*)\]`, "[a[b]c]", []int{0, 5, 1, 4}},
		{`(\d+)x`, "12 34x", []int{3, 6, 3, 5}},
		{`(a*?)b`, "aab", []int{0, 3, 0, 2}},
		// Loops that backtrack.
		{`([^"]*), (\d+)`, `a, b, 12"`, []int{0, 8, 0, 4, 6, 8}},
		{`(a*)aab`, "aaab", []int{0, 4, 0, 1}},
		{`(.*?)(\d+)`, "ab12", []int{0, 4, 0, 2, 2, 4}},
		{`(.*)(\d+)`, "ab12", []int{0, 4, 0, 3, 3, 4}},
		{`(\w+?)(\w*?)$`, "abc", []int{0, 3, 0, 1, 1, 3}},
		// Bounded repetitions.
		{`(\d{1,3})\.`, "1234.", []int{1, 5, 1, 4}},
		{`(\d{1,3})(\d)`, "12345", []int{0, 4, 0, 3, 3, 4}},
		// Alternation and captures in loops.
		{`(a|ab)(c|bcd)(d*)`, "abcd", []int{0, 4, 0, 1, 1, 4, 4, 4}},
		{`(?:(a)|b)*`, "ab", []int{0, 2, 0, 1}},
		{`(a*)*`, "b", []int{0, 0, 0, 0}},
		{`(a*)+`, "aa", []int{0, 2, 0, 2}},
		{`(|a)*`, "aa", []int{0, 0, 0, 0}},
		{`(a){0}b`, "ab", []int{1, 2, -1, -1}},
		{`(a)|(b)`, "b", []int{0, 1, -1, -1, 0, 1}},
		// Empty-width assertions.
		{`^a`, "ba", nil},
		{`a$`, "a\n", nil},
		{`(?m)a$`, "a\nb", []int{0, 1}},
		{`(?m)^b`, "a\nb", []int{2, 3}},
		{`\bfoo\b`, "foobar foo", []int{7, 10}},
		{`\Boo\B`, "foo fooo", []int{5, 7}},
		{`\b`, "é", nil},
		{`\B`, "é", []int{0, 0}},
		{`a(?:\n?\z)`, "a\n", []int{0, 2}},
		// Flags.
		{`(?i)straße`, "STRAßE", []int{0, 7}},
		{`(?i)k+`, "kK\u212a", []int{0, 5}},
		{`(?s)a.b`, "a\nb", []int{0, 3}},
		{`a.b`, "a\nb", nil},
		{`(?U)(a+)`, "aaa", []int{0, 1, 0, 1}},
		// Input that is not UTF-8: an invalid byte is the rune U+FFFD of
		// width 1, and starts are whole runes.
		{`\x{FFFD}`, "\xe2\x82\xac", nil},
		{`\x{FFFD}+`, "a\xe2\x82x", []int{1, 3}},
		{`[^a]+`, "a\xff€\xc3", []int{1, 6}},
		{`(.)(.)`, "\xe2\x82\xac\xac", []int{0, 4, 0, 3, 3, 4}},
		{`[^é]*é`, "\xc3\xc3\xa9", []int{0, 3}},
	}
	var m Machine
	for _, tt := range tests {
		re, err := Compile(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.FindSubmatchIndex(re, []byte(tt.input), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q on %q: got %v, want %v", tt.expr, tt.input, got, tt.want)
		}
		if std := regexp.MustCompile(tt.expr).FindSubmatchIndex([]byte(tt.input)); !slices.Equal(std, tt.want) {
			t.Errorf("%q on %q: regexp gives %v, the test wants %v", tt.expr, tt.input, std, tt.want)
		}
	}
}

func TestCompileError(t *testing.T) {
	for _, expr := range []string{`a(`, `[z-a]`, `a**`, `\8`, `(?<x)`, `x{1001}`} {
		_, want := regexp.Compile(expr)
		_, err := Compile(expr)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("Compile(%q): error %v, regexp's %v", expr, err, want)
		}
	}
}

func TestInputTooLong(t *testing.T) {
	re, err := Compile(pexiprpRegexes(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	max := re.MaxInputLen()
	if max < 10_000 {
		t.Errorf("MaxInputLen %d, want at least 10000", max)
	}
	head := `1.2.3.4 - - [x]  "POST /api/client/v2/conferences/a/request_token HTTP/1.1" 403 1 "-" "`
	tail := `" "x" "403" "0"` + "\n"
	in := []byte(head + strings.Repeat("x", max-len(head)-len(tail)) + tail)
	var m Machine
	if loc, err := m.FindSubmatchIndex(re, in, nil); err != nil || loc == nil {
		t.Errorf("input of MaxInputLen: %v, %v", loc, err)
	}
	in = []byte(head + strings.Repeat("x", max+1-len(head)-len(tail)) + tail)
	if loc, err := m.FindSubmatchIndex(re, in, nil); !errors.Is(err, ErrInputTooLong) || loc != nil {
		t.Errorf("input longer than MaxInputLen: %v, %v", loc, err)
	}
}

// TestNoAllocs checks that a Machine searches without allocating once it
// has grown, and writes into dst.
func TestNoAllocs(t *testing.T) {
	lines := rpLines(t, 2000)
	var m Machine
	loc := make([]int, 0, 16)
	for _, expr := range pexiprpRegexes(t) {
		re, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lines {
			m.FindSubmatchIndex(re, line, loc)
		}
		for _, line := range lines[:50] {
			allocs := testing.AllocsPerRun(20, func() {
				got, _ := m.FindSubmatchIndex(re, line, loc)
				if got != nil && &got[0] != &loc[:1][0] {
					t.Fatal("the match is not in dst")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations for %q", allocs, line)
			}
		}
	}
}

// TestLinearTime checks that patterns that take exponential time in a
// plain backtracker take time in proportion to the input.
func TestLinearTime(t *testing.T) {
	for _, expr := range []string{`(a*)*b`, `(a|aa)*b`, `(?:a+)+b`, `(a|a)*b`, `[ab]*a*c`, `(.*)(.*)(.*)x`, `(?:.*?,){9}x`} {
		re, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		var m Machine
		cost := func(n int) time.Duration {
			in := []byte(strings.Repeat("a,", n/2))
			best := time.Duration(1 << 62)
			for range 3 {
				start := time.Now()
				if loc, err := m.FindSubmatchIndex(re, in, nil); loc != nil || err != nil {
					t.Fatalf("%q: %v, %v", expr, loc, err)
				}
				best = min(best, time.Since(start))
			}
			return best
		}
		small, large := cost(4_000), cost(32_000)
		// Linear is 8 times the cost, quadratic 64 times.
		if large > 24*small+time.Millisecond {
			t.Errorf("%q: %v for 4000 bytes, %v for 32000", expr, small, large)
		}
	}
}

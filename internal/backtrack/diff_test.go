package backtrack

import (
	"bufio"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readLiterals reads a file of Go string literals, one a line, skipping
// blank lines and lines starting with '#'.
func readLiterals(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			tb.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// differ returns a description of how m's result for re on input differs
// from regexp's, or "".
func differ(m *Machine, re *Regexp, std *regexp.Regexp, input []byte) string {
	want := std.FindSubmatchIndex(input)
	got, err := m.FindSubmatchIndex(re, input, nil)
	if err != nil {
		if len(input) <= re.MaxInputLen() {
			return "error " + err.Error()
		}
		return ""
	}
	if !slices.Equal(got, want) {
		return "got " + strconv.Quote(sprintInts(got)) + ", regexp " + strconv.Quote(sprintInts(want))
	}
	return ""
}

func sprintInts(x []int) string {
	if x == nil {
		return "nil"
	}
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// generatedInputs returns random inputs made of the runes of expr and of
// bytes that test decoding and assertions; a few are longer than what
// regexp's backtracker takes, so that they compare with its other engines.
func generatedInputs(expr string, seed uint64) []string {
	alphabet := []string{"a", "b", " ", "\n", "\"", "1", ".", ":", "\xff", "\xe2\x82", "é", "\u212a", "_", "€"}
	for _, r := range expr {
		alphabet = append(alphabet, string(r))
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []string
	for i := range 150 {
		n := rng.IntN(24)
		if i >= 147 {
			n = 2000 + rng.IntN(2000)
		}
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		out = append(out, b.String())
	}
	return out
}

// TestDifferential runs every pattern of testdata/patterns.txt on every
// input of testdata/inputs.txt and on generated inputs, with this package
// and with regexp.
func TestDifferential(t *testing.T) {
	patterns := readLiterals(t, "testdata/patterns.txt")
	inputs := readLiterals(t, "testdata/inputs.txt")
	patterns = append(patterns, pexiprpRegexes(t)...)
	var m Machine
	cases := 0
	for i, expr := range patterns {
		std := regexp.MustCompile(expr)
		re, err := Compile(expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
			continue
		}
		if re.NumSubexp() != std.NumSubexp() || !slices.Equal(re.SubexpNames(), std.SubexpNames()) {
			t.Errorf("%q: subexpressions %d %q, regexp %d %q", expr, re.NumSubexp(), re.SubexpNames(), std.NumSubexp(), std.SubexpNames())
		}
		for _, in := range append(slices.Clone(inputs), generatedInputs(expr, uint64(i))...) {
			cases++
			if d := differ(&m, re, std, []byte(in)); d != "" {
				t.Errorf("%q on %q: %s", expr, in, d)
			}
		}
	}
	t.Logf("%d patterns, %d cases", len(patterns), cases)
}

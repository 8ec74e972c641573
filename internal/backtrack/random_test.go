package backtrack

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// patternGen writes random patterns out of the pieces log filters use:
// classes under greedy, lazy and bounded loops, alternations, captures,
// assertions and flags.
type patternGen struct {
	rng *rand.Rand
}

var (
	genAtoms = []string{`a`, `b`, `c`, `é`, `"`, `,`, ` `, `\x{FFFD}`, `k`, `[ab]`, `[^a]`, `[^"]`, `[^,"]`,
		`\d`, `\w`, `\W`, `\s`, `\S`, `.`, `[a-c]`, `[^\n]`, `[é€]`, `(?:)`}
	genAsserts = []string{`^`, `$`, `\b`, `\B`, `\A`, `\z`, `(?m:^)`, `(?m:$)`, `(?:\n?\z)`}
	genRepeats = []string{`*`, `+`, `?`, `*?`, `+?`, `??`, `{2}`, `{0,2}`, `{1,3}`, `{2,}`, `{1,3}?`}
	genFlags   = []string{`(?i:`, `(?s:`, `(?U:`, `(?P<n>`, `(`, `(?:`}
)

func (g *patternGen) pattern(depth int) string {
	r := g.rng.IntN(10)
	if depth <= 0 {
		r = g.rng.IntN(3)
	}
	switch {
	case r <= 1:
		return genAtoms[g.rng.IntN(len(genAtoms))]
	case r == 2:
		return genAtoms[g.rng.IntN(len(genAtoms))] + genRepeats[g.rng.IntN(len(genRepeats))]
	case r == 3:
		return genAsserts[g.rng.IntN(len(genAsserts))]
	case r <= 6:
		var b strings.Builder
		for range 2 + g.rng.IntN(3) {
			b.WriteString(g.pattern(depth - 1))
		}
		return b.String()
	case r == 7:
		return g.pattern(depth-1) + "|" + g.pattern(depth-1)
	case r == 8:
		return genFlags[g.rng.IntN(len(genFlags))] + g.pattern(depth-1) + ")" + genRepeats[g.rng.IntN(len(genRepeats))]
	default:
		return genFlags[g.rng.IntN(len(genFlags))] + g.pattern(depth-1) + ")"
	}
}

var genInputBytes = []string{"a", "b", "c", "é", " ", "\"", ",", "\n", "1", "_", "\xff", "\xe2\x82", "A", "K", "\u212a", "€"}

func (g *patternGen) input() []byte {
	var b strings.Builder
	for range g.rng.IntN(20) {
		b.WriteString(genInputBytes[g.rng.IntN(len(genInputBytes))])
	}
	return []byte(b.String())
}

// TestRandomPatterns compares this package with regexp on random patterns
// and inputs.
func TestRandomPatterns(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 500
	}
	g := &patternGen{rng: rand.New(rand.NewPCG(1, 2))}
	var m Machine
	failures := 0
	for range n {
		expr := g.pattern(4)
		std, err := regexp.Compile(expr)
		if err != nil {
			continue
		}
		re, err := Compile(expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
			continue
		}
		for range 30 {
			in := g.input()
			if d := differ(&m, re, std, in); d != "" {
				t.Errorf("%q on %q: %s", expr, in, d)
				if failures++; failures > 20 {
					t.FailNow()
				}
			}
		}
	}
}

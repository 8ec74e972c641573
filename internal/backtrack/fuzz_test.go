package backtrack

import (
	"errors"
	"regexp"
	"slices"
	"testing"
)

// FuzzMatch compiles a pattern with regexp and with this package and checks
// that both find the same match on the input.
func FuzzMatch(f *testing.F) {
	inputs := readLiterals(f, "testdata/inputs.txt")
	for i, p := range readLiterals(f, "testdata/patterns.txt") {
		f.Add(p, []byte(inputs[i%len(inputs)]))
	}
	f.Fuzz(func(t *testing.T, expr string, input []byte) {
		if len(expr) > 300 || len(input) > 5000 {
			return
		}
		std, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		re, err := Compile(expr)
		if errors.Is(err, errProgramTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("Compile(%q): %v (regexp compiles it)", expr, err)
		}
		if re.NumSubexp() != std.NumSubexp() || !slices.Equal(re.SubexpNames(), std.SubexpNames()) {
			t.Fatalf("%q: subexpressions %d %q, regexp %d %q", expr, re.NumSubexp(), re.SubexpNames(), std.NumSubexp(), std.SubexpNames())
		}
		var m Machine
		if d := differ(&m, re, std, input); d != "" {
			t.Fatalf("%q on %q: %s", expr, input, d)
		}
		// The Machine's scratch from the first search must not leak into
		// the next.
		if d := differ(&m, re, std, input); d != "" {
			t.Fatalf("%q on %q, second search: %s", expr, input, d)
		}
	})
}

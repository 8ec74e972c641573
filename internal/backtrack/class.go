package backtrack

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// A runeClass is what one rune-consuming instruction of Go's program
// accepts.
type runeClass struct {
	// ascii[b] reports whether the byte b < utf8.RuneSelf is in the class;
	// the entries from utf8.RuneSelf up are false, so that a scan over the
	// table stops at the first byte that needs decoding.
	ascii [256]bool
	// inst is Go's instruction, which decides the runes from
	// utf8.RuneSelf up exactly as Go's backtracker does.
	inst syntax.Inst
	// set holds the runes of the class (a superset, should Go's ranges
	// not be sorted), for the first sets of the compiler.
	set runeSet
}

func newRuneClass(in *syntax.Inst) *runeClass {
	c := &runeClass{inst: *in, set: instRunes(in)}
	for b := range rune(utf8.RuneSelf) {
		c.ascii[b] = c.matchRune(b)
	}
	return c
}

// matchRune reports whether r is in the class, as regexp/backtrack.go
// tests it for each opcode.
func (c *runeClass) matchRune(r rune) bool {
	switch c.inst.Op {
	case syntax.InstRune1:
		return r == c.inst.Rune[0]
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	default:
		return c.inst.MatchRune(r)
	}
}

// A runeSet is a set of runes as sorted, disjoint, non-adjacent inclusive
// ranges lo0, hi0, lo1, hi1...
type runeSet []rune

// instRunes returns the runes instruction in consumes; for a class whose
// ranges were not sorted, it returns a superset, which is all its callers
// need.
func instRunes(in *syntax.Inst) runeSet {
	switch in.Op {
	case syntax.InstRuneAny:
		return runeSet{0, unicode.MaxRune}
	case syntax.InstRuneAnyNotNL:
		return runeSet{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	}
	rs := in.Rune
	if len(rs) == 1 {
		set := runeSet{rs[0], rs[0]}
		if in.Op == syntax.InstRune && syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(rs[0]); f != rs[0]; f = unicode.SimpleFold(f) {
				set = set.union(runeSet{f, f})
			}
		}
		return set
	}
	return normalize(rs)
}

// union returns the union of s and t.
func (s runeSet) union(t runeSet) runeSet {
	return normalize(append(slices.Clone(s), t...))
}

// normalize sorts and merges ranges lo0, hi0, lo1, hi1... into a runeSet.
func normalize(ranges []rune) runeSet {
	type span struct{ lo, hi rune }
	spans := make([]span, 0, len(ranges)/2)
	for i := 0; i+1 < len(ranges); i += 2 {
		spans = append(spans, span{ranges[i], ranges[i+1]})
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.lo - b.lo) })
	out := make(runeSet, 0, len(spans)*2)
	for _, sp := range spans {
		if k := len(out); k > 0 && sp.lo <= out[k-1]+1 {
			out[k-1] = max(out[k-1], sp.hi)
			continue
		}
		out = append(out, sp.lo, sp.hi)
	}
	return out
}

// intersects reports whether s and t share a rune.
func (s runeSet) intersects(t runeSet) bool {
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		switch {
		case s[i+1] < t[j]:
			i += 2
		case t[j+1] < s[i]:
			j += 2
		default:
			return true
		}
	}
	return false
}

func (s runeSet) contains(r rune) bool {
	for i := 0; i < len(s); i += 2 {
		if r < s[i] {
			return false
		}
		if r <= s[i+1] {
			return true
		}
	}
	return false
}

// hasMultibyte reports whether s holds a rune that UTF-8 encodes in more
// than one byte; invalid input bytes decode as utf8.RuneError, which is one
// of them.
func (s runeSet) hasMultibyte() bool {
	return len(s) > 0 && s[len(s)-1] >= utf8.RuneSelf
}

package filter

import (
	"bytes"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
)

// A clause is a set of literals at least one of which every match of a
// regex contains.
type clause [][]byte

// Bounds on the prefilter's work per line.
const (
	maxClauses     = 8  // clauses checked per regex
	maxAlternation = 16 // literals in one clause
	// minLiteral is the shortest literal worth a search: single bytes
	// (the "." or ":" of any address) are in nearly every line.
	minLiteral = 2
)

// requiredLiterals derives, from a translated regex, clauses that every
// match satisfies, best first. Regexes that need the backtracking engine
// are first relaxed into a Go-parsable pattern that matches at least as
// much. It returns nil when nothing useful is found.
func requiredLiterals(text string, backtrack bool) []clause {
	if backtrack {
		text = relax(text)
	}
	re, err := syntax.Parse(text, syntax.Perl)
	if err != nil {
		return nil
	}
	info := analyze(re.Simplify())
	cs := info.clauses
	if info.exact && info.lit != "" {
		cs = append(cs, literalClauses(info.lit)...)
	}
	var out []clause
	for _, c := range cs {
		if c = withoutNewlines(c); c != nil && c.shortest() >= minLiteral && !slices.ContainsFunc(out, c.equal) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b clause) int { return b.quality() - a.quality() })
	if len(out) > maxClauses {
		out = out[:maxClauses]
	}
	return out
}

// litInfo is what analyze knows about a subexpression: either the one
// string it matches (exact), or clauses its matches satisfy.
type litInfo struct {
	exact   bool
	lit     string
	clauses []clause
}

func analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: true}
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 && slices.ContainsFunc(re.Rune, hasCase) {
			return litInfo{}
		}
		return litInfo{exact: true, lit: string(re.Rune)}
	case syntax.OpCharClass:
		if len(re.Rune) == 2 && re.Rune[0] == re.Rune[1] {
			return litInfo{exact: true, lit: string(re.Rune[0])}
		}
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpPlus:
		return repeated(analyze(re.Sub[0]))
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return repeated(analyze(re.Sub[0]))
		}
	case syntax.OpConcat:
		return concat(re.Sub)
	case syntax.OpAlternate:
		return alternate(re.Sub)
	}
	return litInfo{}
}

// hasCase reports whether r has other case forms, so a case-insensitive
// literal containing it is not one fixed string.
func hasCase(r rune) bool { return unicode.SimpleFold(r) != r }

// repeated is the info of one or more repetitions of sub.
func repeated(sub litInfo) litInfo {
	out := litInfo{clauses: sub.clauses}
	if sub.exact {
		if sub.lit == "" {
			return litInfo{exact: true}
		}
		out.clauses = append(out.clauses, clause{[]byte(sub.lit)})
	}
	return out
}

func concat(subs []*syntax.Regexp) litInfo {
	var out litInfo
	var run strings.Builder
	exact := true
	for _, s := range subs {
		info := analyze(s)
		if info.exact {
			run.WriteString(info.lit)
			continue
		}
		exact = false
		if run.Len() > 0 {
			out.clauses = append(out.clauses, literalClauses(run.String())...)
			run.Reset()
		}
		out.clauses = append(out.clauses, info.clauses...)
	}
	if exact {
		return litInfo{exact: true, lit: run.String()}
	}
	if run.Len() > 0 {
		out.clauses = append(out.clauses, literalClauses(run.String())...)
	}
	return out
}

func alternate(subs []*syntax.Regexp) litInfo {
	var union clause
	for _, s := range subs {
		info := analyze(s)
		var best clause
		switch {
		case info.exact && info.lit == "":
			return litInfo{}
		case info.exact:
			best = clause{[]byte(info.lit)}
		default:
			for _, c := range info.clauses {
				if best == nil || c.quality() > best.quality() {
					best = c
				}
			}
		}
		if best == nil {
			return litInfo{}
		}
		for _, l := range best {
			if !slices.ContainsFunc(union, func(u []byte) bool { return bytes.Equal(u, l) }) {
				union = append(union, l)
			}
		}
		if len(union) > maxAlternation {
			return litInfo{}
		}
	}
	if len(union) == 0 {
		return litInfo{}
	}
	return litInfo{clauses: []clause{union}}
}

// literalClauses turns a required literal into clauses. The text a regex
// sees ends in "\n" that the line lacks, so a literal is split there.
func literalClauses(lit string) []clause {
	var out []clause
	for piece := range strings.SplitSeq(lit, "\n") {
		if piece != "" {
			out = append(out, clause{[]byte(piece)})
		}
	}
	return out
}

// withoutNewlines replaces each literal of c by its longest piece free of
// "\n", or returns nil if one has none.
func withoutNewlines(c clause) clause {
	out := make(clause, 0, len(c))
	for _, l := range c {
		var best []byte
		for piece := range bytes.SplitSeq(l, []byte("\n")) {
			if len(piece) > len(best) {
				best = piece
			}
		}
		if len(best) == 0 {
			return nil
		}
		out = append(out, best)
	}
	return out
}

// quality ranks clauses: a clause is as selective as its shortest literal,
// and alternatives make it weaker.
func (c clause) quality() int { return c.shortest()*4 - len(c) }

func (c clause) shortest() int {
	short := -1
	for _, l := range c {
		if short < 0 || len(l) < short {
			short = len(l)
		}
	}
	return short
}

func (c clause) equal(o clause) bool {
	return slices.EqualFunc(c, o, bytes.Equal)
}

// relax rewrites a pattern that needs backtracking into one Go can parse
// and that matches every string the original matches: lookarounds go,
// backreferences match anything, atomic groups and conditionals become
// plain groups (a conditional may also match nothing).
func relax(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			c := p[i+1]
			switch {
			case c == 'k' && i+2 < len(p) && p[i+2] == '<':
				end := strings.IndexByte(p[i:], '>')
				if end < 0 {
					return p
				}
				b.WriteString(`(?s:.*)`)
				i += end + 1
			case '1' <= c && c <= '9':
				b.WriteString(`(?s:.*)`)
				i += 2
				for i < len(p) && '0' <= p[i] && p[i] <= '9' {
					i++
				}
			default:
				b.WriteString(p[i : i+2])
				i += 2
			}
		case p[i] == '[':
			end := classEnd(p, i)
			b.WriteString(p[i:end])
			i = end
		case strings.HasPrefix(p[i:], "(?="), strings.HasPrefix(p[i:], "(?!"),
			strings.HasPrefix(p[i:], "(?<="), strings.HasPrefix(p[i:], "(?<!"):
			i = groupEnd(p, i)
		case strings.HasPrefix(p[i:], "(?>"):
			b.WriteString("(?:")
			i += 3
		case strings.HasPrefix(p[i:], "(?("):
			cond := groupEnd(p, i+2)
			end := groupEnd(p, i)
			b.WriteString("(?:" + relax(p[cond:end-1]) + "|)")
			i = end
		default:
			b.WriteByte(p[i])
			i++
		}
	}
	return b.String()
}

// classEnd returns the index after the character class starting at p[i]
// (translated syntax: "]" and "[" inside a class are escaped).
func classEnd(p string, i int) int {
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case ']':
			return j + 1
		}
	}
	return len(p)
}

// groupEnd returns the index after the group opening at p[i].
func groupEnd(p string, i int) int {
	depth := 0
	for j := i; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '[':
			j = classEnd(p, j) - 1
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return j + 1
			}
		}
	}
	return len(p)
}

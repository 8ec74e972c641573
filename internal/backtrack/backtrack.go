// Package backtrack runs Go regular expressions faster than regexp does on
// the kind of pattern log filters use, with exactly regexp's results.
//
// A Regexp is compiled from the same syntax as regexp.Compile (Perl flags,
// leftmost-first matching) into the same program, which a backtracking
// search explores in the same order as regexp's own backtracker, so that
// [Machine.FindSubmatchIndex] returns what regexp.Regexp.FindSubmatchIndex
// returns, group positions included. It is faster because:
//
//   - a star or plus over one character class whose continuation cannot
//     begin with a character of the class (`[^"]*"`, `\S+ `, `\d+ `)
//     consumes its longest run in a tight loop over a byte table, leaving
//     nothing to backtrack to; other loops over a class scan their run the
//     same way and retry their continuation only where its first byte
//     allows;
//   - a bounded repetition of a class followed by what cannot begin with
//     it (`\d{1,3}\.`) consumes its longest run at once;
//   - literal strings are compared as bytes;
//   - a branch whose first byte cannot be the next one is not tried, and an
//     unanchored search skips the start positions where no match can begin;
//   - the visited bitmap that bounds the search, as in regexp, only covers
//     the instructions a path can come back to, and is reused: a Machine
//     owns all the scratch space, so a search allocates nothing.
//
// The bitmap limits the input a Regexp takes (see [Regexp.MaxInputLen]);
// for a longer input, FindSubmatchIndex returns [ErrInputTooLong] and the
// caller must fall back to regexp. It must too for a pattern Compile
// refuses: one regexp rejects, which gets regexp's error, one whose program
// is larger than 10,000 instructions (fail2ban's largest regex has about
// 2,000), or one whose program holds an instruction this package does not
// run (regexp/syntax makes none today).
package backtrack

import (
	"errors"
	"fmt"
	"math"
	"regexp/syntax"
)

// ErrInputTooLong is returned for an input longer than the Regexp's
// MaxInputLen: regexp must answer for it.
var ErrInputTooLong = errors.New("backtrack: input too long")

// maxVisitedBits bounds the visited bitmap (256 KiB), which has one bit per
// marked instruction and input position.
const maxVisitedBits = 1 << 21

// A Regexp is a compiled regular expression. It is safe for concurrent use;
// each goroutine matches with its own Machine.
type Regexp struct {
	expr string
	program
	prefixBytes []byte
	numCap      int // capture slots of the program
	numSubexp   int
	names       []string
	anchored    bool // every match starts at the beginning of the input
	never       bool // nothing can match
	maxInputLen int
}

// Compile parses expr with regexp's syntax and semantics (as
// regexp.Compile does) and compiles it. A pattern regexp rejects gets
// regexp's error.
func Compile(expr string) (*Regexp, error) {
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, err
	}
	p, err := translate(prog)
	if err != nil {
		return nil, fmt.Errorf("backtrack: %q: %w", expr, err)
	}
	cond := prog.StartCond()
	re := &Regexp{
		expr:        expr,
		program:     *p,
		prefixBytes: []byte(p.prefix),
		numCap:      prog.NumCap,
		numSubexp:   parsed.MaxCap(),
		names:       parsed.CapNames(),
		anchored:    cond&syntax.EmptyBeginText != 0,
		never:       cond == ^syntax.EmptyOp(0),
		maxInputLen: math.MaxInt,
	}
	if p.rows > 0 {
		re.maxInputLen = maxVisitedBits/p.rows - 1
	}
	return re, nil
}

// String returns the source text of the expression.
func (re *Regexp) String() string { return re.expr }

// NumSubexp returns the number of parenthesized subexpressions, as
// regexp.Regexp.NumSubexp does.
func (re *Regexp) NumSubexp() int { return re.numSubexp }

// SubexpNames returns the names of the parenthesized subexpressions, as
// regexp.Regexp.SubexpNames does. The caller must not change the slice.
func (re *Regexp) SubexpNames() []string { return re.names }

// MaxInputLen returns the length of the longest input FindSubmatchIndex
// searches with re.
func (re *Regexp) MaxInputLen() int { return re.maxInputLen }

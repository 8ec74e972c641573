package dates

import (
	"bytes"
	"math/bits"
	"unicode/utf8"
)

// This file is a second matcher for the templates most logs use: a custom
// datepattern made of strftime directives and literals, such as nginx's
// "%d/%b/%Y:%H:%M:%S %z". Such a regex is a sequence of items, each of
// which matches one of a few fixed-width strings of ASCII bytes, tried in
// the order Python's backtracking tries them; the only other constructs are
// fail2ban's boundary lookaheads. For an ASCII line the fast matcher
// reports exactly the match the backtracking machine reports, found by
// jumping with bytes.IndexByte to a literal byte every match contains
// instead of starting a match at each position. The detector uses it for
// ASCII lines only; a line with any other byte goes to the machine.

// Bounds on the programs the fast matcher accepts.
const (
	maxFastItems = 48  // items in a template
	maxFastAlts  = 64  // fixed strings one item may match
	maxFastWidth = 16  // bytes of one such string
	maxFastTries = 1e6 // product of the items' alternatives
)

// fastSet is a set of ASCII bytes.
type fastSet [2]uint64

func (s *fastSet) add(c byte) { s[c>>6] |= 1 << (c & 63) }

// has reports whether c is in s; no byte beyond ASCII is.
func (s *fastSet) has(c byte) bool { return c < utf8.RuneSelf && s[c>>6]&(1<<(c&63)) != 0 }

// fastItem is one element of a fast program: a zero-width test (a
// lookahead made of one-character tests, or an assertion), or alternatives
// of fixed width.
type fastItem struct {
	zeroWidth bool
	peek      *peekSet // nil for an assertion
	neg       bool
	assert    assertKind
	ascii     bool
	// alts are the strings the item matches, in the order Python tries
	// them; each is a set per byte.
	alts [][]fastSet
	// byFirst has, for each ASCII byte, a bit for each alternative that
	// may match text starting with it (the empty ones included); atEnd
	// those that match at the end of the input. Items with a single
	// alternative do without.
	byFirst *[utf8.RuneSelf]uint64
	atEnd   uint64
}

func (it *fastItem) test(input []byte, pos int) bool {
	if it.peek != nil {
		return peekAt(it.peek, input, pos) != it.neg
	}
	return assertAt(it.assert, it.ascii, input, pos)
}

// fastGroup is a capturing group spanning items first to last.
type fastGroup struct {
	group       int
	first, last int
}

// fastProgram is a template's regex as items.
type fastProgram struct {
	items    []fastItem
	groups   []fastGroup
	anchored bool // begins with \A or ^
	// anchor is a byte every match has, at an offset from the match start
	// between anchorMin and anchorMax; hasAnchor is false without one.
	anchor               byte
	anchorMin, anchorMax int
	hasAnchor            bool
	// first holds the bytes a match can start with when it cannot be
	// empty (nonEmpty).
	first    fastSet
	nonEmpty bool
	// reach bounds how far past its start a match attempt reads.
	reach int
}

// newFastProgram converts a parsed regex, or returns nil if it has other
// constructs than the fast matcher runs.
func newFastProgram(re *parsedRegex) *fastProgram {
	fp := &fastProgram{}
	if !fp.flatten(re.root) || len(fp.items) == 0 || len(fp.items) > maxFastItems {
		return nil
	}
	tries := 1.0
	for _, it := range fp.items {
		if !it.zeroWidth {
			tries *= float64(len(it.alts))
		}
	}
	if tries > maxFastTries {
		return nil
	}
	fp.reach = 1 // the character a final lookahead or \b looks at
	for _, it := range fp.items {
		_, hi := altWidths(it.alts)
		fp.reach += hi
	}
	fp.anchored = anchoredStart(re.root)
	fp.findAnchor()
	fp.findFirst()
	return fp
}

// flatten appends the items of n, recording the capturing groups that
// span them. It returns false for anything the fast matcher cannot run.
func (fp *fastProgram) flatten(n *node) bool {
	switch n.kind {
	case nodeEmpty:
		return true
	case nodeConcat:
		for _, sub := range n.subs {
			if !fp.flatten(sub) {
				return false
			}
		}
		return true
	case nodeGroup:
		if !hasGroup(n.subs[0]) && n.group == 0 {
			break // an atom
		}
		first := len(fp.items)
		if !fp.flatten(n.subs[0]) {
			return false
		}
		if n.group > 0 {
			if len(fp.items) == first {
				return false // an empty group has no item to take its span from
			}
			fp.groups = append(fp.groups, fastGroup{group: n.group, first: first, last: len(fp.items) - 1})
		}
		return true
	case nodeLook:
		tests, ok := peekTests(n)
		if !ok {
			return false
		}
		fp.items = append(fp.items, fastItem{zeroWidth: true, neg: n.negate, peek: &peekSet{tests: tests, kind: peekKindOf(tests)}})
		return true
	case nodeAssert:
		fp.items = append(fp.items, fastItem{zeroWidth: true, assert: n.assert, ascii: n.ascii})
		return true
	}
	if hasGroup(n) {
		return false
	}
	alts, ok := expand(n)
	if !ok {
		return false
	}
	it := fastItem{alts: alts}
	if len(alts) > 1 {
		it.byFirst = new([utf8.RuneSelf]uint64)
	}
	for k, alt := range alts {
		bit := uint64(1) << k
		if len(alt) == 0 {
			it.atEnd |= bit
		}
		if it.byFirst == nil {
			continue
		}
		for c := range it.byFirst {
			if len(alt) == 0 || alt[0].has(byte(c)) {
				it.byFirst[c] |= bit
			}
		}
	}
	fp.items = append(fp.items, it)
	return true
}

func hasGroup(n *node) bool {
	if n.kind == nodeGroup && n.group > 0 {
		return true
	}
	for _, sub := range n.subs {
		if hasGroup(sub) {
			return true
		}
	}
	return false
}

// expand lists the strings n matches in ASCII text, in the order the
// backtracking machine tries them.
func expand(n *node) ([][]fastSet, bool) {
	switch n.kind {
	case nodeEmpty:
		return [][]fastSet{{}}, true
	case nodeLiteral:
		if n.r >= utf8.RuneSelf {
			return nil, false
		}
		var s fastSet
		c := byte(n.r)
		s.add(c)
		if n.fold {
			s.add(lowerASCII(c))
			s.add(upperASCII(c))
		}
		return [][]fastSet{{s}}, true
	case nodeClass:
		return [][]fastSet{{fastSet(n.class.ascii)}}, true
	case nodeAny:
		s := fastSet{^uint64(0), ^uint64(0)}
		if !n.dotAll {
			s[0] &^= 1 << '\n'
		}
		return [][]fastSet{{s}}, true
	case nodeGroup:
		return expand(n.subs[0])
	case nodeConcat:
		out := [][]fastSet{{}}
		for _, sub := range n.subs {
			alts, ok := expand(sub)
			if !ok {
				return nil, false
			}
			if out, ok = product(out, alts); !ok {
				return nil, false
			}
		}
		return out, true
	case nodeAlternate:
		var out [][]fastSet
		for _, sub := range n.subs {
			alts, ok := expand(sub)
			if !ok || len(out)+len(alts) > maxFastAlts {
				return nil, false
			}
			out = append(out, alts...)
		}
		return out, true
	case nodeRepeat:
		if n.possessive || n.max == unbounded || canBeEmpty(n.subs[0]) {
			return nil, false
		}
		body, ok := expand(n.subs[0])
		if !ok {
			return nil, false
		}
		// The optional copies nest: each tries one more body, then (or,
		// lazily, first) stops.
		rest := [][]fastSet{{}}
		for range n.max - n.min {
			more, ok := product(body, rest)
			if !ok {
				return nil, false
			}
			if n.greedy {
				rest = append(more, []fastSet{})
			} else {
				rest = append([][]fastSet{{}}, more...)
			}
			if len(rest) > maxFastAlts {
				return nil, false
			}
		}
		out := rest
		for range n.min {
			if out, ok = product(body, out); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// product is the concatenation of every string of a with every string of
// b, in backtracking order: b varies fastest.
func product(a, b [][]fastSet) ([][]fastSet, bool) {
	if len(a)*len(b) > maxFastAlts {
		return nil, false
	}
	out := make([][]fastSet, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > maxFastWidth {
				return nil, false
			}
			out = append(out, append(append(make([]fastSet, 0, len(x)+len(y)), x...), y...))
		}
	}
	return out, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// findAnchor picks the byte the search jumps to: the first item that
// matches one single byte, preferring punctuation, which is rarer in log
// lines than letters, digits and spaces.
func (fp *fastProgram) findAnchor() {
	lo, hi := 0, 0
	for _, it := range fp.items {
		if !it.zeroWidth && len(it.alts) == 1 && len(it.alts[0]) == 1 {
			if c, ok := singleByte(it.alts[0][0]); ok {
				rare := c != ' ' && !asciiWord[c]
				if !fp.hasAnchor || rare {
					fp.anchor, fp.anchorMin, fp.anchorMax, fp.hasAnchor = c, lo, hi, true
				}
				if rare {
					return
				}
			}
		}
		if !it.zeroWidth {
			l, h := altWidths(it.alts)
			lo, hi = lo+l, hi+h
		}
	}
}

// findFirst computes the bytes a match can start with.
func (fp *fastProgram) findFirst() {
	for _, it := range fp.items {
		if it.zeroWidth {
			continue
		}
		nullable := false
		for _, alt := range it.alts {
			if len(alt) == 0 {
				nullable = true
				continue
			}
			fp.first[0] |= alt[0][0]
			fp.first[1] |= alt[0][1]
		}
		if !nullable {
			fp.nonEmpty = true
			return
		}
	}
}

func singleByte(s fastSet) (byte, bool) {
	n, c := 0, byte(0)
	for b := 0; b < utf8.RuneSelf; b++ {
		if s.has(byte(b)) {
			n++
			c = byte(b)
		}
	}
	return c, n == 1
}

func altWidths(alts [][]fastSet) (lo, hi int) {
	lo = -1
	for _, a := range alts {
		if lo < 0 || len(a) < lo {
			lo = len(a)
		}
		hi = max(hi, len(a))
	}
	return max(lo, 0), hi
}

// fastBudget bounds the alternatives one search tries. The backtracking
// machine gives up after a number of steps; a search that needs many
// attempts is left to it, so that both give up alike. Dates in logs need
// a few dozen.
const fastBudget = 4096

// search is machine.search for ASCII input: it reports whether the
// program matches input at some position from pos on and fills caps (of
// the program's size) as the machine would. sure is false when the search
// ran out of budget, and the machine must decide. Where input is not ASCII
// from pos-1 on, the result may differ from the machine's (see
// Detector.search).
func (fp *fastProgram) search(caps []int, scratch *fastScratch, input []byte, pos int) (matched, sure bool) {
	scratch.served, scratch.budget = 0, fastBudget
	if pos > len(input) {
		return false, true
	}
	if fp.anchored {
		return pos == 0 && scratch.try(fp, caps, input, 0), scratch.budget >= 0
	}
	if !fp.hasAnchor {
		for s := pos; s <= len(input) && scratch.budget >= 0; s++ {
			if fp.nonEmpty && (s == len(input) || !fp.first.has(input[s])) {
				continue
			}
			if scratch.try(fp, caps, input, s) {
				return true, true
			}
		}
		return false, scratch.budget >= 0
	}
	// A match starting at s has the anchor at s+anchorMin to s+anchorMax;
	// the starts between anchors cannot match.
	for s := pos; scratch.budget >= 0; {
		from := s + fp.anchorMin
		if from >= len(input) {
			return false, true
		}
		i := bytes.IndexByte(input[from:], fp.anchor)
		if i < 0 {
			return false, true
		}
		at := from + i
		s = max(s, at-fp.anchorMax)
		for ; s <= at-fp.anchorMin; s++ {
			if (!fp.nonEmpty || fp.first.has(input[s])) && scratch.try(fp, caps, input, s) {
				return true, true
			}
		}
	}
	return false, false
}

// try is fp.try with a memory of the last matches: an attempt at a start
// depends only on the text from the character before it to fp.reach after
// it (and on whether it is the input's start), so when that text is the
// same as at a remembered match, so is the match. In a log, consecutive
// lines often have the same date. The detector searches whole lines and,
// where the last date was, pieces of them, which end right after the date,
// so it remembers two matches.
func (sc *fastScratch) try(fp *fastProgram, caps []int, input []byte, start int) bool {
	from := max(start-1, 0)
	ctx := input[from:min(len(input), start+fp.reach)]
	for i := range sc.memo {
		m := &sc.memo[i]
		if m.prog != fp || m.atStart != (start == 0) || !bytes.Equal(m.text, ctx) {
			continue
		}
		// The whole match and the date group are all most callers read:
		// the rest waits for complete.
		caps = caps[:len(m.caps)]
		for k, c := range m.caps[:min(4, len(m.caps))] {
			if c >= 0 {
				c += start
			}
			caps[k] = c
		}
		sc.served, sc.newest = m.id, i
		sc.pending, sc.pendingStart = i+1, start
		return true
	}
	sc.pending = 0
	if !fp.try(caps, sc, input, start) {
		return false
	}
	sc.newest = 1 - sc.newest // the other one is the older
	m := &sc.memo[sc.newest]
	sc.lastID++
	sc.served = sc.lastID
	*m = fastMemo{id: sc.lastID, prog: fp, atStart: start == 0, text: append(m.text[:0], ctx...), caps: m.caps[:0]}
	for _, c := range caps {
		if c >= 0 {
			c -= start
		}
		m.caps = append(m.caps, c)
	}
	return true
}

// complete fills in the captures a remembered match left out of caps
// (see try).
func (sc *fastScratch) complete(caps []int) {
	if sc.pending == 0 {
		return
	}
	m := &sc.memo[sc.pending-1]
	for k := 4; k < len(m.caps); k++ {
		c := m.caps[k]
		if c >= 0 {
			c += sc.pendingStart
		}
		caps[k] = c
	}
	sc.pending = 0
}

// try matches the items from start, choosing for each the first
// alternative with which the rest matches.
func (fp *fastProgram) try(caps []int, scratch *fastScratch, input []byte, start int) bool {
	n := len(fp.items)
	at, left := scratch.at[:n+1], scratch.left[:n]
	at[0] = start
	fp.enter(0, input, start, left)
	for i := 0; ; {
		if i == n {
			fp.fill(caps, at)
			return true
		}
		it := &fp.items[i]
		ok := false
		for left[i] != 0 {
			if scratch.budget--; scratch.budget < 0 {
				return false
			}
			k := bits.TrailingZeros64(left[i])
			left[i] &= left[i] - 1
			if it.zeroWidth {
				at[i+1], ok = at[i], true
				break
			}
			alt := it.alts[k]
			if len(alt) == 0 {
				at[i+1], ok = at[i], true
				break
			}
			if end := at[i] + len(alt); end <= len(input) && matchFixed(alt[1:], input[at[i]+1:end]) {
				at[i+1], ok = end, true
				break
			}
		}
		if ok {
			if i++; i < n {
				fp.enter(i, input, at[i], left)
			}
			continue
		}
		if i == 0 {
			return false
		}
		i--
	}
}

// enter sets left[i] to the alternatives item i may match at pos: those
// whose first byte fits, or for a zero-width item one if its test holds.
func (fp *fastProgram) enter(i int, input []byte, pos int, left []uint64) {
	it := &fp.items[i]
	switch {
	case it.zeroWidth:
		left[i] = 0
		if it.test(input, pos) {
			left[i] = 1
		}
	case pos >= len(input):
		left[i] = it.atEnd
	case input[pos] >= utf8.RuneSelf:
		left[i] = 0
	case it.byFirst != nil:
		left[i] = it.byFirst[input[pos]]
	default:
		left[i] = 0
		if alt := it.alts[0]; len(alt) == 0 || alt[0].has(input[pos]) {
			left[i] = 1
		}
	}
}

func matchFixed(alt []fastSet, text []byte) bool {
	for k, c := range text {
		if c >= utf8.RuneSelf || !alt[k].has(c) {
			return false
		}
	}
	return true
}

// fill sets caps as the machine leaves them after a match.
func (fp *fastProgram) fill(caps []int, at []int) {
	for i := range caps {
		caps[i] = -1
	}
	caps[0], caps[1] = at[0], at[len(at)-1]
	for _, g := range fp.groups {
		caps[2*g.group], caps[2*g.group+1] = at[g.first], at[g.last+1]
	}
}

// fastScratch is the fast matcher's working memory: where each item
// starts (and the end), and the alternatives each item has yet to try.
type fastScratch struct {
	at   [maxFastItems + 1]int
	left [maxFastItems]uint64
	// budget is what the current search has left of fastBudget.
	budget int
	// memo holds the last two matches, memo[newest] the one used last.
	// Each has an ID, lastID the latest; served is the ID of the one that
	// gave the last match search found, 0 if none did.
	memo   [2]fastMemo
	newest int
	lastID uint64
	served uint64
	// pending is 1 + the index of the memory whose captures after the
	// date group are not yet in the caller's caps, 0 if none;
	// pendingStart is where that match starts.
	pending      int
	pendingStart int
}

// fastMemo is a match remembered: its program, the text it depended on,
// whether it was at the input's start, and its captures relative to its
// start.
type fastMemo struct {
	id      uint64
	prog    *fastProgram
	text    []byte
	atStart bool
	caps    []int
}

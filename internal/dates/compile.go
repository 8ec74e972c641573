package dates

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf8"
)

type opcode uint8

const (
	opLiteral    opcode = iota // input continues with lit; ASCII letters folded when fold
	opLiteralSet               // input continues with one of lits
	opClass                    // one rune in cls
	opAny                      // one rune other than \n
	opAnyNL                    // any one rune
	opSplit                    // try x; on failure, y
	opJmp                      // continue at x
	opSave                     // caps[arg] = pos
	opAssert                   // zero-width assertion assertKind(arg)
	opPeek                     // lookahead made of one-character tests, inlined
	opLook                     // lookaround of the sub-program at x; arg is the lookbehind width or -1
	opAtomic                   // the sub-program at x, never backtracked into
	opCond                     // continue if group arg matched, else jump to x
	opBackref                  // the text group arg matched
	opLoop                     // end of an iteration that may be empty: stop looping if it was
	opDone                     // end of a sub-program
	opMatch                    // end of the program
)

// inst is one instruction of a program. The sets of opClass, opPeek and
// opLiteralSet are in the program's tables, at index arg.
type inst struct {
	op    opcode
	fold  bool
	neg   bool // negative lookaround
	ascii bool // ASCII word boundary
	arg   int32
	x, y  int32
	// For opSplit: when the next byte cannot start the branch at x (or y),
	// that branch is skipped without a choice point.
	guardX, guardY *byteSet
	lit            string
}

// peekSet is the alternatives of an inlined lookahead.
type peekSet struct {
	tests []peekTest
	// kind recognises fail2ban's word boundaries, which have fast paths.
	kind peekKind
}

type peekKind uint8

const (
	peekAny       peekKind = iota // run the tests
	peekWordBegin                 // (?=^|\b|\W)
	peekWordEnd                   // (?=\b|\W|$)
)

// peekTest is one alternative of an inlined lookahead such as fail2ban's
// (?=\b|\W|$): either an assertion or a test of the next character.
type peekTest struct {
	assert assertKind
	ascii  bool
	cls    *charClass // nil for an assertion
}

// program is a compiled regular expression.
type program struct {
	insts   []inst
	classes []*charClass
	peeks   []*peekSet
	litSets [][]string
	ncap    int // capture slots, 2 per group (group 0 is the whole match), then loop registers
	groups  int
	names   map[string]int
	// anchored programs can only match at the start of the input.
	anchored bool
	// first, when not nil, holds the bytes a match can start with.
	first *byteSet
	// lead is the program's leading lookahead (fail2ban's word-begin
	// boundary), checked before a match is attempted at each position.
	lead    *peekSet
	leadNeg bool
	// hint, when not nil, is a byte every match has near its start.
	hint *startHint
	// fast, when not nil, runs the program on ASCII input.
	fast *fastProgram
}

// startHint says that a match starting at s has a byte of set at some
// offset from s between min and max, such as the "/" after the day in
// "%d/%b/%Y". It rules out most false starts in one short scan.
type startHint struct {
	min, max int
	set      byteSet
}

func (h *startHint) allows(input []byte, s int) bool {
	for i := s + h.min; i <= s+h.max && i < len(input); i++ {
		if h.set.contains(input[i]) {
			return true
		}
	}
	return false
}

// maxSize bounds the size of a program (instructions plus literal bytes)
// and the work of compiling it, both of which counted repeats multiply.
const maxSize = 20000

func compileRegex(src string) (*program, error) {
	re, err := parseRegex(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{
		src:     src,
		prog:    &program{groups: re.groups, names: re.names},
		nextReg: 2 * (re.groups + 1),
	}
	c.emit(inst{op: opSave, arg: 0})
	if err := c.compile(re.root); err != nil {
		return nil, err
	}
	c.emit(inst{op: opSave, arg: 1})
	c.emit(inst{op: opMatch})
	c.prog.ncap = c.nextReg
	c.prog.anchored = anchoredStart(re.root)
	if in := c.prog.insts[1]; in.op == opPeek {
		c.prog.lead, c.prog.leadNeg = c.prog.peeks[in.arg], in.neg
	}
	c.prog.first = c.guard(re.root)
	c.prog.hint = findStartHint(re.root)
	c.prog.fast = newFastProgram(re)
	return c.prog, nil
}

type compiler struct {
	src     string
	prog    *program
	nextReg int
	// lastLabel is the latest pc taken as a jump target; a literal ending
	// just before it must not be extended.
	lastLabel int
	// size counts instructions, literal bytes and compile steps.
	size int
	sets map[byteSet]*byteSet
}

func (c *compiler) emit(i inst) int {
	c.size++
	c.prog.insts = append(c.prog.insts, i)
	return len(c.prog.insts) - 1
}

func (c *compiler) pc() int { return len(c.prog.insts) }

func (c *compiler) class(cls *charClass) {
	c.prog.classes = append(c.prog.classes, cls)
	c.emit(inst{op: opClass, arg: int32(len(c.prog.classes) - 1)})
}

// label returns the next pc for use as a jump target.
func (c *compiler) label() int {
	c.lastLabel = c.pc()
	return c.lastLabel
}

func (c *compiler) compile(n *node) error {
	if c.size++; c.size > maxSize {
		return fmt.Errorf("regex %q: too large", c.src)
	}
	switch n.kind {
	case nodeEmpty:
	case nodeLiteral:
		c.literal(n)
	case nodeClass:
		c.class(n.class)
	case nodeAny:
		if n.dotAll {
			c.emit(inst{op: opAnyNL})
		} else {
			c.emit(inst{op: opAny})
		}
	case nodeConcat:
		for _, sub := range n.subs {
			if err := c.compile(sub); err != nil {
				return err
			}
		}
	case nodeAlternate:
		if lits, fold, ok := literalSet(n); ok {
			c.prog.litSets = append(c.prog.litSets, lits)
			c.emit(inst{op: opLiteralSet, fold: fold, arg: int32(len(c.prog.litSets) - 1)})
			c.size += len(lits)
			return nil
		}
		var exits []int
		for i, sub := range n.subs {
			split := -1
			if i < len(n.subs)-1 {
				split = c.emit(inst{op: opSplit, guardX: c.guard(sub)})
				c.prog.insts[split].x = int32(c.label())
			}
			if err := c.compile(sub); err != nil {
				return err
			}
			if split >= 0 {
				exits = append(exits, c.emit(inst{op: opJmp}))
				c.prog.insts[split].y = int32(c.label())
			}
		}
		end := c.label()
		for _, j := range exits {
			c.prog.insts[j].x = int32(end)
		}
	case nodeRepeat:
		return c.repeat(n)
	case nodeGroup:
		if n.group > 0 {
			c.emit(inst{op: opSave, arg: int32(2 * n.group)})
		}
		if err := c.compile(n.subs[0]); err != nil {
			return err
		}
		if n.group > 0 {
			c.emit(inst{op: opSave, arg: int32(2*n.group + 1)})
		}
	case nodeBackref:
		c.emit(inst{op: opBackref, arg: int32(n.group), fold: n.fold})
	case nodeAssert:
		c.emit(inst{op: opAssert, arg: int32(n.assert), ascii: n.ascii})
	case nodeLook:
		if tests, ok := peekTests(n); ok {
			c.prog.peeks = append(c.prog.peeks, &peekSet{tests: tests, kind: peekKindOf(tests)})
			c.emit(inst{op: opPeek, neg: n.negate, arg: int32(len(c.prog.peeks) - 1)})
			return nil
		}
		width := -1
		if n.behind {
			lo, hi := widthRange(n.subs[0])
			if lo != hi || lo < 0 {
				return fmt.Errorf("regex %q: look-behind requires fixed-width pattern", c.src)
			}
			width = lo
		}
		return c.subProgram(inst{op: opLook, neg: n.negate, arg: int32(width)}, n.subs[0])
	case nodeAtomic:
		return c.subProgram(inst{op: opAtomic}, n.subs[0])
	case nodeCond:
		cond := c.emit(inst{op: opCond, arg: int32(n.group)})
		if err := c.compile(n.subs[0]); err != nil {
			return err
		}
		exit := c.emit(inst{op: opJmp})
		c.prog.insts[cond].x = int32(c.label())
		if err := c.compile(n.subs[1]); err != nil {
			return err
		}
		c.prog.insts[exit].x = int32(c.label())
	}
	return nil
}

// subProgram lays out a lookaround or atomic group as
//
//	L:   head, x = L+2
//	L+1: jump past the sub-program
//	L+2: sub-program; done
//
// so that the matcher continues at L+1 once the sub-program succeeded.
func (c *compiler) subProgram(head inst, sub *node) error {
	at := c.emit(head)
	skip := c.emit(inst{op: opJmp})
	c.prog.insts[at].x = int32(c.label())
	if err := c.compile(sub); err != nil {
		return err
	}
	c.emit(inst{op: opDone})
	c.prog.insts[skip].x = int32(c.label())
	return nil
}

func (c *compiler) literal(n *node) {
	r := n.r
	switch {
	case !n.fold:
		c.appendLiteral(string(r), false)
	case r < utf8.RuneSelf:
		c.appendLiteral(string(unicode.ToLower(r)), true)
	case hasCaseVariants(r):
		// Other scripts' letters are sets of their case variants.
		b := newClassBuilder(flagIgnoreCase)
		b.addRange(r, r)
		c.class(b.build(false))
	default:
		c.appendLiteral(string(r), true)
	}
}

// literalSet returns the strings of an alternation of plain literals of
// which at most one can match at any position (none is a prefix of
// another), such as %b's month names; the matcher then tries them without
// choice points.
func literalSet(n *node) (lits []string, fold, ok bool) {
	for i, alt := range n.subs {
		var b strings.Builder
		items := []*node{alt}
		if alt.kind == nodeConcat {
			items = alt.subs
		}
		for j, item := range items {
			if item.kind != nodeLiteral || item.fold && item.r >= utf8.RuneSelf && hasCaseVariants(item.r) {
				return nil, false, false
			}
			if i == 0 && j == 0 {
				fold = item.fold
			} else if item.fold != fold {
				return nil, false, false
			}
			r := item.r
			if fold {
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		lits = append(lits, b.String())
	}
	for i, a := range lits {
		for j, b := range lits {
			if i != j && strings.HasPrefix(b, a) {
				return nil, false, false
			}
		}
	}
	return lits, fold, true
}

// appendLiteral extends the previous literal instruction when it has the
// same folding, so that runs of text are compared in one step.
func (c *compiler) appendLiteral(s string, fold bool) {
	c.size += len(s)
	if k := len(c.prog.insts) - 1; k >= 0 {
		last := &c.prog.insts[k]
		if last.op == opLiteral && last.fold == fold && c.lastLabel != c.pc() {
			last.lit += s
			return
		}
	}
	c.emit(inst{op: opLiteral, lit: s, fold: fold})
}

func (c *compiler) repeat(n *node) error {
	if n.possessive {
		greedy := *n
		greedy.possessive = false
		return c.subProgram(inst{op: opAtomic}, &greedy)
	}
	sub := n.subs[0]
	for i := 0; i < n.min; i++ {
		if err := c.compile(sub); err != nil {
			return err
		}
	}
	if n.max == unbounded {
		head := c.emit(inst{op: opSplit})
		body := c.label()
		// Python stops repeating a group once an iteration matched
		// nothing; without this check x* of an empty-matching x would
		// loop forever.
		reg := -1
		if canBeEmpty(sub) {
			reg = c.nextReg
			c.nextReg++
			c.emit(inst{op: opSave, arg: int32(reg)})
		}
		if err := c.compile(sub); err != nil {
			return err
		}
		tail := -1
		if reg >= 0 {
			tail = c.emit(inst{op: opLoop, arg: int32(reg), x: int32(head)})
		} else {
			c.emit(inst{op: opJmp, x: int32(head)})
		}
		exit := c.label()
		if tail >= 0 {
			c.prog.insts[tail].y = int32(exit)
		}
		c.setSplit(head, body, exit, n.greedy, c.guard(sub))
		return nil
	}
	var splits []int
	for i := n.min; i < n.max; i++ {
		splits = append(splits, c.emit(inst{op: opSplit}))
		c.label()
		if err := c.compile(sub); err != nil {
			return err
		}
	}
	exit := c.label()
	g := c.guard(sub)
	for _, s := range splits {
		c.setSplit(s, s+1, exit, n.greedy, g)
	}
	return nil
}

func (c *compiler) setSplit(at, body, exit int, greedy bool, g *byteSet) {
	in := &c.prog.insts[at]
	if greedy {
		in.x, in.y, in.guardX = int32(body), int32(exit), g
	} else {
		in.x, in.y, in.guardY = int32(exit), int32(body), g
	}
}

// guard returns the bytes a match of n can start with, or nil if n can
// match the empty string. Equal sets are shared.
func (c *compiler) guard(n *node) *byteSet {
	var set byteSet
	if firstBytes(n, &set) {
		return nil
	}
	if shared, ok := c.sets[set]; ok {
		return shared
	}
	if c.sets == nil {
		c.sets = map[byteSet]*byteSet{}
	}
	c.sets[set] = &set
	return &set
}

func hasCaseVariants(r rune) bool {
	return unicode.SimpleFold(r) != r || r == 0x130 || r == 0x131
}

// peekTests recognises a lookahead whose alternatives each look at one
// character at most, such as fail2ban's word boundaries (?=^|\b|\W) and
// (?=\b|\W|$), and returns them as tests the matcher runs inline.
func peekTests(n *node) ([]peekTest, bool) {
	if n.behind {
		return nil, false
	}
	alts := []*node{n.subs[0]}
	if n.subs[0].kind == nodeAlternate {
		alts = n.subs[0].subs
	}
	tests := make([]peekTest, 0, len(alts))
	for _, a := range alts {
		switch a.kind {
		case nodeAssert:
			tests = append(tests, peekTest{assert: a.assert, ascii: a.ascii})
		case nodeClass:
			tests = append(tests, peekTest{cls: a.class})
		case nodeLiteral:
			b := newClassBuilder(0)
			if a.fold {
				b = newClassBuilder(flagIgnoreCase)
			}
			b.addRange(a.r, a.r)
			tests = append(tests, peekTest{cls: b.build(false)})
		default:
			return nil, false
		}
	}
	return tests, true
}

// peekKindOf recognises fail2ban's boundaries among lookaheads.
func peekKindOf(tests []peekTest) peekKind {
	isAssert := func(t peekTest, kind assertKind) bool {
		return t.cls == nil && t.assert == kind && !t.ascii
	}
	isNotWord := func(t peekTest) bool {
		c := t.cls
		return c != nil && !c.negate && len(c.ranges) == 0 && len(c.cats) == 1 &&
			c.cats[0] == category{kind: 'w', neg: true}
	}
	switch {
	case len(tests) != 3:
	case isAssert(tests[0], assertBeginText) && isAssert(tests[1], assertWordBoundary) && isNotWord(tests[2]):
		return peekWordBegin
	case isAssert(tests[0], assertWordBoundary) && isNotWord(tests[1]) && isAssert(tests[2], assertEndTextNL):
		return peekWordEnd
	}
	return peekAny
}

// widthRange returns the least and greatest number of characters n can
// match; hi is -1 when unbounded.
func widthRange(n *node) (lo, hi int) {
	return width(n, func(*node) (int, int) { return 1, 1 })
}

// byteWidth returns the least and greatest number of bytes n can match;
// hi is -1 when unbounded.
func byteWidth(n *node) (lo, hi int) {
	return width(n, byteLeafWidth)
}

// byteLeafWidth returns the bytes one literal, class or any-character node
// can match.
func byteLeafWidth(n *node) (lo, hi int) {
	switch n.kind {
	case nodeLiteral:
		switch {
		case n.fold && n.r < utf8.RuneSelf && strings.ContainsRune("iIkKsS", n.r):
			return 1, 3 // İ, ı, ſ: 2 bytes; K (Kelvin): 3
		case n.fold && hasCaseVariants(n.r):
			return 1, utf8.UTFMax
		}
		l := utf8.RuneLen(n.r)
		return l, l
	case nodeClass:
		if n.class.canMatchNonASCII() {
			return 1, utf8.UTFMax
		}
		return 1, 1
	case nodeAny:
		return 1, utf8.UTFMax
	}
	return 1, 1
}

// width returns the least and greatest width of what n can match, with
// leaf giving the width of a literal, class or any-character node; hi is
// -1 when unbounded.
func width(n *node, leaf func(*node) (int, int)) (lo, hi int) {
	switch n.kind {
	case nodeLiteral, nodeClass, nodeAny:
		return leaf(n)
	case nodeConcat:
		for _, sub := range n.subs {
			l, h := width(sub, leaf)
			lo += l
			if hi >= 0 {
				if h < 0 {
					hi = -1
				} else {
					hi += h
				}
			}
		}
		return lo, hi
	case nodeAlternate, nodeCond:
		lo, hi = width(n.subs[0], leaf)
		for _, sub := range n.subs[1:] {
			l, h := width(sub, leaf)
			lo = min(lo, l)
			if hi >= 0 && (h < 0 || h > hi) {
				hi = h
			}
		}
		return lo, hi
	case nodeRepeat:
		l, h := width(n.subs[0], leaf)
		if n.max == unbounded || h < 0 {
			if h == 0 {
				return l * n.min, 0
			}
			return l * n.min, -1
		}
		return l * n.min, h * n.max
	case nodeGroup, nodeAtomic:
		return width(n.subs[0], leaf)
	case nodeBackref:
		return 0, -1
	}
	return 0, 0 // empty, assertions, lookarounds
}

func canBeEmpty(n *node) bool {
	lo, _ := widthRange(n)
	return lo == 0
}

// findStartHint looks along the top-level sequence of n for the first item
// that needs one of a few ASCII bytes at a bounded offset from the start.
func findStartHint(n *node) *startHint {
	lo, hi := 0, 0
	var hint *startHint
	var walk func(n *node) bool // false to stop
	walk = func(n *node) bool {
		switch n.kind {
		case nodeConcat:
			for _, sub := range n.subs {
				if !walk(sub) {
					return false
				}
			}
			return true
		case nodeGroup, nodeAtomic:
			return walk(n.subs[0])
		case nodeLiteral, nodeClass:
			var set byteSet
			firstBytes(n, &set)
			if hi > 0 && set[2] == 0 && set[3] == 0 && bits.OnesCount64(set[0])+bits.OnesCount64(set[1]) <= 8 {
				hint = &startHint{min: lo, max: hi, set: set}
				return false
			}
		}
		l, h := byteWidth(n)
		if h < 0 {
			return false
		}
		lo, hi = lo+l, hi+h
		return true
	}
	walk(n)
	return hint
}

// anchoredStart reports whether every match of n must start at the start
// of the input.
func anchoredStart(n *node) bool {
	switch n.kind {
	case nodeAssert:
		return n.assert == assertBeginText
	case nodeConcat:
		return anchoredStart(n.subs[0])
	case nodeGroup, nodeAtomic:
		return anchoredStart(n.subs[0])
	case nodeAlternate:
		for _, sub := range n.subs {
			if !anchoredStart(sub) {
				return false
			}
		}
		return true
	}
	return false
}

// firstBytes adds to set the bytes a match of n can start with and reports
// whether n can match the empty string (in which case the caller must not
// rely on set alone). Zero-width items are transparent.
func firstBytes(n *node, set *byteSet) (nullable bool) {
	switch n.kind {
	case nodeLiteral:
		addRuneStart(set, n.r)
		if n.fold {
			addRuneStart(set, unicode.ToLower(n.r))
			addRuneStart(set, unicode.ToUpper(n.r))
			if l := unicode.ToLower(n.r); l == 'i' || l == 'k' || l == 's' {
				addNonASCII(set) // İ, ı, K (Kelvin), ſ
			}
		}
		return false
	case nodeClass:
		set[0] |= n.class.ascii[0]
		set[1] |= n.class.ascii[1]
		if n.class.canMatchNonASCII() {
			addNonASCII(set)
		}
		return false
	case nodeAny:
		all := byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		if !n.dotAll {
			all[0] &^= 1 << '\n'
		}
		for i := range set {
			set[i] |= all[i]
		}
		return false
	case nodeConcat:
		for _, sub := range n.subs {
			if !firstBytes(sub, set) {
				return false
			}
		}
		return true
	case nodeAlternate, nodeCond:
		for _, sub := range n.subs {
			if firstBytes(sub, set) {
				nullable = true
			}
		}
		return nullable
	case nodeRepeat:
		return firstBytes(n.subs[0], set) || n.min == 0
	case nodeGroup, nodeAtomic:
		return firstBytes(n.subs[0], set)
	case nodeBackref:
		*set = byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		return true
	}
	return true // empty, assertions, lookarounds
}

func addRuneStart(set *byteSet, r rune) {
	if r < utf8.RuneSelf {
		set.add(byte(r))
		return
	}
	addNonASCII(set)
}

// addNonASCII admits every byte from 0x80: the matcher reads an invalid
// byte as U+FFFD, which a set may contain.
func addNonASCII(set *byteSet) {
	set[2], set[3] = ^uint64(0), ^uint64(0)
}

// byteSet is a set of bytes.
type byteSet [4]uint64

func (s *byteSet) add(b byte)           { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) contains(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }

package dates

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file parses the dialect of Python's re module that fail2ban's date
// templates are written in. Go's regexp cannot run them: they rely on
// lookarounds, backreferences and conditionals, and, more subtly, on
// Python's backtracking order deciding which of several overlapping matches
// is reported when a trailing lookahead rejects the first one. The parser
// builds a syntax tree that compile.go turns into a program for the
// backtracking matcher in match.go.

type nodeKind uint8

const (
	nodeEmpty     nodeKind = iota
	nodeLiteral            // one rune
	nodeClass              // [...], \d, \w, \s and their negations
	nodeAny                // .
	nodeConcat             // subs in sequence
	nodeAlternate          // subs as alternatives, tried in order
	nodeRepeat             // subs[0] repeated min..max times
	nodeGroup              // subs[0], captured when group > 0
	nodeBackref            // text of group
	nodeAssert             // zero-width assertion
	nodeLook               // lookahead or lookbehind of subs[0]
	nodeAtomic             // (?>...)
	nodeCond               // (?(group)subs[0]|subs[1])
)

type assertKind uint8

const (
	assertBeginText       assertKind = iota // \A, and ^ without MULTILINE
	assertBeginLine                         // ^ with MULTILINE
	assertEndText                           // \Z
	assertEndTextNL                         // $ without MULTILINE: end, or before a final \n
	assertEndLine                           // $ with MULTILINE
	assertWordBoundary                      // \b
	assertNotWordBoundary                   // \B
)

const unbounded = -1

type node struct {
	kind   nodeKind
	r      rune
	class  *charClass
	subs   []*node
	min    int
	max    int // unbounded for no limit
	greedy bool
	// possessive marks x*+ and friends (Python 3.11).
	possessive bool
	group      int
	assert     assertKind
	behind     bool
	negate     bool
	fold       bool // IGNORECASE applies to this literal, class or backref
	ascii      bool // ASCII flag applies to \b and \B
	dotAll     bool // DOTALL applies to this .
}

// Python regular expression flags.
type reFlags uint8

const (
	flagIgnoreCase reFlags = 1 << iota
	flagMultiline
	flagDotAll
	flagASCII
	flagVerbose
)

// maxGroups bounds capture groups; Python's own limit is far higher, but a
// date pattern with more is certainly a mistake.
const maxGroups = 100

type parser struct {
	src    string
	pos    int
	flags  reFlags
	groups int
	names  map[string]int
	open   map[int]bool // groups whose closing parenthesis is not parsed yet
	// atStart is true until the first item of the pattern is parsed;
	// Python 3.11 accepts global flags only there.
	atStart bool
	depth   int
}

// parsedRegex is a parsed pattern with its group names.
type parsedRegex struct {
	root   *node
	groups int
	names  map[string]int
}

func parseRegex(src string) (*parsedRegex, error) {
	p := &parser{src: src, names: map[string]int{}, open: map[int]bool{}, atStart: true}
	root, err := p.parseAlternation()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, p.errorf("unbalanced parenthesis")
	}
	return &parsedRegex{root: root, groups: p.groups, names: p.names}, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("regex %q at position %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte { return p.src[p.pos] }

func (p *parser) consume(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) skipVerbose() {
	if p.flags&flagVerbose == 0 {
		return
	}
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			p.pos++
		case c == '#':
			for !p.eof() && p.peek() != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) parseAlternation() (*node, error) {
	var alts []*node
	for {
		n, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, n)
		if p.eof() || p.peek() != '|' {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &node{kind: nodeAlternate, subs: alts}, nil
}

func (p *parser) parseConcat() (*node, error) {
	var items []*node
	for {
		p.skipVerbose()
		if p.eof() || p.peek() == '|' || p.peek() == ')' {
			break
		}
		atom, err := p.parseAtom()
		if err != nil {
			return nil, err
		}
		if atom == nil { // a comment or a flags group
			continue
		}
		p.atStart = false
		if atom, err = p.parseQuantifier(atom); err != nil {
			return nil, err
		}
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return &node{kind: nodeEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &node{kind: nodeConcat, subs: items}, nil
}

// quantifierBounds parses {m}, {m,}, {,n} or {m,n} at p.pos (which is at
// '{'). ok is false when the text is not a quantifier, in which case Python
// reads the brace as a literal.
func (p *parser) quantifierBounds() (lo, hi int, ok bool, err error) {
	i := p.pos + 1
	start := i
	for i < len(p.src) && isASCIIDigit(p.src[i]) {
		i++
	}
	loText := p.src[start:i]
	hiText := loText
	if i < len(p.src) && p.src[i] == ',' {
		i++
		start = i
		for i < len(p.src) && isASCIIDigit(p.src[i]) {
			i++
		}
		hiText = p.src[start:i]
	}
	if i >= len(p.src) || p.src[i] != '}' || i == p.pos+1 {
		return 0, 0, false, nil
	}
	lo, hi = 0, unbounded
	if loText != "" {
		if lo, err = strconv.Atoi(loText); err != nil || lo > 1<<16 {
			return 0, 0, false, p.errorf("repeat count too large")
		}
	}
	if hiText != "" {
		if hi, err = strconv.Atoi(hiText); err != nil || hi > 1<<16 {
			return 0, 0, false, p.errorf("repeat count too large")
		}
		if hi < lo {
			return 0, 0, false, p.errorf("min repeat greater than max repeat")
		}
	}
	p.pos = i + 1
	return lo, hi, true, nil
}

func (p *parser) parseQuantifier(atom *node) (*node, error) {
	p.skipVerbose()
	if p.eof() {
		return atom, nil
	}
	var lo, hi int
	switch p.peek() {
	case '*':
		lo, hi = 0, unbounded
		p.pos++
	case '+':
		lo, hi = 1, unbounded
		p.pos++
	case '?':
		lo, hi = 0, 1
		p.pos++
	case '{':
		var ok bool
		var err error
		if lo, hi, ok, err = p.quantifierBounds(); err != nil {
			return nil, err
		} else if !ok {
			return atom, nil
		}
	default:
		return atom, nil
	}
	if atom.kind == nodeAssert {
		return nil, p.errorf("nothing to repeat")
	}
	rep := &node{kind: nodeRepeat, subs: []*node{atom}, min: lo, max: hi, greedy: true}
	if !p.eof() {
		switch p.peek() {
		case '?':
			rep.greedy = false
			p.pos++
		case '+':
			rep.possessive = true
			p.pos++
		}
	}
	if !p.eof() {
		switch c := p.peek(); {
		case c == '*' || c == '+' || c == '?':
			return nil, p.errorf("multiple repeat")
		case c == '{':
			save := p.pos
			if _, _, ok, _ := p.quantifierBounds(); ok {
				return nil, p.errorf("multiple repeat")
			}
			p.pos = save
		}
	}
	return rep, nil
}

func (p *parser) parseAtom() (*node, error) {
	c := p.peek()
	switch c {
	case '(':
		return p.parseGroup()
	case '[':
		return p.parseClass()
	case '.':
		p.pos++
		return &node{kind: nodeAny, dotAll: p.flags&flagDotAll != 0}, nil
	case '^':
		p.pos++
		if p.flags&flagMultiline != 0 {
			return &node{kind: nodeAssert, assert: assertBeginLine}, nil
		}
		return &node{kind: nodeAssert, assert: assertBeginText}, nil
	case '$':
		p.pos++
		if p.flags&flagMultiline != 0 {
			return &node{kind: nodeAssert, assert: assertEndLine}, nil
		}
		return &node{kind: nodeAssert, assert: assertEndTextNL}, nil
	case '\\':
		return p.parseEscape()
	case '*', '+', '?':
		return nil, p.errorf("nothing to repeat")
	case '{':
		save := p.pos
		if _, _, ok, err := p.quantifierBounds(); err != nil {
			return nil, err
		} else if ok {
			p.pos = save
			return nil, p.errorf("nothing to repeat")
		}
		p.pos++
		return p.literal('{'), nil
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += size
	return p.literal(r), nil
}

func (p *parser) literal(r rune) *node {
	return &node{kind: nodeLiteral, r: r, fold: p.flags&flagIgnoreCase != 0}
}

func (p *parser) parseGroupName(term byte) (string, error) {
	end := strings.IndexByte(p.src[p.pos:], term)
	if end < 0 {
		return "", p.errorf("missing %c, unterminated name", term)
	}
	name := p.src[p.pos : p.pos+end]
	if !isIdentifier(name) {
		return "", p.errorf("bad character in group name %q", name)
	}
	p.pos += end + 1
	return name, nil
}

func (p *parser) parseGroup() (*node, error) {
	p.pos++ // (
	if p.eof() || p.peek() != '?' {
		return p.parseCapture("")
	}
	p.pos++ // ?
	switch {
	case p.consume("P<"):
		name, err := p.parseGroupName('>')
		if err != nil {
			return nil, err
		}
		if _, dup := p.names[name]; dup {
			return nil, p.errorf("redefinition of group name %q", name)
		}
		return p.parseCapture(name)
	case p.consume("P="):
		name, err := p.parseGroupName(')')
		if err != nil {
			return nil, err
		}
		g, ok := p.names[name]
		if !ok {
			return nil, p.errorf("unknown group name %q", name)
		}
		return p.backref(g)
	case p.consume(":"):
		return p.parseGroupBody(&node{kind: nodeGroup})
	case p.consume("="):
		return p.parseGroupBody(&node{kind: nodeLook})
	case p.consume("!"):
		return p.parseGroupBody(&node{kind: nodeLook, negate: true})
	case p.consume("<="):
		return p.parseGroupBody(&node{kind: nodeLook, behind: true})
	case p.consume("<!"):
		return p.parseGroupBody(&node{kind: nodeLook, behind: true, negate: true})
	case p.consume(">"):
		return p.parseGroupBody(&node{kind: nodeAtomic})
	case p.consume("#"):
		end := strings.IndexByte(p.src[p.pos:], ')')
		if end < 0 {
			return nil, p.errorf("missing ), unterminated comment")
		}
		p.pos += end + 1
		return nil, nil
	case p.consume("("):
		return p.parseConditional()
	}
	return p.parseFlags()
}

func (p *parser) parseCapture(name string) (*node, error) {
	p.groups++
	if p.groups >= maxGroups {
		return nil, p.errorf("too many groups")
	}
	g := p.groups
	if name != "" {
		p.names[name] = g
	}
	p.open[g] = true
	n, err := p.parseGroupBody(&node{kind: nodeGroup, group: g})
	delete(p.open, g)
	return n, err
}

func (p *parser) parseGroupBody(n *node) (*node, error) {
	p.depth++
	if p.depth > 100 {
		return nil, p.errorf("too deeply nested")
	}
	p.atStart = false
	sub, err := p.parseAlternation()
	p.depth--
	if err != nil {
		return nil, err
	}
	if p.eof() || p.peek() != ')' {
		return nil, p.errorf("missing ), unterminated subpattern")
	}
	p.pos++
	n.subs = []*node{sub}
	return n, nil
}

func (p *parser) backref(g int) (*node, error) {
	if p.open[g] {
		return nil, p.errorf("cannot refer to an open group")
	}
	return &node{kind: nodeBackref, group: g, fold: p.flags&flagIgnoreCase != 0}, nil
}

func (p *parser) parseConditional() (*node, error) {
	end := strings.IndexByte(p.src[p.pos:], ')')
	if end < 0 {
		return nil, p.errorf("missing ), unterminated name")
	}
	ref := p.src[p.pos : p.pos+end]
	p.pos += end + 1
	var g int
	if n, err := strconv.Atoi(ref); err == nil && n > 0 {
		g = n
		if g > p.groups {
			return nil, p.errorf("invalid group reference %d", g)
		}
	} else if named, ok := p.names[ref]; ok {
		g = named
	} else {
		return nil, p.errorf("unknown group name %q", ref)
	}
	p.atStart = false
	yes, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	no := &node{kind: nodeEmpty}
	if !p.eof() && p.peek() == '|' {
		p.pos++
		if no, err = p.parseConcat(); err != nil {
			return nil, err
		}
		if !p.eof() && p.peek() == '|' {
			return nil, p.errorf("conditional backref with more than two branches")
		}
	}
	if p.eof() || p.peek() != ')' {
		return nil, p.errorf("missing ), unterminated subpattern")
	}
	p.pos++
	return &node{kind: nodeCond, group: g, subs: []*node{yes, no}}, nil
}

// parseFlags parses (?aimsux) global flags and (?aimsux-imsx:...) scoped
// ones; the "(?" is consumed.
func (p *parser) parseFlags() (*node, error) {
	var on, off reFlags
	readFlags := func(dst *reFlags) error {
		for !p.eof() {
			switch p.peek() {
			case 'i':
				*dst |= flagIgnoreCase
			case 'm':
				*dst |= flagMultiline
			case 's':
				*dst |= flagDotAll
			case 'a':
				*dst |= flagASCII
			case 'x':
				*dst |= flagVerbose
			case 'u':
				// Unicode matching is the default for text patterns.
			case 'L':
				return p.errorf("bad inline flags: cannot use 'L' flag with a str pattern")
			default:
				return nil
			}
			p.pos++
		}
		return nil
	}
	if err := readFlags(&on); err != nil {
		return nil, err
	}
	if p.consume("-") {
		if err := readFlags(&off); err != nil {
			return nil, err
		}
		if off&flagASCII != 0 {
			return nil, p.errorf("bad inline flags: cannot turn off flags 'a', 'u' and 'L'")
		}
	}
	switch {
	case p.consume(")"):
		if off != 0 {
			return nil, p.errorf("missing :")
		}
		if !p.atStart || p.depth > 0 {
			return nil, p.errorf("global flags not at the start of the expression")
		}
		p.flags |= on
		return nil, nil
	case p.consume(":"):
		saved := p.flags
		p.flags = (p.flags | on) &^ off
		n, err := p.parseGroupBody(&node{kind: nodeGroup})
		p.flags = saved
		return n, err
	}
	if p.eof() {
		return nil, p.errorf("missing -, : or )")
	}
	return nil, p.errorf("unknown extension ?%c", p.peek())
}

func (p *parser) parseEscape() (*node, error) {
	p.pos++ // backslash
	if p.eof() {
		return nil, p.errorf("bad escape (end of pattern)")
	}
	c := p.peek()
	switch c {
	case 'A':
		p.pos++
		return &node{kind: nodeAssert, assert: assertBeginText}, nil
	case 'Z':
		p.pos++
		return &node{kind: nodeAssert, assert: assertEndText}, nil
	case 'b':
		p.pos++
		return &node{kind: nodeAssert, assert: assertWordBoundary, ascii: p.flags&flagASCII != 0}, nil
	case 'B':
		p.pos++
		return &node{kind: nodeAssert, assert: assertNotWordBoundary, ascii: p.flags&flagASCII != 0}, nil
	case 'd', 'D', 'w', 'W', 's', 'S':
		p.pos++
		cls := newClassBuilder(p.flags)
		cls.addCategory(c)
		return &node{kind: nodeClass, class: cls.build(false)}, nil
	}
	if c >= '1' && c <= '9' {
		// \1..\99 refer to groups, unless three octal digits make a character.
		if p.pos+2 < len(p.src) && isOctal(c) && isOctal(p.src[p.pos+1]) && isOctal(p.src[p.pos+2]) {
			return p.escapedLiteral()
		}
		end := p.pos + 1
		if end < len(p.src) && isASCIIDigit(p.src[end]) {
			end++
		}
		g, _ := strconv.Atoi(p.src[p.pos:end])
		p.pos = end
		if g > p.groups {
			return nil, p.errorf("invalid group reference %d", g)
		}
		return p.backref(g)
	}
	return p.escapedLiteral()
}

func (p *parser) escapedLiteral() (*node, error) {
	r, err := p.escapeRune(false)
	if err != nil {
		return nil, err
	}
	return p.literal(r), nil
}

// escapeRune reads the character an escape stands for; p.pos is just after
// the backslash.
func (p *parser) escapeRune(inClass bool) (rune, error) {
	c := p.peek()
	switch c {
	case 'a':
		p.pos++
		return '\a', nil
	case 'f':
		p.pos++
		return '\f', nil
	case 'n':
		p.pos++
		return '\n', nil
	case 'r':
		p.pos++
		return '\r', nil
	case 't':
		p.pos++
		return '\t', nil
	case 'v':
		p.pos++
		return '\v', nil
	case 'b':
		if inClass {
			p.pos++
			return '\b', nil
		}
	case 'x':
		return p.hexEscape(2)
	case 'u':
		return p.hexEscape(4)
	case 'U':
		return p.hexEscape(8)
	}
	if isOctal(c) {
		// \0, \0o, \0oo, or three octal digits.
		end := p.pos + 1
		for end < len(p.src) && end < p.pos+3 && isOctal(p.src[end]) {
			end++
		}
		if c != '0' && end-p.pos < 3 && !inClass {
			return 0, p.errorf("invalid group reference")
		}
		v, _ := strconv.ParseUint(p.src[p.pos:end], 8, 32)
		if v > 0o377 {
			return 0, p.errorf("octal escape value outside of range 0-0o377")
		}
		p.pos = end
		return rune(v), nil
	}
	if c < utf8.RuneSelf && (isASCIILetter(c) || isASCIIDigit(c)) {
		return 0, p.errorf("bad escape \\%c", c)
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += size
	return r, nil
}

func (p *parser) hexEscape(digits int) (rune, error) {
	start := p.pos + 1
	if start+digits > len(p.src) {
		return 0, p.errorf("incomplete escape \\%c", p.peek())
	}
	v, err := strconv.ParseUint(p.src[start:start+digits], 16, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, p.errorf("bad escape \\%c", p.peek())
	}
	p.pos = start + digits
	return rune(v), nil
}

func (p *parser) parseClass() (*node, error) {
	p.pos++ // [
	b := newClassBuilder(p.flags)
	negate := false
	if !p.eof() && p.peek() == '^' {
		negate = true
		p.pos++
	}
	first := true
	for {
		if p.eof() {
			return nil, p.errorf("unterminated character set")
		}
		if p.peek() == ']' && !first {
			p.pos++
			break
		}
		first = false
		lo, isCat, err := p.classItem(b)
		if err != nil {
			return nil, err
		}
		if isCat {
			if p.pos+1 < len(p.src) && p.peek() == '-' && p.src[p.pos+1] != ']' {
				return nil, p.errorf("bad character range")
			}
			continue
		}
		if p.pos+1 < len(p.src) && p.peek() == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			hi, hiCat, err := p.classItem(b)
			if err != nil {
				return nil, err
			}
			if hiCat {
				return nil, p.errorf("bad character range")
			}
			if hi < lo {
				return nil, p.errorf("bad character range")
			}
			b.addRange(lo, hi)
			continue
		}
		b.addRange(lo, lo)
	}
	return &node{kind: nodeClass, class: b.build(negate)}, nil
}

// classItem reads one character of a set, or a category escape such as \d
// (which it adds to b, reporting isCat).
func (p *parser) classItem(b *classBuilder) (r rune, isCat bool, err error) {
	if p.peek() != '\\' {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += size
		return r, false, nil
	}
	p.pos++
	if p.eof() {
		return 0, false, p.errorf("bad escape (end of pattern)")
	}
	switch c := p.peek(); c {
	case 'd', 'D', 'w', 'W', 's', 'S':
		p.pos++
		b.addCategory(c)
		return 0, true, nil
	}
	r, err = p.escapeRune(true)
	return r, false, err
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || isWordRune(r) && (i > 0 || !isDigitRune(r)) {
			continue
		}
		return false
	}
	return true
}

func isASCIIDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isOctal(c byte) bool       { return '0' <= c && c <= '7' }
func isASCIILetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

package dates

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// minSteps and stepsPerByte bound the work of one search. Python would
// backtrack for as long as it takes; here a pathological custom pattern
// just fails to match. Real date patterns need a few dozen steps per start
// position, far below the bound.
const (
	minSteps     = 1 << 20
	stepsPerByte = 64
)

// frame is an entry of the backtracking stack: a choice point to resume
// (slot < 0) or a capture slot to restore.
type frame struct {
	pc, pos int32
	slot    int32
	old     int32
}

// machine runs programs by backtracking, trying alternatives in the order
// Python's re does, so that it reports the same match. Its buffers are
// reused: after the first lines it allocates nothing.
type machine struct {
	caps     []int
	stack    []frame
	steps    int
	maxSteps int
	aborted  bool
}

func (m *machine) reserve(ncap int) {
	if cap(m.caps) < ncap {
		m.caps = make([]int, ncap)
	}
	m.caps = m.caps[:ncap]
}

// search reports whether p matches input at some position from pos on, as
// Python's pattern.search(line, pos, endpos) does with input = line[:endpos]:
// lookbehind and \b see the text before pos, nothing sees beyond endpos. On
// success m.caps holds the captures.
func (m *machine) search(p *program, input []byte, pos int) bool {
	m.reserve(p.ncap)
	m.steps, m.aborted = 0, false
	m.maxSteps = max(minSteps, stepsPerByte*len(input))
	if pos > len(input) || len(input) > math.MaxInt32 { // frames hold int32 positions
		return false
	}
	if p.anchored {
		return pos == 0 && m.try(p, input, 0)
	}
	for start := pos; ; {
		if p.first != nil {
			for start < len(input) && !p.first.contains(input[start]) {
				start += runeLen(input, start)
			}
			if start >= len(input) {
				return false
			}
		}
		if (p.lead == nil || peekAt(p.lead, input, start) != p.leadNeg) &&
			(p.hint == nil || p.hint.allows(input, start)) && m.try(p, input, start) {
			return true
		}
		if m.aborted || start >= len(input) {
			return false
		}
		start += runeLen(input, start)
	}
}

func (m *machine) try(p *program, input []byte, start int) bool {
	for i := range m.caps {
		m.caps[i] = -1
	}
	m.stack = m.stack[:0]
	pc := 0
	if p.lead != nil {
		// search has checked the leading lookahead: skip it, after the
		// start of group 0 it would have saved.
		m.caps[0] = start
		pc = 2
	}
	_, ok := m.run(p, input, pc, start)
	return ok
}

// run executes p from pc at pos until opMatch or opDone and returns the
// position reached. It leaves on the stack only the capture records that
// the caller may need to undo. The machine's fields are kept in locals in
// the loop, and written back around nested runs and on return.
func (m *machine) run(p *program, input []byte, pc, pos int) (int, bool) {
	base := len(m.stack)
	stack, caps, steps := m.stack, m.caps, m.steps
	insts, classes := p.insts, p.classes
	for {
		if steps++; steps > m.maxSteps {
			m.aborted = true
			m.stack, m.steps = stack[:base], steps
			return 0, false
		}
		in := &insts[pc]
		switch in.op {
		case opLiteral:
			n, ok := matchLiteral(input, pos, in.lit, in.fold)
			if !ok {
				goto fail
			}
			pos += n
			pc++
		case opLiteralSet:
			matched := false
			for _, lit := range p.litSets[in.arg] {
				if n, ok := matchLiteral(input, pos, lit, in.fold); ok {
					pos += n
					matched = true
					break
				}
			}
			if !matched {
				goto fail
			}
			pc++
		case opClass:
			if pos >= len(input) {
				goto fail
			}
			if c := input[pos]; c < utf8.RuneSelf {
				if classes[in.arg].ascii[c>>6]&(1<<(c&63)) == 0 {
					goto fail
				}
				pos++
			} else {
				r, size := utf8.DecodeRune(input[pos:])
				if !classes[in.arg].match(r) {
					goto fail
				}
				pos += size
			}
			pc++
		case opAny:
			if pos >= len(input) || input[pos] == '\n' {
				goto fail
			}
			pos += runeLen(input, pos)
			pc++
		case opAnyNL:
			if pos >= len(input) {
				goto fail
			}
			pos += runeLen(input, pos)
			pc++
		case opSplit:
			if in.guardX != nil && (pos >= len(input) || !in.guardX.contains(input[pos])) {
				pc = int(in.y)
				continue
			}
			if in.guardY != nil && (pos >= len(input) || !in.guardY.contains(input[pos])) {
				pc = int(in.x)
				continue
			}
			stack = append(stack, frame{pc: in.y, pos: int32(pos), slot: -1})
			pc = int(in.x)
		case opJmp:
			pc = int(in.x)
		case opSave:
			stack = append(stack, frame{slot: in.arg, old: int32(caps[in.arg])})
			caps[in.arg] = pos
			pc++
		case opAssert:
			if !assertAt(assertKind(in.arg), in.ascii, input, pos) {
				goto fail
			}
			pc++
		case opPeek:
			if peekAt(p.peeks[in.arg], input, pos) == in.neg {
				goto fail
			}
			pc++
		case opLook:
			start := pos
			if in.arg >= 0 {
				start = backRunes(input, pos, int(in.arg))
			}
			ok := false
			if start >= 0 {
				mark := len(stack)
				m.stack, m.steps = stack, steps
				_, ok = m.run(p, input, int(in.x), start)
				if m.aborted {
					return 0, false
				}
				if ok && in.neg {
					m.unwind(mark)
				}
				stack, steps = m.stack, m.steps
			}
			if ok == in.neg {
				goto fail
			}
			pc++
		case opAtomic:
			m.stack, m.steps = stack, steps
			end, ok := m.run(p, input, int(in.x), pos)
			if m.aborted {
				return 0, false
			}
			stack, steps = m.stack, m.steps
			if !ok {
				goto fail
			}
			pos = end
			pc++
		case opCond:
			if caps[2*in.arg] >= 0 && caps[2*in.arg+1] >= 0 {
				pc++
			} else {
				pc = int(in.x)
			}
		case opBackref:
			s, e := caps[2*in.arg], caps[2*in.arg+1]
			if s < 0 || e < 0 {
				goto fail
			}
			n, ok := matchBackref(input, pos, input[s:e], in.fold)
			if !ok {
				goto fail
			}
			pos += n
			pc++
		case opLoop:
			if pos == caps[in.arg] {
				pc = int(in.y)
			} else {
				pc = int(in.x)
			}
		case opDone:
			m.stack, m.steps = stack, steps
			m.dropChoices(base)
			return pos, true
		case opMatch:
			m.stack, m.steps = stack, steps
			return pos, true
		}
		continue
	fail:
		for {
			if len(stack) == base {
				m.stack, m.steps = stack, steps
				return 0, false
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.slot >= 0 {
				caps[f.slot] = int(f.old)
				continue
			}
			pc, pos = int(f.pc), int(f.pos)
			break
		}
	}
}

// dropChoices removes the choice points above base once a lookaround or
// atomic group has matched, keeping the capture records: Python keeps the
// groups set inside a positive lookaround but never backtracks into it.
func (m *machine) dropChoices(base int) {
	kept := base
	for _, f := range m.stack[base:] {
		if f.slot >= 0 {
			m.stack[kept] = f
			kept++
		}
	}
	m.stack = m.stack[:kept]
}

// unwind restores the captures recorded above mark.
func (m *machine) unwind(mark int) {
	for len(m.stack) > mark {
		f := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		if f.slot >= 0 {
			m.caps[f.slot] = int(f.old)
		}
	}
}

// matchLiteral returns the length of the text at pos that lit matches. With
// fold, lit is in lower case and ASCII letters match either case, as well
// as the non-ASCII letters Python folds onto i, k and s.
func matchLiteral(input []byte, pos int, lit string, fold bool) (int, bool) {
	if len(input)-pos < len(lit) && !fold {
		return 0, false
	}
	if !fold {
		return len(lit), string(input[pos:pos+len(lit)]) == lit
	}
	n := pos
	for i := 0; i < len(lit); i++ {
		if n >= len(input) {
			return 0, false
		}
		c, l := input[n], lit[i]
		switch {
		case c < utf8.RuneSelf:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != l {
				return 0, false
			}
			n++
		case l >= utf8.RuneSelf:
			if c != l {
				return 0, false
			}
			n++
		default:
			r, size := utf8.DecodeRune(input[n:])
			if !foldsOnto(r, l) {
				return 0, false
			}
			n += size
		}
	}
	return n - pos, true
}

// foldsOnto reports whether Python's IGNORECASE matches the non-ASCII r
// with the ASCII letter c.
func foldsOnto(r rune, c byte) bool {
	switch r {
	case 0x130, 0x131: // İ, ı
		return c == 'i'
	case 0x17f: // ſ
		return c == 's'
	case 0x212a: // Kelvin sign
		return c == 'k'
	}
	return false
}

func matchBackref(input []byte, pos int, text []byte, fold bool) (int, bool) {
	if !fold {
		if len(input)-pos < len(text) || string(input[pos:pos+len(text)]) != string(text) {
			return 0, false
		}
		return len(text), true
	}
	n := pos
	for i := 0; i < len(text); {
		want, wsize := decodeRune(text, i)
		if n >= len(input) {
			return 0, false
		}
		got, gsize := decodeRune(input, n)
		if !equalFold(want, got) {
			return 0, false
		}
		i += wsize
		n += gsize
	}
	return n - pos, true
}

func equalFold(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

func assertAt(kind assertKind, ascii bool, input []byte, pos int) bool {
	switch kind {
	case assertBeginText:
		return pos == 0
	case assertBeginLine:
		return pos == 0 || input[pos-1] == '\n'
	case assertEndText:
		return pos == len(input)
	case assertEndTextNL:
		return pos == len(input) || pos == len(input)-1 && input[pos] == '\n'
	case assertEndLine:
		return pos == len(input) || input[pos] == '\n'
	case assertWordBoundary:
		return wordBefore(input, pos, ascii) != wordAt(input, pos, ascii)
	case assertNotWordBoundary:
		// Python's \B never matches in empty input.
		return len(input) > 0 && wordBefore(input, pos, ascii) == wordAt(input, pos, ascii)
	}
	return false
}

func peekAt(set *peekSet, input []byte, pos int) bool {
	switch set.kind {
	case peekWordBegin:
		// ^ or \b or \W: anything but a word character after another.
		if pos == 0 {
			return true
		}
		if pos >= len(input) {
			return wordBefore(input, pos, false)
		}
		return !wordAt(input, pos, false) || !wordBefore(input, pos, false)
	case peekWordEnd:
		// \b or \W or $: likewise, or the end.
		return pos >= len(input) || !wordAt(input, pos, false) || !wordBefore(input, pos, false)
	}
	for _, t := range set.tests {
		if t.cls == nil {
			if assertAt(t.assert, t.ascii, input, pos) {
				return true
			}
			continue
		}
		if pos < len(input) {
			if r, _ := decodeRune(input, pos); t.cls.match(r) {
				return true
			}
		}
	}
	return false
}

func wordAt(input []byte, pos int, ascii bool) bool {
	if pos >= len(input) {
		return false
	}
	if c := input[pos]; c < utf8.RuneSelf {
		return asciiWord[c]
	}
	if ascii {
		return false
	}
	r, _ := utf8.DecodeRune(input[pos:])
	return isWordRune(r)
}

func wordBefore(input []byte, pos int, ascii bool) bool {
	if pos <= 0 {
		return false
	}
	if c := input[pos-1]; c < utf8.RuneSelf {
		return asciiWord[c]
	}
	if ascii {
		return false
	}
	r, _ := utf8.DecodeLastRune(input[:pos])
	return isWordRune(r)
}

// asciiWord is \w for ASCII.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = isWordRune(rune(c))
	}
	return t
}()

// decodeRune reads the rune at pos; an invalid byte reads as U+FFFD, as
// Python's decoder with errors="replace" would have made it.
func decodeRune(input []byte, pos int) (rune, int) {
	if c := input[pos]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRune(input[pos:])
}

func runeLen(input []byte, pos int) int {
	if pos >= len(input) || input[pos] < utf8.RuneSelf {
		return 1
	}
	_, size := utf8.DecodeRune(input[pos:])
	return size
}

// backRunes returns the position n runes before pos, or -1.
func backRunes(input []byte, pos, n int) int {
	for ; n > 0; n-- {
		if pos <= 0 {
			return -1
		}
		if input[pos-1] < utf8.RuneSelf {
			pos--
			continue
		}
		_, size := utf8.DecodeLastRune(input[:pos])
		pos -= size
	}
	return pos
}

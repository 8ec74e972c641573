package dates

import (
	"unicode"
	"unicode/utf8"
)

// charClass is a compiled character set. Python matches text patterns
// against Unicode code points, so \d, \w and \s (and \b, built on \w) cover
// all of Unicode, not just ASCII as in Go's regexp.
type charClass struct {
	ascii  [2]uint64 // the answer for every rune below 0x80, all rules applied
	ranges []rune    // lo, hi pairs as written, before negation
	cats   []category
	negate bool
	fold   bool // IGNORECASE: a rune matches if one of its case variants does
	// foldASCII limits fold to ASCII letters (the ASCII flag).
	foldASCII bool
}

// category is \d, \w or \s (or a negation) inside a set.
type category struct {
	kind  byte // 'd', 'w' or 's'
	neg   bool
	ascii bool // the ASCII flag restricts it to ASCII
}

func (c category) match(r rune) bool {
	in := false
	if !c.ascii || r < utf8.RuneSelf {
		switch c.kind {
		case 'd':
			in = isDigitRune(r)
		case 'w':
			in = isWordRune(r)
		case 's':
			in = isSpaceRune(r)
		}
	}
	return in != c.neg
}

type classBuilder struct {
	cls   charClass
	ascii bool
}

func newClassBuilder(flags reFlags) *classBuilder {
	return &classBuilder{
		cls:   charClass{fold: flags&flagIgnoreCase != 0},
		ascii: flags&flagASCII != 0,
	}
}

func (b *classBuilder) addRange(lo, hi rune) { b.cls.ranges = append(b.cls.ranges, lo, hi) }

func (b *classBuilder) addCategory(c byte) {
	cat := category{kind: c | 0x20, neg: c < 'a', ascii: b.ascii}
	b.cls.cats = append(b.cls.cats, cat)
}

func (b *classBuilder) build(negate bool) *charClass {
	c := &b.cls
	c.negate = negate
	c.foldASCII = c.fold && b.ascii
	for r := rune(0); r < utf8.RuneSelf; r++ {
		if c.foldedMatch(r) != negate {
			c.ascii[r>>6] |= 1 << (r & 63)
		}
	}
	return c
}

// rawMatch reports whether r is in the set as written.
func (c *charClass) rawMatch(r rune) bool {
	for i := 0; i < len(c.ranges); i += 2 {
		if c.ranges[i] <= r && r <= c.ranges[i+1] {
			return true
		}
	}
	for _, cat := range c.cats {
		if cat.match(r) {
			return true
		}
	}
	return false
}

// foldedMatch is rawMatch widened by IGNORECASE, before negation.
func (c *charClass) foldedMatch(r rune) bool {
	if c.rawMatch(r) {
		return true
	}
	if !c.fold {
		return false
	}
	if c.foldASCII {
		return r < utf8.RuneSelf && isASCIILetter(byte(r)) && c.rawMatch(r^0x20)
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if c.rawMatch(f) {
			return true
		}
	}
	// Python also equates the dotted and dotless capital and small I with
	// i, which Unicode simple case folding does not.
	switch r {
	case 'i', 'I':
		return c.rawMatch(0x130) || c.rawMatch(0x131)
	case 0x130, 0x131:
		return c.rawMatch('i') || c.rawMatch('I')
	}
	return false
}

func (c *charClass) match(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r>>6]&(1<<(r&63)) != 0
	}
	return c.foldedMatch(r) != c.negate
}

// canMatchNonASCII reports whether some rune of 0x80 or above may match.
func (c *charClass) canMatchNonASCII() bool {
	if c.negate || len(c.cats) > 0 || c.fold {
		return true
	}
	for i := 1; i < len(c.ranges); i += 2 {
		if c.ranges[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// isWordRune is Python's \w for text: str.isalnum() or underscore.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || '0' <= r && r <= '9' || 'a' <= r|0x20 && r|0x20 <= 'z'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// isAlnum is Python's str.isalnum() for one character.
func isAlnum(r rune) bool { return r != '_' && isWordRune(r) }

// isDigitRune is Python's \d for text: any decimal digit (category Nd).
func isDigitRune(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsDigit(r)
}

// digitValue returns the value of a decimal digit, which Python's int()
// accepts from any script.
func digitValue(r rune) (int, bool) {
	if '0' <= r && r <= '9' {
		return int(r - '0'), true
	}
	if r < utf8.RuneSelf || !unicode.IsDigit(r) {
		return 0, false
	}
	// Unicode encodes each script's digits as a contiguous run from zero
	// to nine, and the Nd table's ranges are unions of whole runs.
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

// isSpaceRune is Python's str.isspace() for one character, which is what
// \s matches in a text pattern.
func isSpaceRune(r rune) bool {
	switch {
	case r == ' ' || '\t' <= r && r <= '\r' || 0x1c <= r && r <= 0x1f:
		return true
	case r < 0x85:
		return false
	}
	switch r {
	case 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}

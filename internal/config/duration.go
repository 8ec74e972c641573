package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pinjail/pinjail/internal/ini"
)

// ParseDuration reads a time value the way fail2ban's MyTime.str2seconds
// does. Units follow numbers, with or without a space: s/sec/second(s),
// m/mm/min/minute(s), h/hh/hour(s), d/dd/day(s), w/ww/week(s),
// mo/mon/month(s) (a twelfth of 365.25 days) and y/yy/year(s) (365.25 days),
// in any letter case. Juxtaposed groups add up ("1h 30m", "1d12h"), and the
// whole is an arithmetic expression ("2*10m", "1y-6mo", "(1h+30m)/2") with
// + - * / // % ** and parentheses. A bare number is seconds.
//
// The result is rounded to the nanosecond. -1, fail2ban's "for ever", is
// returned as Permanent; other negative values are returned as they are.
func ParseDuration(s string) (time.Duration, error) {
	expr := expandUnits(s)
	v, err := evalArith(expr)
	if err != nil {
		return 0, fmt.Errorf("invalid time %q: %w", s, err)
	}
	secs := v.float()
	if secs == -1 {
		return Permanent, nil
	}
	ns := math.Round(secs * 1e9)
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("invalid time %q: out of range", s)
	}
	return time.Duration(ns), nil
}

// timeUnits are str2seconds's unit words, each with its alternatives in the
// order its regex tries them, and the seconds it stands for, as text: the
// text is pasted into the expression, so "mo" becomes "*2629800.0", a float
// as in Python.
var timeUnits = []struct {
	words   []string
	seconds string
}{
	{[]string{"days", "day", "da", "dd", "d"}, "86400"},
	{[]string{"weeks", "week", "wee", "we", "ww", "w"}, "604800"},
	{[]string{"months", "month", "mon", "mo"}, "2629800.0"},
	{[]string{"years", "year", "yea", "ye", "yy", "y"}, "31557600.0"},
	{[]string{"seconds", "second", "sec", "se", "ss", "s"}, "1"},
	{[]string{"minutes", "minute", "min", "mi", "mm", "m"}, "60"},
	{[]string{"hours", "hour", "hou", "ho", "hh", "h"}, "3600"},
}

// expandUnits rewrites a str2seconds time into an arithmetic expression in
// its three steps: a space goes between a letter and a following digit
// ("1d12h" → "1d 12h"), each unit word after a digit or blank becomes
// "*<seconds>", and blanks between two digits become "+".
func expandUnits(s string) string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		if unicode.IsDigit(r) && prev < utf8.RuneSelf && unicode.IsLetter(prev) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prev = r
	}
	s = b.String()
	for _, u := range timeUnits {
		s = replaceUnit(s, u.words, "*"+u.seconds)
	}
	return joinNumbers(s)
}

// replaceUnit replaces, left to right, each of words (case-insensitive)
// that follows a digit or blank and ends at a word boundary.
func replaceUnit(s string, words []string, repl string) string {
	var b strings.Builder
	i := 0
	for p := 0; p < len(s); {
		if p > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s[:p]); unicode.IsDigit(r) || ini.IsSpace(r) {
				if w := matchWord(s[p:], words); w > 0 {
					b.WriteString(s[i:p])
					b.WriteString(repl)
					p += w
					i = p
					continue
				}
			}
		}
		_, size := utf8.DecodeRuneInString(s[p:])
		p += size
	}
	b.WriteString(s[i:])
	return b.String()
}

// matchWord returns the length of the first of words that s starts with,
// ignoring case, and that is not followed by a word character.
func matchWord(s string, words []string) int {
	for _, w := range words {
		if len(s) < len(w) || !strings.EqualFold(s[:len(w)], w) {
			continue
		}
		if r, _ := utf8.DecodeRuneInString(s[len(w):]); len(s) == len(w) || !isPyWord(r) {
			return len(w)
		}
	}
	return 0
}

// joinNumbers replaces blanks between two digits by "+", like
// re.sub(r"(\d)\s+(\d)", r"\1+\2"): matches do not overlap, so in "1 2 3"
// only the first blank is replaced.
func joinNumbers(s string) string {
	var b strings.Builder
	i := 0
	for p := 0; p < len(s); {
		r, size := utf8.DecodeRuneInString(s[p:])
		if !unicode.IsDigit(r) {
			p += size
			continue
		}
		q := p + size
		blanks := leadingSpace(s[q:])
		if blanks == 0 {
			p = q
			continue
		}
		next, nsize := utf8.DecodeRuneInString(s[q+blanks:])
		if !unicode.IsDigit(next) {
			p = q + blanks
			continue
		}
		b.WriteString(s[i:q])
		b.WriteByte('+')
		end := q + blanks + nsize
		b.WriteString(s[q+blanks : end])
		i, p = end, end
	}
	b.WriteString(s[i:])
	return b.String()
}

// number is a value of a Python arithmetic expression: an int or a float.
type number struct {
	isFloat bool
	i       int64
	f       float64
}

func (n number) float() float64 {
	if n.isFloat {
		return n.f
	}
	return float64(n.i)
}

var errDivZero = errors.New("division by zero")

// evalArith evaluates the subset of Python expressions that fail2ban's
// eval of a time can sensibly meet: int and float literals, unary + and -,
// + - * / // % **, and parentheses, with Python's precedence and its
// int/float rules (/ always gives a float; // and % round toward negative
// infinity).
func evalArith(s string) (number, error) {
	p := arithParser{s: s}
	v, err := p.sum()
	if err != nil {
		return number{}, err
	}
	if p.skipSpace(); p.pos < len(p.s) {
		return number{}, fmt.Errorf("unexpected %q", clip(p.s[p.pos:]))
	}
	return v, nil
}

type arithParser struct {
	s   string
	pos int
}

func (p *arithParser) skipSpace() {
	p.pos += leadingSpace(p.s[p.pos:])
}

// peek reports whether the next token is op.
func (p *arithParser) peek(op string) bool {
	p.skipSpace()
	return strings.HasPrefix(p.s[p.pos:], op)
}

func (p *arithParser) sum() (number, error) {
	v, err := p.product()
	for err == nil {
		var op byte
		switch {
		case p.peek("+"), p.peek("-"):
			op = p.s[p.pos]
		default:
			return v, nil
		}
		p.pos++
		var w number
		if w, err = p.product(); err == nil {
			v, err = arith(op, v, w)
		}
	}
	return number{}, err
}

func (p *arithParser) product() (number, error) {
	v, err := p.unary()
	for err == nil {
		var op byte
		switch {
		case p.peek("//"):
			op = 'f'
			p.pos += 2
		case p.peek("*"), p.peek("/"), p.peek("%"):
			op = p.s[p.pos]
			p.pos++
		default:
			return v, nil
		}
		var w number
		if w, err = p.unary(); err == nil {
			v, err = arith(op, v, w)
		}
	}
	return number{}, err
}

func (p *arithParser) unary() (number, error) {
	switch {
	case p.peek("-"):
		p.pos++
		v, err := p.unary()
		if v.isFloat {
			v.f = -v.f
		} else {
			v.i = -v.i
		}
		return v, err
	case p.peek("+"):
		p.pos++
		return p.unary()
	}
	return p.power()
}

func (p *arithParser) power() (number, error) {
	base, err := p.atom()
	if err != nil || !p.peek("**") {
		return base, err
	}
	p.pos += 2
	exp, err := p.unary() // right-associative, and binds tighter than a unary minus on its left
	if err != nil {
		return number{}, err
	}
	return arith('^', base, exp)
}

func (p *arithParser) atom() (number, error) {
	p.skipSpace()
	if p.peek("(") {
		p.pos++
		v, err := p.sum()
		if err != nil {
			return number{}, err
		}
		if !p.peek(")") {
			return number{}, errors.New("missing )")
		}
		p.pos++
		return v, nil
	}
	return p.literal()
}

// literal reads a Python int or float literal.
func (p *arithParser) literal() (number, error) {
	start := p.pos
	digits := func() {
		// Python allows single underscores between digits: 1_000.
		for p.pos < len(p.s) && (isASCIIDigit(p.s[p.pos]) || (p.s[p.pos] == '_' && p.pos > start && isASCIIDigit(p.s[p.pos-1]) && p.pos+1 < len(p.s) && isASCIIDigit(p.s[p.pos+1]))) {
			p.pos++
		}
	}
	digits()
	intEnd := p.pos
	isFloat := false
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		isFloat = true
		p.pos++
		fracStart := p.pos
		digits()
		if intEnd == start && p.pos == fracStart {
			p.pos = start
			return number{}, p.unexpected()
		}
	}
	if intEnd == start && !isFloat {
		return number{}, p.unexpected()
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		save := p.pos
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		expStart := p.pos
		digits()
		if p.pos == expStart {
			p.pos = save
		} else {
			isFloat = true
		}
	}
	text := strings.ReplaceAll(p.s[start:p.pos], "_", "")
	if p.pos < len(p.s) && (isPyWord(rune(p.s[p.pos])) || p.s[p.pos] >= utf8.RuneSelf) {
		return number{}, p.unexpected()
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return number{}, fmt.Errorf("bad number %q", text)
		}
		return number{isFloat: true, f: f}, nil
	}
	if len(text) > 1 && text[0] == '0' && strings.Trim(text, "0") != "" {
		return number{}, fmt.Errorf("leading zeros are not allowed in %q", text)
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return number{}, fmt.Errorf("number %q out of range", text)
	}
	return number{i: i}, nil
}

func (p *arithParser) unexpected() error {
	if p.pos >= len(p.s) {
		return errors.New("unexpected end")
	}
	return fmt.Errorf("unexpected %q", clip(p.s[p.pos:]))
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// arith applies a binary operator ('f' is floor division, '^' power).
func arith(op byte, a, b number) (number, error) {
	if !a.isFloat && !b.isFloat && op != '/' && !(op == '^' && b.i < 0) {
		return intArith(op, a.i, b.i)
	}
	x, y := a.float(), b.float()
	var r float64
	switch op {
	case '+':
		r = x + y
	case '-':
		r = x - y
	case '*':
		r = x * y
	case '/':
		if y == 0 {
			return number{}, errDivZero
		}
		r = x / y
	case 'f':
		if y == 0 {
			return number{}, errDivZero
		}
		r = math.Floor(x / y)
	case '%':
		if y == 0 {
			return number{}, errDivZero
		}
		r = math.Mod(x, y)
		if r != 0 && (r < 0) != (y < 0) {
			r += y
		}
	case '^':
		if x == 0 && y < 0 {
			return number{}, errDivZero
		}
		r = math.Pow(x, y)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return number{}, errors.New("result out of range")
	}
	return number{isFloat: true, f: r}, nil
}

// intArith is arith on two ints, which stay ints in Python. Results that
// overflow int64 are far outside any duration and are errors.
func intArith(op byte, a, b int64) (number, error) {
	overflow := errors.New("result out of range")
	var r int64
	switch op {
	case '+':
		r = a + b
		if (r > a) != (b > 0) {
			return number{}, overflow
		}
	case '-':
		r = a - b
		if (r < a) != (b > 0) {
			return number{}, overflow
		}
	case '*':
		if a != 0 && b != 0 {
			r = a * b
			if r/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
				return number{}, overflow
			}
		}
	case 'f', '%':
		if b == 0 {
			return number{}, errDivZero
		}
		q, m := a/b, a%b
		if m != 0 && (m < 0) != (b < 0) {
			q--
			m += b
		}
		if op == 'f' {
			r = q
		} else {
			r = m
		}
	case '^':
		switch {
		case a == 0 && b == 0, a == 1:
			r = 1
		case a == 0:
			r = 0
		case a == -1:
			r = 1 - 2*(b%2)
		default:
			// |a| >= 2 here, so an exponent that does not overflow is
			// below 64 and the loop is short.
			if f := math.Pow(float64(a), float64(b)); f >= math.MaxInt64 || f <= math.MinInt64 {
				return number{}, overflow
			}
			r = 1
			for range b {
				r *= a
			}
		}
	}
	return number{i: r}, nil
}

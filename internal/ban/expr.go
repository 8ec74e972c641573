package ban

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file evaluates bantime.formula and bantime.factor. fail2ban hands
// them to Python's eval (s/jail.py setBanTimeExtra), so a configuration may
// hold any Python expression. The evaluator here takes the part of Python that
// such formulas use, with Python's semantics, and nothing that reaches
// outside the expression:
//
//   - int and float numbers (1, 1_000, 0x1f, 2.5, .5, 1e3), True, False;
//   - ban.Time (the base ban time in whole seconds, an int), ban.Count (the
//     number of earlier bans) and banFactor, in formulas only;
//   - operators by Python's precedence: x if c else y, or, and, not,
//     comparisons (chained), |, ^, &, << >>, + -, * / // %, unary + - ~, **;
//   - min, max, abs, int, float, round (one argument), pow (two), and
//     math.exp, log (one or two arguments), log2, log10, sqrt, pow, floor,
//     ceil, fabs, trunc, with the constants math.e, math.pi, math.inf.
//
// Ints are 64-bit. Python's are unbounded; an int result that does not fit
// becomes the nearest float (possibly infinite), which only matters far
// beyond any useful ban time: such a value then fails in a bit operator, and
// a negative number raised to a fractional power fails here where Python
// makes a complex number. Errors otherwise follow Python's: division by zero,
// a float operand of a bit operator, a negative shift count, math domain and
// range errors.

// Limits keep hostile configuration from exhausting the stack or the CPU.
const (
	maxExprLen   = 4096
	maxExprDepth = 100
)

// exprVars are the values a formula reads.
type exprVars struct {
	time, count int64
	factor      value
}

// expr is a compiled expression.
type expr struct {
	src  string
	root node
}

// parseExpr compiles src. withBan allows the formula variables (ban.Time,
// ban.Count, banFactor); bantime.factor is evaluated without them, as in
// fail2ban.
func parseExpr(src string, withBan bool) (*expr, error) {
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("expression longer than %d bytes", maxExprLen)
	}
	p := &parser{lex: lexer{src: src}, withBan: withBan}
	p.next()
	root, err := p.parseTernary()
	if err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	return &expr{src: src, root: root}, nil
}

func (e *expr) eval(v *exprVars) (value, error) { return e.root.eval(v) }

// value is a Python int, float or bool.
type value struct {
	kind valueKind
	i    int64 // int and bool (0 or 1)
	f    float64
}

type valueKind uint8

const (
	kindInt valueKind = iota
	kindFloat
	kindBool
)

func intValue(i int64) value     { return value{kind: kindInt, i: i} }
func floatValue(f float64) value { return value{kind: kindFloat, f: f} }
func boolValue(b bool) value {
	if b {
		return value{kind: kindBool, i: 1}
	}
	return value{kind: kindBool}
}

func (v value) isFloat() bool { return v.kind == kindFloat }

func (v value) float() float64 {
	if v.kind == kindFloat {
		return v.f
	}
	return float64(v.i)
}

func (v value) truth() bool {
	if v.kind == kindFloat {
		return v.f != 0
	}
	return v.i != 0
}

func (v value) typeName() string {
	switch v.kind {
	case kindFloat:
		return "float"
	case kindBool:
		return "bool"
	}
	return "int"
}

func (v value) String() string {
	switch v.kind {
	case kindFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case kindBool:
		if v.i != 0 {
			return "True"
		}
		return "False"
	}
	return strconv.FormatInt(v.i, 10)
}

// ---- lexer ----

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokNum
	tokName
	tokOp
)

type token struct {
	kind tokKind
	text string
	num  value
	pos  int // byte offset, for errors
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

type lexer struct {
	src string
	pos int
}

// Longest first, so that "**" wins over "*".
var operators = []string{
	"**", "//", "<<", ">>", "<=", ">=", "==", "!=",
	"+", "-", "*", "/", "%", "&", "|", "^", "~", "<", ">", "(", ")", ",", ".",
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n\f", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos == len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isDigit(c) || c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]):
		return l.number()
	case isNameStart(c):
		for l.pos < len(l.src) && (isNameStart(l.src[l.pos]) || isDigit(l.src[l.pos])) {
			l.pos++
		}
		return token{kind: tokName, text: l.src[start:l.pos], pos: start}, nil
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tokOp, text: op, pos: start}, nil
		}
	}
	return token{}, fmt.Errorf("column %d: unexpected character %q", start+1, c)
}

func (l *lexer) number() (token, error) {
	start := l.pos
	src := l.src
	isFloat := false
	if src[l.pos] == '0' && l.pos+1 < len(src) && strings.IndexByte("xXoObB", src[l.pos+1]) >= 0 {
		l.pos += 2
		for l.pos < len(src) && (isHexDigit(src[l.pos]) || src[l.pos] == '_') {
			l.pos++
		}
	} else {
		l.digits()
		if l.pos < len(src) && src[l.pos] == '.' {
			isFloat = true
			l.pos++
			l.digits()
		}
		if l.pos < len(src) && (src[l.pos] == 'e' || src[l.pos] == 'E') {
			isFloat = true
			l.pos++
			if l.pos < len(src) && (src[l.pos] == '+' || src[l.pos] == '-') {
				l.pos++
			}
			l.digits()
		}
	}
	text := src[start:l.pos]
	if l.pos < len(src) && (isNameStart(src[l.pos]) || isDigit(src[l.pos])) {
		return token{}, fmt.Errorf("column %d: invalid number %q", start+1, src[start:l.pos+1])
	}
	tok := token{kind: tokNum, text: text, pos: start}
	clean := text
	if strings.Contains(text, "_") {
		// Python allows one underscore between digits only.
		if strings.Contains(text, "__") || strings.HasSuffix(text, "_") || strings.Contains(text, "_.") || strings.Contains(text, "._") {
			return token{}, fmt.Errorf("column %d: invalid number %q", start+1, text)
		}
		clean = strings.ReplaceAll(text, "_", "")
	}
	if isFloat {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return token{}, fmt.Errorf("column %d: invalid number %q", start+1, text)
		}
		tok.num = floatValue(f)
		return tok, nil
	}
	if len(clean) > 1 && clean[0] == '0' && isDigit(clean[1]) {
		return token{}, fmt.Errorf("column %d: leading zeros in decimal integer literals are not permitted: %q", start+1, text)
	}
	i, err := strconv.ParseInt(clean, 0, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		// Python would keep an exact big int; the nearest float is what
		// a ban time can use.
		f, _ := strconv.ParseFloat(clean, 64)
		if strings.HasPrefix(clean, "0") && len(clean) > 1 {
			return token{}, fmt.Errorf("column %d: integer literal %q too large", start+1, text)
		}
		tok.num = floatValue(f)
	case err != nil:
		return token{}, fmt.Errorf("column %d: invalid number %q", start+1, text)
	default:
		tok.num = intValue(i)
	}
	return tok, nil
}

func (l *lexer) digits() {
	for l.pos < len(l.src) && (isDigit(l.src[l.pos]) || l.src[l.pos] == '_') {
		l.pos++
	}
}

func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isHexDigit(c byte) bool  { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }
func isNameStart(c byte) bool { return c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z' }

// ---- parser ----

type parser struct {
	lex     lexer
	tok     token
	err     error
	depth   int
	withBan bool
}

func (p *parser) next() {
	if p.err != nil {
		return
	}
	p.tok, p.err = p.lex.next()
	if p.err != nil {
		p.tok = token{kind: tokEOF, pos: p.lex.pos}
	}
}

func (p *parser) errorf(format string, args ...any) error {
	if p.err != nil {
		return p.err
	}
	return fmt.Errorf("column %d: %s", p.tok.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) isOp(op string) bool { return p.tok.kind == tokOp && p.tok.text == op }
func (p *parser) isWord(w string) bool {
	return p.tok.kind == tokName && p.tok.text == w
}

func (p *parser) expectOp(op string) error {
	if !p.isOp(op) {
		return p.errorf("expected %q, found %s", op, p.tok)
	}
	p.next()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return p.errorf("expression nested deeper than %d", maxExprDepth)
	}
	return nil
}

// parseTernary: or_test ['if' or_test 'else' ternary]
func (p *parser) parseTernary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	x, err := p.parseOr()
	if err != nil || !p.isWord("if") {
		return x, err
	}
	p.next()
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.isWord("else") {
		return nil, p.errorf("expected \"else\", found %s", p.tok)
	}
	p.next()
	y, err := p.parseTernary()
	if err != nil {
		return nil, err
	}
	return &condNode{cond: c, then: x, otherwise: y}, nil
}

func (p *parser) parseOr() (node, error) {
	x, err := p.parseAnd()
	for err == nil && p.isWord("or") {
		p.next()
		var y node
		if y, err = p.parseAnd(); err == nil {
			x = &logicNode{and: false, x: x, y: y}
		}
	}
	return x, err
}

func (p *parser) parseAnd() (node, error) {
	x, err := p.parseNot()
	for err == nil && p.isWord("and") {
		p.next()
		var y node
		if y, err = p.parseNot(); err == nil {
			x = &logicNode{and: true, x: x, y: y}
		}
	}
	return x, err
}

func (p *parser) parseNot() (node, error) {
	if !p.isWord("not") {
		return p.parseComparison()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next()
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	return &notNode{x: x}, nil
}

func (p *parser) isComparison() bool {
	if p.tok.kind != tokOp {
		return false
	}
	switch p.tok.text {
	case "<", ">", "==", ">=", "<=", "!=":
		return true
	}
	return false
}

func (p *parser) parseComparison() (node, error) {
	x, err := p.parseBinary(0)
	if err != nil {
		return nil, err
	}
	if !p.isComparison() {
		return x, nil
	}
	c := &compareNode{operands: []node{x}}
	for p.isComparison() {
		c.ops = append(c.ops, p.tok.text)
		p.next()
		y, err := p.parseBinary(0)
		if err != nil {
			return nil, err
		}
		c.operands = append(c.operands, y)
	}
	return c, nil
}

// binaryLevels lists the left-associative binary operators from the loosest
// to the tightest binding, as in Python's grammar.
var binaryLevels = [][]string{
	{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "//", "%"},
}

func (p *parser) parseBinary(level int) (node, error) {
	if level == len(binaryLevels) {
		return p.parseUnary()
	}
	x, err := p.parseBinary(level + 1)
	for err == nil && p.tok.kind == tokOp && slices.Contains(binaryLevels[level], p.tok.text) {
		op := p.tok.text
		p.next()
		var y node
		if y, err = p.parseBinary(level + 1); err == nil {
			x = &binaryNode{op: op, x: x, y: y}
		}
	}
	return x, err
}

// parseUnary: ('+'|'-'|'~') unary | power
func (p *parser) parseUnary() (node, error) {
	if p.tok.kind != tokOp || (p.tok.text != "-" && p.tok.text != "+" && p.tok.text != "~") {
		return p.parsePower()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	op := p.tok.text
	p.next()
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	return &unaryNode{op: op, x: x}, nil
}

// parsePower: atom ['**' unary]; ** binds tighter than a unary operator on
// its left and looser than one on its right: -2**2 is -4, 2**-1 is 0.5.
func (p *parser) parsePower() (node, error) {
	x, err := p.parseAtom()
	if err != nil || !p.isOp("**") {
		return x, err
	}
	p.next()
	y, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	return &binaryNode{op: "**", x: x, y: y}, nil
}

func (p *parser) parseAtom() (node, error) {
	switch p.tok.kind {
	case tokNum:
		v := p.tok.num
		p.next()
		return &constNode{v: v}, nil
	case tokName:
		return p.parseName()
	case tokOp:
		if p.tok.text == "(" {
			p.next()
			x, err := p.parseTernary()
			if err != nil {
				return nil, err
			}
			return x, p.expectOp(")")
		}
	}
	return nil, p.errorf("unexpected %s", p.tok)
}

// parseName resolves a dotted name (ban.Time, math.exp) and, for a function,
// its call.
func (p *parser) parseName() (node, error) {
	pos := p.tok.pos
	name := p.tok.text
	if isKeyword(name) {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	p.next()
	for p.isOp(".") {
		p.next()
		if p.tok.kind != tokName {
			return nil, p.errorf("expected a name after \".\", found %s", p.tok)
		}
		name += "." + p.tok.text
		p.next()
	}
	if fn, ok := lookupFunction(name); ok {
		if !p.isOp("(") {
			return nil, fmt.Errorf("column %d: %s is a function; call it", pos+1, name)
		}
		return p.parseCall(name, fn, pos)
	}
	var n node
	switch name {
	case "True":
		n = &constNode{v: boolValue(true)}
	case "False":
		n = &constNode{v: boolValue(false)}
	case "math.e":
		n = &constNode{v: floatValue(math.E)}
	case "math.pi":
		n = &constNode{v: floatValue(math.Pi)}
	case "math.inf":
		n = &constNode{v: floatValue(math.Inf(1))}
	case "ban.Time", "ban.Count", "banFactor":
		if !p.withBan {
			return nil, fmt.Errorf("column %d: name %s is not defined here", pos+1, name)
		}
		n = &varNode{name: name}
	default:
		return nil, fmt.Errorf("column %d: name %s is not supported", pos+1, name)
	}
	if p.isOp("(") {
		return nil, fmt.Errorf("column %d: %s is not callable", pos+1, name)
	}
	return n, nil
}

func isKeyword(name string) bool {
	switch name {
	case "if", "else", "and", "or", "not":
		return true
	}
	return false
}

func (p *parser) parseCall(name string, fn function, pos int) (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next() // (
	var args []node
	for !p.isOp(")") {
		if len(args) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			if p.isOp(")") { // trailing comma
				break
			}
		}
		a, err := p.parseTernary()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	p.next() // )
	if len(args) < fn.minArgs || fn.maxArgs >= 0 && len(args) > fn.maxArgs {
		return nil, fmt.Errorf("column %d: %s takes %s, got %d", pos+1, name, fn.arity(), len(args))
	}
	return &callNode{name: name, fn: fn.call, args: args}, nil
}

// ---- nodes ----

type node interface {
	eval(v *exprVars) (value, error)
}

type constNode struct{ v value }

func (n *constNode) eval(*exprVars) (value, error) { return n.v, nil }

type varNode struct{ name string }

func (n *varNode) eval(v *exprVars) (value, error) {
	switch n.name {
	case "ban.Time":
		return intValue(v.time), nil
	case "ban.Count":
		return intValue(v.count), nil
	}
	return v.factor, nil
}

type condNode struct{ cond, then, otherwise node }

func (n *condNode) eval(v *exprVars) (value, error) {
	c, err := n.cond.eval(v)
	if err != nil {
		return value{}, err
	}
	if c.truth() {
		return n.then.eval(v)
	}
	return n.otherwise.eval(v)
}

// logicNode is Python's and/or: it yields an operand, not a bool.
type logicNode struct {
	and  bool
	x, y node
}

func (n *logicNode) eval(v *exprVars) (value, error) {
	x, err := n.x.eval(v)
	if err != nil || x.truth() != n.and {
		return x, err
	}
	return n.y.eval(v)
}

type notNode struct{ x node }

func (n *notNode) eval(v *exprVars) (value, error) {
	x, err := n.x.eval(v)
	return boolValue(!x.truth()), err
}

type compareNode struct {
	ops      []string
	operands []node
}

func (n *compareNode) eval(v *exprVars) (value, error) {
	x, err := n.operands[0].eval(v)
	if err != nil {
		return value{}, err
	}
	for i, op := range n.ops {
		y, err := n.operands[i+1].eval(v)
		if err != nil {
			return value{}, err
		}
		if !compare(op, x, y) {
			return boolValue(false), nil
		}
		x = y
	}
	return boolValue(true), nil
}

func compare(op string, x, y value) bool {
	var c int
	if x.isFloat() || y.isFloat() {
		a, b := x.float(), y.float()
		if math.IsNaN(a) || math.IsNaN(b) {
			return op == "!="
		}
		c = cmpOrdered(a, b)
	} else {
		c = cmpOrdered(x.i, y.i)
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "==":
		return c == 0
	}
	return c != 0
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type unaryNode struct {
	op string
	x  node
}

func (n *unaryNode) eval(v *exprVars) (value, error) {
	x, err := n.x.eval(v)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case "+":
		if x.isFloat() {
			return x, nil
		}
		return intValue(x.i), nil
	case "-":
		if x.isFloat() {
			return floatValue(-x.f), nil
		}
		if x.i == math.MinInt64 {
			return floatValue(-float64(x.i)), nil
		}
		return intValue(-x.i), nil
	}
	if x.isFloat() {
		return value{}, fmt.Errorf("bad operand type for unary ~: 'float'")
	}
	return intValue(^x.i), nil
}

type binaryNode struct {
	op   string
	x, y node
}

func (n *binaryNode) eval(v *exprVars) (value, error) {
	x, err := n.x.eval(v)
	if err != nil {
		return value{}, err
	}
	y, err := n.y.eval(v)
	if err != nil {
		return value{}, err
	}
	return binary(n.op, x, y)
}

var errZeroDivision = errors.New("division by zero")

func binary(op string, x, y value) (value, error) {
	switch op {
	case "&", "|", "^", "<<", ">>":
		return bitwise(op, x, y)
	case "/":
		if y.float() == 0 {
			return value{}, errZeroDivision
		}
		return floatValue(x.float() / y.float()), nil
	case "**":
		return power(x, y)
	}
	if x.isFloat() || y.isFloat() {
		a, b := x.float(), y.float()
		switch op {
		case "+":
			return floatValue(a + b), nil
		case "-":
			return floatValue(a - b), nil
		case "*":
			return floatValue(a * b), nil
		}
		if b == 0 {
			return value{}, errZeroDivision
		}
		div, mod := floatDivMod(a, b)
		if op == "//" {
			return floatValue(div), nil
		}
		return floatValue(mod), nil
	}
	a, b := x.i, y.i
	switch op {
	case "+":
		if s := a + b; (s > a) == (b > 0) {
			return intValue(s), nil
		}
		return floatValue(float64(a) + float64(b)), nil
	case "-":
		if d := a - b; (d < a) == (b > 0) {
			return intValue(d), nil
		}
		return floatValue(float64(a) - float64(b)), nil
	case "*":
		if p, ok := mulChecked(a, b); ok {
			return intValue(p), nil
		}
		return floatValue(float64(a) * float64(b)), nil
	}
	if b == 0 {
		return value{}, errZeroDivision
	}
	if a == math.MinInt64 && b == -1 {
		if op == "//" {
			return floatValue(-float64(a)), nil
		}
		return intValue(0), nil
	}
	q, r := a/b, a%b
	if r != 0 && (r < 0) != (b < 0) { // Python floors
		q--
		r += b
	}
	if op == "//" {
		return intValue(q), nil
	}
	return intValue(r), nil
}

func abs64(a int64) int64 {
	if a < 0 {
		return -a
	}
	return a
}

// floatDivMod is CPython's float_divmod.
func floatDivMod(a, b float64) (div, mod float64) {
	mod = math.Mod(a, b)
	div = (a - mod) / b
	if mod != 0 {
		if (b < 0) != (mod < 0) {
			mod += b
			div -= 1
		}
	} else {
		mod = math.Copysign(0, b)
	}
	if div != 0 {
		floor := math.Floor(div)
		if div-floor > 0.5 {
			floor++
		}
		div = floor
	} else {
		div = math.Copysign(0, a/b)
	}
	return div, mod
}

func bitwise(op string, x, y value) (value, error) {
	if x.isFloat() || y.isFloat() {
		return value{}, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, x.typeName(), y.typeName())
	}
	a, b := x.i, y.i
	switch op {
	case "&", "|", "^":
		var r int64
		switch op {
		case "&":
			r = a & b
		case "|":
			r = a | b
		default:
			r = a ^ b
		}
		if x.kind == kindBool && y.kind == kindBool {
			return boolValue(r != 0), nil
		}
		return intValue(r), nil
	}
	if b < 0 {
		return value{}, errors.New("negative shift count")
	}
	if op == ">>" {
		return intValue(a >> min(b, 63)), nil
	}
	if a == 0 {
		return intValue(0), nil
	}
	if b < 63 && a != math.MinInt64 && abs64(a) <= math.MaxInt64>>b {
		return intValue(a << b), nil
	}
	return floatValue(math.Ldexp(float64(a), int(min(b, 1<<20)))), nil
}

func power(x, y value) (value, error) {
	if !x.isFloat() && !y.isFloat() {
		if y.i >= 0 {
			if r, ok := intPow(x.i, y.i); ok {
				return intValue(r), nil
			}
			// Python's exact result does not fit: its nearest float,
			// infinite if need be, without Python's float overflow error.
			return floatValue(math.Pow(x.float(), y.float())), nil
		} else if x.i == 0 {
			return value{}, errors.New("0.0 cannot be raised to a negative power")
		}
	}
	a, b := x.float(), y.float()
	if a == 0 && b < 0 {
		return value{}, errors.New("0.0 cannot be raised to a negative power")
	}
	if a < 0 && b != math.Trunc(b) && !math.IsInf(b, 0) {
		return value{}, errors.New("negative number cannot be raised to a fractional power")
	}
	r := math.Pow(a, b)
	if math.IsInf(r, 0) && !math.IsInf(a, 0) && !math.IsInf(b, 0) {
		return value{}, errors.New("numerical result out of range")
	}
	return floatValue(r), nil
}

// intPow returns a**b, or false when it overflows int64.
func intPow(a, b int64) (int64, bool) {
	r := int64(1)
	for ; b > 0; b >>= 1 {
		var ok bool
		if b&1 == 1 {
			if r, ok = mulChecked(r, a); !ok {
				return 0, false
			}
		}
		if b > 1 {
			if a, ok = mulChecked(a, a); !ok {
				return 0, false
			}
		}
	}
	return r, true
}

// mulChecked returns a*b, or false when it overflows int64.
func mulChecked(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if (c < 0) != ((a < 0) != (b < 0)) || c/b != a {
		return 0, false
	}
	return c, true
}

type callNode struct {
	name string
	fn   func(args []value) (value, error)
	args []node
}

func (n *callNode) eval(v *exprVars) (value, error) {
	var buf [4]value
	args := buf[:0]
	for _, a := range n.args {
		x, err := a.eval(v)
		if err != nil {
			return value{}, err
		}
		args = append(args, x)
	}
	r, err := n.fn(args)
	if err != nil {
		return value{}, fmt.Errorf("%s: %w", n.name, err)
	}
	return r, nil
}

type function struct {
	minArgs, maxArgs int // maxArgs -1: any number
	call             func(args []value) (value, error)
}

func (f function) arity() string {
	switch {
	case f.maxArgs < 0:
		return fmt.Sprintf("at least %d arguments", f.minArgs)
	case f.minArgs == f.maxArgs && f.minArgs == 1:
		return "1 argument"
	case f.minArgs == f.maxArgs:
		return fmt.Sprintf("%d arguments", f.minArgs)
	}
	return fmt.Sprintf("%d to %d arguments", f.minArgs, f.maxArgs)
}

var (
	errMathDomain = errors.New("math domain error")
	errMathRange  = errors.New("math range error")
)

// lookupFunction returns a callable a formula may use.
func lookupFunction(name string) (function, bool) {
	switch name {
	case "min":
		return function{2, -1, func(a []value) (value, error) { return extreme(a, "<"), nil }}, true
	case "max":
		return function{2, -1, func(a []value) (value, error) { return extreme(a, ">"), nil }}, true
	case "abs":
		return function{1, 1, absolute}, true
	case "int", "math.trunc":
		return function{1, 1, func(a []value) (value, error) { return toInt(a[0], math.Trunc) }}, true
	case "float":
		return function{1, 1, func(a []value) (value, error) { return floatValue(a[0].float()), nil }}, true
	case "round":
		return function{1, 1, func(a []value) (value, error) { return toInt(a[0], math.RoundToEven) }}, true
	case "math.floor":
		return function{1, 1, func(a []value) (value, error) { return toInt(a[0], math.Floor) }}, true
	case "math.ceil":
		return function{1, 1, func(a []value) (value, error) { return toInt(a[0], math.Ceil) }}, true
	case "pow":
		return function{2, 2, func(a []value) (value, error) { return power(a[0], a[1]) }}, true
	case "math.pow":
		return function{2, 2, mathPow}, true
	case "math.exp":
		return function{1, 1, func(a []value) (value, error) { return mathResult(math.Exp(a[0].float()), a[0]) }}, true
	case "math.log":
		return function{1, 2, mathLog}, true
	case "math.log2":
		return function{1, 1, func(a []value) (value, error) { return logOf(a[0], math.Log2) }}, true
	case "math.log10":
		return function{1, 1, func(a []value) (value, error) { return logOf(a[0], math.Log10) }}, true
	case "math.sqrt":
		return function{1, 1, mathSqrt}, true
	case "math.fabs":
		return function{1, 1, func(a []value) (value, error) { return floatValue(math.Abs(a[0].float())), nil }}, true
	}
	return function{}, false
}

func absolute(a []value) (value, error) {
	v := a[0]
	switch {
	case v.isFloat():
		return floatValue(math.Abs(v.f)), nil
	case v.i >= 0:
		return intValue(v.i), nil
	case v.i == math.MinInt64:
		return floatValue(-float64(v.i)), nil
	}
	return intValue(-v.i), nil
}

func mathLog(a []value) (value, error) {
	x := a[0].float()
	if x <= 0 {
		return value{}, errMathDomain
	}
	if len(a) == 1 {
		return floatValue(math.Log(x)), nil
	}
	b := a[1].float()
	if b <= 0 {
		return value{}, errMathDomain
	}
	if b == 1 {
		return value{}, errZeroDivision
	}
	return floatValue(math.Log(x) / math.Log(b)), nil
}

func mathSqrt(a []value) (value, error) {
	if a[0].float() < 0 {
		return value{}, errMathDomain
	}
	return floatValue(math.Sqrt(a[0].float())), nil
}

func mathPow(a []value) (value, error) {
	x, y := a[0].float(), a[1].float()
	if x == 0 && y < 0 || x < 0 && y != math.Trunc(y) && !math.IsInf(y, 0) {
		return value{}, errMathDomain
	}
	r := math.Pow(x, y)
	if math.IsInf(r, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
		return value{}, errMathRange
	}
	return floatValue(r), nil
}

// extreme is Python's min/max: the first of the extreme values, with its type.
func extreme(args []value, op string) value {
	best := args[0]
	for _, a := range args[1:] {
		if compare(op, a, best) {
			best = a
		}
	}
	return best
}

// toInt converts with round (for floats), failing where Python does.
func toInt(v value, round func(float64) float64) (value, error) {
	if !v.isFloat() {
		return intValue(v.i), nil
	}
	switch {
	case math.IsNaN(v.f):
		return value{}, errors.New("cannot convert float NaN to integer")
	case math.IsInf(v.f, 0):
		return value{}, errors.New("cannot convert float infinity to integer")
	}
	r := round(v.f)
	if r >= -math.MinInt64 || r < math.MinInt64 {
		return floatValue(r), nil // beyond int64: see the file comment
	}
	return intValue(int64(r)), nil
}

func logOf(v value, log func(float64) float64) (value, error) {
	if v.float() <= 0 {
		return value{}, errMathDomain
	}
	return floatValue(log(v.float())), nil
}

func mathResult(r float64, arg value) (value, error) {
	if math.IsInf(r, 0) && !math.IsInf(arg.float(), 0) {
		return value{}, errMathRange
	}
	return floatValue(r), nil
}

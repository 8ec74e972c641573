package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/pinjail/pinjail/internal/backtrack"
)

// Expansions of fail2ban's address tags (failregex.py R_HOST, RH4TAG).
// <IP6>'s "(?<=:):" tail is written ":": the repeated group before it
// always ends in ':', so the lookbehind always holds, and RE2 has none.
const (
	reIP4    = `(?:::f{4,6}:)?(?P<ip4>(?:\d{1,3}\.){3}\d{1,3})`
	reIP6    = `(?P<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:))`
	reDNS    = `(?P<dns>[\w\-.^_]*\w)`
	reAddr   = `\[?(?:` + reIP4 + `|` + reIP6 + `)\]?`
	reHost   = `(?:` + reAddr + `|` + reDNS + `)`
	reCIDR   = `(?P<cidr>\d+)`
	reSubnet = `\[?(?:` + reIP4 + `|` + reIP6 + `)(?:/` + reCIDR + `)?\]?`
)

// staticTag returns the expansion of a tag that does not depend on the
// filter's options.
func staticTag(name string) (string, bool) {
	switch name {
	case "IP4", "F-IP4/":
		return reIP4, true
	case "IP6", "F-IP6/":
		return reIP6, true
	case "ADDR", "F-ADDR/":
		return reAddr, true
	case "CIDR", "F-CIDR/":
		return reCIDR, true
	case "SUBNET", "F-SUBNET/":
		return reSubnet, true
	case "DNS", "F-DNS/":
		return reDNS, true
	case "F-ID/":
		return `(?P<fid>\S+)`, true
	case "F-PORT/":
		return `(?P<fport>\w+)`, true
	}
	return "", false
}

// groupName maps an F-NAME tag's name to its group name, as fail2ban's
// mapTag2Opt does.
func groupName(tag string) string {
	switch n := strings.ToLower(tag); n {
	case "id":
		return "fid"
	case "port":
		return "fport"
	default:
		return n
	}
}

// expandTags replaces fail2ban's tags (<HOST>, <F-USER>…</F-USER>,
// <SKIPLINES>…) by the regular expressions they stand for, exactly as
// failregex.Regex._resolveHostTag does: a tag is "<", an optional "/",
// word characters or "-", an optional "/" and ">"; unknown tags and closing
// tags that were never opened stay as they are. With usedns=no, <HOST>
// matches addresses only.
func expandTags(pattern, useDNS string) string {
	var b strings.Builder
	open := map[string]bool{}
	skiplines := 0
	last := 0
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '<' {
			continue
		}
		end := tagEnd(pattern, i)
		if end < 0 {
			continue
		}
		tag := pattern[i:end]
		name := tag[1 : len(tag)-1]
		var repl string
		switch {
		case name == "HOST":
			repl = reHost
			if useDNS == "no" {
				repl = reAddr
			}
		case name == "SKIPLINES":
			repl = `\n(?P<skiplines` + strconv.Itoa(skiplines) + `>(?:(?:.*\n)*?))`
			skiplines++
		default:
			var ok bool
			if repl, ok = staticTag(name); ok {
				break
			}
			closing, custom, ok := customTag(name)
			switch {
			case !ok:
				repl = tag
			case closing && open[custom]:
				repl = ")"
			case closing:
				repl = tag
			default:
				open[custom] = true
				repl = "(?P<" + groupName(custom) + ">"
			}
		}
		b.WriteString(pattern[last:i])
		b.WriteString(repl)
		last = end
		i = end - 1
	}
	if last == 0 {
		return pattern
	}
	b.WriteString(pattern[last:])
	return b.String()
}

// tagEnd returns the end of the tag </?[\w\-]+/?> starting at i, or -1.
func tagEnd(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] == '/' {
		j++
	}
	start := j
	for j < len(s) {
		r, size := utf8.DecodeRuneInString(s[j:])
		if r != '-' && !isPythonWord(r) {
			break
		}
		j += size
	}
	if j == start {
		return -1
	}
	if j < len(s) && s[j] == '/' {
		j++
	}
	if j < len(s) && s[j] == '>' {
		return j + 1
	}
	return -1
}

// customTag parses an F-NAME or /F-NAME tag name (fail2ban's
// FCUSTNAME_CRE, upper-case letters, digits, '_' and '-').
func customTag(name string) (closing bool, custom string, ok bool) {
	if strings.HasPrefix(name, "/") {
		closing, name = true, name[1:]
	}
	custom, ok = strings.CutPrefix(name, "F-")
	if !ok || custom == "" {
		return false, "", false
	}
	for _, c := range []byte(custom) {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false, "", false
		}
	}
	return closing, custom, true
}

// isPythonWord reports whether r matches Python 3's \w.
func isPythonWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// localFlags rewrites global flags inside a group, "((?i)x)" or
// "(?:(?i)x)", into local ones, "(?i:x)", as fail2ban's R_GLOB2LOCFLAGS
// does.
func localFlags(p string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(p); i++ {
		if p[i] != '(' || i > 0 && p[i-1] == '\\' {
			continue
		}
		j := i + 1
		if strings.HasPrefix(p[j:], "?:") {
			j += 2
		}
		if !strings.HasPrefix(p[j:], "(?") {
			continue
		}
		k := j + 2
		for k < len(p) && 'a' <= p[k] && p[k] <= 'z' {
			k++
		}
		if k == j+2 || k >= len(p) || p[k] != ')' {
			continue
		}
		b.WriteString(p[last:i])
		b.WriteString(p[j:k])
		b.WriteByte(':')
		last = k + 1
		i = k
	}
	if last == 0 {
		return p
	}
	b.WriteString(p[last:])
	return b.String()
}

// translation is a Python regular expression rewritten for Go's engines.
type translation struct {
	text string
	// backtrack is set when the pattern needs a backtracking engine
	// (lookaround, backreference, conditional, atomic group).
	backtrack bool
	names     []string // named groups in order of appearance
}

// translate rewrites the Python regular expression p (tags already
// expanded) into the syntax that Go's regexp and regexp2 (in RE2 mode)
// share, keeping Python's meaning:
//   - "$" outside multi-line mode also matches before the buffer's final
//     "\n" (it becomes "(?:\n?\z)"; the buffer always ends in "\n");
//   - "\Z" is "\z"; "{,n}" is "{0,n}"; "(?P=x)" is "\k<x>"; "(?#…)" goes;
//   - the u and a flags, which Go lacks and whose effect is the default, go;
//   - "\uXXXX" and "\UXXXXXXXX" become "\x{…}", "[" inside a class is
//     literal, "\b" inside a class is a backspace, octal escapes in a class
//     become "\x{…}".
//
// Python 3's \d, \w and \s are Unicode-aware while Go's are ASCII; they are
// kept as they are (see the package documentation).
func translate(p string, multiline bool) (translation, error) {
	var t translation
	var b strings.Builder
	b.Grow(len(p) + 16)
	seen := map[string]bool{}
	inClass := false
	for i := 0; i < len(p); {
		c := p[i]
		if inClass {
			switch c {
			case '\\':
				n := classEscape(&b, p, i)
				i += n
			case '[':
				b.WriteString(`\[`)
				i++
			case ']':
				b.WriteByte(']')
				inClass = false
				i++
			default:
				b.WriteByte(c)
				i++
			}
			continue
		}
		switch c {
		case '\\':
			n, backref := escape(&b, p, i)
			t.backtrack = t.backtrack || backref
			i += n
		case '[':
			b.WriteByte('[')
			i++
			if i < len(p) && p[i] == '^' {
				b.WriteByte('^')
				i++
			}
			if i < len(p) && p[i] == ']' {
				b.WriteString(`\]`)
				i++
			}
			inClass = true
		case '(':
			n, err := group(&b, p, i, &t, seen)
			if err != nil {
				return t, err
			}
			i += n
		case '{':
			if lo, hi, n, ok := pythonRepeat(p[i:]); ok && lo == "" {
				b.WriteString("{0," + hi + "}")
				i += n
				break
			}
			b.WriteByte(c)
			i++
		case '$':
			if multiline {
				b.WriteByte('$')
			} else {
				b.WriteString(`(?:\n?\z)`)
			}
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	t.text = b.String()
	return t, nil
}

// escape translates the escape at p[i] outside a class and returns its
// length and whether it is a backreference.
func escape(b *strings.Builder, p string, i int) (int, bool) {
	if i+1 >= len(p) {
		b.WriteByte('\\')
		return 1, false
	}
	c := p[i+1]
	switch {
	case c == 'Z':
		b.WriteString(`\z`)
		return 2, false
	case c == 'u' || c == 'U':
		if n := unicodeEscape(b, p, i); n > 0 {
			return n, false
		}
	case '1' <= c && c <= '9':
		// Python reads \1..\99 as a group reference, unless three octal
		// digits make a character code.
		if i+3 < len(p) && isOctal(c) && isOctal(p[i+2]) && isOctal(p[i+3]) && c <= '3' {
			b.WriteString(p[i : i+4])
			return 4, false
		}
		n := 2
		if i+2 < len(p) && '0' <= p[i+2] && p[i+2] <= '9' {
			n = 3
		}
		b.WriteString(p[i : i+n])
		return n, true
	case c >= utf8.RuneSelf:
		// Python lets any non-ASCII character be escaped; Go does not.
		_, size := utf8.DecodeRuneInString(p[i+1:])
		b.WriteString(p[i+1 : i+1+size])
		return 1 + size, false
	}
	b.WriteString(p[i : i+2])
	return 2, false
}

// classEscape translates the escape at p[i] inside a class and returns its
// length.
func classEscape(b *strings.Builder, p string, i int) int {
	if i+1 >= len(p) {
		b.WriteByte('\\')
		return 1
	}
	c := p[i+1]
	switch {
	case c == 'b':
		b.WriteString(`\x08`)
		return 2
	case c == 'u' || c == 'U':
		if n := unicodeEscape(b, p, i); n > 0 {
			return n
		}
	case isOctal(c):
		j := i + 1
		for j < len(p) && j < i+4 && isOctal(p[j]) {
			j++
		}
		v, _ := strconv.ParseUint(p[i+1:j], 8, 32)
		fmt.Fprintf(b, `\x{%x}`, v)
		return j - i
	case c >= utf8.RuneSelf:
		_, size := utf8.DecodeRuneInString(p[i+1:])
		b.WriteString(p[i+1 : i+1+size])
		return 1 + size
	}
	b.WriteString(p[i : i+2])
	return 2
}

// unicodeEscape rewrites \uXXXX or \UXXXXXXXX at p[i] as \x{…} and returns
// its length, or 0 when the escape is malformed.
func unicodeEscape(b *strings.Builder, p string, i int) int {
	digits := 4
	if p[i+1] == 'U' {
		digits = 8
	}
	if i+2+digits > len(p) {
		return 0
	}
	hex := p[i+2 : i+2+digits]
	if _, err := strconv.ParseUint(hex, 16, 32); err != nil {
		return 0
	}
	b.WriteString(`\x{` + hex + `}`)
	return 2 + digits
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// group translates the group opening at p[i] and returns its length.
func group(b *strings.Builder, p string, i int, t *translation, seen map[string]bool) (int, error) {
	rest := p[i:]
	if !strings.HasPrefix(rest, "(?") {
		b.WriteByte('(')
		return 1, nil
	}
	switch {
	case strings.HasPrefix(rest, "(?P<"):
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return 0, errors.New("missing > in group name")
		}
		name := rest[4:end]
		if seen[name] {
			return 0, fmt.Errorf("redefinition of group name %q", name)
		}
		seen[name] = true
		t.names = append(t.names, name)
		b.WriteString(rest[:end+1])
		return end + 1, nil
	case strings.HasPrefix(rest, "(?P="):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return 0, errors.New("missing ) in group reference")
		}
		t.backtrack = true
		b.WriteString(`\k<` + rest[4:end] + `>`)
		return end + 1, nil
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return 0, errors.New("missing ) in comment")
		}
		return end + 1, nil
	case strings.HasPrefix(rest, "(?="), strings.HasPrefix(rest, "(?!"),
		strings.HasPrefix(rest, "(?<="), strings.HasPrefix(rest, "(?<!"),
		strings.HasPrefix(rest, "(?>"), strings.HasPrefix(rest, "(?("):
		t.backtrack = true
		b.WriteString("(?")
		return 2, nil
	}
	// Inline flags: (?flags), (?flags:…), (?flags-flags:…).
	j := 2
	for j < len(rest) && (isLetter(rest[j]) || rest[j] == '-') {
		j++
	}
	if j >= len(rest) || rest[j] != ')' && rest[j] != ':' {
		b.WriteString("(?")
		return 2, nil
	}
	flags := strings.Map(func(r rune) rune {
		if r == 'u' || r == 'a' {
			return -1
		}
		return r
	}, rest[2:j])
	flags = strings.TrimSuffix(flags, "-")
	switch {
	case rest[j] == ':':
		b.WriteString("(?" + flags + ":")
	case flags != "":
		b.WriteString("(?" + flags + ")")
	}
	return j + 1, nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// pythonRepeat parses a Python repetition {lo,hi} or {n} at the start of s,
// which Python accepts with either bound left out.
func pythonRepeat(s string) (lo, hi string, n int, ok bool) {
	i := 1
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	lo = s[1:i]
	if i < len(s) && s[i] == ',' {
		i++
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		hi = s[j:i]
	} else {
		if lo == "" {
			return "", "", 0, false
		}
		hi = lo
	}
	if i >= len(s) || s[i] != '}' {
		return "", "", 0, false
	}
	return lo, hi, i + 1, true
}

// regex is one compiled filter regex. Go's regexp runs it when it can;
// regexp2, a backtracking engine, runs the few that need lookaround,
// backreferences or conditionals.
type regex struct {
	pattern string // as written, tags unexpanded
	std     *regexp.Regexp
	// fast runs std's searches when it takes the regex and the input: it
	// finds what std finds, faster.
	fast *backtrack.Regexp
	bt   *regexp2.Regexp
	// names lists the named groups; spans index them from 1 (0 is the
	// whole match).
	names  []string
	stdIdx []int // std: subexpression index of names[i]
	btNum  []int // bt: group number of names[i]
	// alt and tuple hold the <F-ALT_*> and <F-TUPLE_*> groups, sorted by
	// group name as fail2ban sorts them.
	alt, tuple []complexGroup
	skiplines  int
	clauses    []clause // literals every match contains, for the prefilter
}

// complexGroup is an F-ALT_X or F-TUPLE_X group and the field it feeds.
type complexGroup struct {
	group, field string
}

// compileOptions control compile.
type compileOptions struct {
	useDNS    string
	multiline bool
	timeout   time.Duration
}

// compile expands, translates and compiles one regex. fellBack reports that
// Go's regexp could not run it and regexp2 does.
func compile(pattern string, o compileOptions) (r *regex, fellBack bool, err error) {
	expanded := expandTags(pattern, o.useDNS)
	if strings.TrimLeft(expanded, " \t\n\r\f\v") == "" {
		return nil, false, errors.New("empty regex")
	}
	expanded = localFlags(expanded)
	t, err := translate(expanded, o.multiline)
	if err != nil {
		return nil, false, err
	}
	r = &regex{pattern: pattern, names: t.names}
	text := t.text
	if o.multiline {
		text = "(?m)" + text
	}
	var stdErr error
	if !t.backtrack {
		r.std, stdErr = regexp.Compile(text)
	}
	if r.std != nil {
		// A regex backtrack refuses runs on std alone.
		r.fast, _ = backtrack.Compile(text)
		idx := make(map[string]int, len(r.names))
		for i, n := range r.std.SubexpNames() {
			if n != "" {
				idx[n] = i
			}
		}
		r.stdIdx = make([]int, len(r.names))
		for i, n := range r.names {
			r.stdIdx[i] = idx[n]
		}
	} else {
		opts := regexp2.RegexOptions(regexp2.RE2)
		if o.multiline {
			opts |= regexp2.Multiline
		}
		bt, err := regexp2.Compile(t.text, opts)
		if err != nil {
			if stdErr != nil {
				return nil, false, fmt.Errorf("%w (and the backtracking engine: %v)", stdErr, err)
			}
			return nil, false, err
		}
		bt.MatchTimeout = o.timeout
		r.bt = bt
		r.btNum = make([]int, len(r.names))
		for i, n := range r.names {
			r.btNum[i] = bt.GroupNumberFromName(n)
		}
		fellBack = true
	}
	for _, n := range r.names {
		if g, ok := complexName(n); ok {
			if strings.HasPrefix(n, "alt_") {
				r.alt = append(r.alt, g)
			} else {
				r.tuple = append(r.tuple, g)
			}
		}
		if strings.HasPrefix(n, "skiplines") {
			r.skiplines++
		}
	}
	sortComplex(r.alt)
	sortComplex(r.tuple)
	r.clauses = requiredLiterals(t.text, t.backtrack)
	return r, fellBack, nil
}

// complexName recognizes alt_X[_n] and tuple_X[_n] group names (fail2ban's
// COMPLNAME_CRE) and returns the field they feed.
func complexName(name string) (complexGroup, bool) {
	if len(name) <= len("alt_") {
		return complexGroup{}, false
	}
	rest, ok := strings.CutPrefix(name, "alt_")
	if !ok {
		if rest, ok = strings.CutPrefix(name, "tuple_"); !ok {
			return complexGroup{}, false
		}
	}
	if k := strings.LastIndexByte(rest, '_'); k >= 0 && k+1 < len(rest) && allDigits(rest[k+1:]) {
		rest = rest[:k]
	}
	return complexGroup{group: name, field: groupName(rest)}, true
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func sortComplex(gs []complexGroup) {
	for i := 1; i < len(gs); i++ {
		for j := i; j > 0 && gs[j].group < gs[j-1].group; j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
}

// has reports whether the regex has a named group called name.
func (r *regex) has(name string) bool {
	for _, n := range r.names {
		if n == name {
			return true
		}
	}
	return false
}

// matcher holds the scratch space regexes match with.
type matcher struct {
	spans []int // 2 per group: whole match, then r.names
	fast  backtrack.Machine
	loc   []int  // fast's match
	runes []rune // regexp2 input
	offs  []int  // byte offset of each rune, and of the end
}

// match runs r on buf. On success m.spans holds byte offsets (-1 for a
// group that took no part).
func (m *matcher) match(r *regex, buf []byte) (bool, error) {
	n := 2 * (1 + len(r.names))
	if cap(m.spans) < n {
		m.spans = make([]int, n)
	}
	m.spans = m.spans[:n]
	if r.std != nil {
		// One search for the match and its groups: lines seldom reach a
		// regex that does not match them, and a failed search allocates
		// nothing.
		loc := m.find(r, buf)
		if loc == nil {
			return false, nil
		}
		m.spans[0], m.spans[1] = loc[0], loc[1]
		for i, x := range r.stdIdx {
			m.spans[2+2*i], m.spans[3+2*i] = loc[2*x], loc[2*x+1]
		}
		return true, nil
	}
	m.runes, m.offs = m.runes[:0], m.offs[:0]
	for i := 0; i < len(buf); {
		c, size := utf8.DecodeRune(buf[i:])
		m.runes = append(m.runes, c)
		m.offs = append(m.offs, i)
		i += size
	}
	m.offs = append(m.offs, len(buf))
	res, err := r.bt.FindRunesMatch(m.runes)
	if err != nil || res == nil {
		return false, err
	}
	m.spans[0], m.spans[1] = m.offs[res.Index], m.offs[res.Index+res.Length]
	for i, num := range r.btNum {
		g := res.GroupByNumber(num)
		if g == nil || len(g.Captures) == 0 {
			m.spans[2+2*i], m.spans[3+2*i] = -1, -1
			continue
		}
		m.spans[2+2*i], m.spans[3+2*i] = m.offs[g.Index], m.offs[g.Index+g.Length]
	}
	return true, nil
}

// find returns std's match of r in buf, which fast finds when it takes
// the regex and the input.
func (m *matcher) find(r *regex, buf []byte) []int {
	if r.fast != nil {
		if loc, err := m.fast.FindSubmatchIndex(r.fast, buf, m.loc); err == nil {
			if loc != nil {
				m.loc = loc
			}
			return loc
		}
	}
	return r.std.FindSubmatchIndex(buf)
}

// group returns the text of names[i] in buf after a match.
func (m *matcher) group(buf []byte, i int) (string, bool) {
	s, e := m.spans[2+2*i], m.spans[3+2*i]
	if s < 0 {
		return "", false
	}
	return string(buf[s:e]), true
}

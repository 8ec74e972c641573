// Package shellcmd runs fail2ban-style shell commands (action commands and
// ignorecommand) without letting log-derived text reach the shell's parser.
//
// A command goes through two steps, as in fail2ban (s/action.py
// CommandAction._processCmd):
//
//  1. Expand substitutes the static tags: the action's parameters, which come
//     from the configuration and are trusted, pasted verbatim and resolved
//     recursively, plus the built-in <br>, <sp>, <fq-hostname> and
//     <sh-hostname>.
//  2. Build substitutes the dynamic tags (<ip>, <matches>, <F-USER>...), whose
//     values come from log lines or DNS and are therefore hostile.
//
// fail2ban pastes a dynamic value unless it holds one of the characters
// \#&;`|*?~<>^()[]{}$'"\n\r, in which case it passes the value as a
// positional parameter and refers to it as $f2bV_name (s/utils.py
// buildShellCmd). pinjail is stricter: every dynamic value, whatever it holds,
// is passed as a positional parameter, so the script's text never depends on
// log content. The reference is quoted to suit where the tag stands (see
// Build), so that a value is one word and is never split or globbed, even in
// shipped actions that put <ip> inside single quotes.
//
// Run executes the script with /bin/sh in its own process group, with a
// timeout that ends the whole group.
package shellcmd

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxExpandRounds bounds the recursive substitution of static tags, as
// fail2ban's MAX_TAG_REPLACE_COUNT does.
const maxExpandRounds = 25

// Hostnames are the values of the <fq-hostname> and <sh-hostname> tags.
type Hostnames struct {
	FQDN  string
	Short string
}

// CNAMEResolver finds a host's canonical name; *net.Resolver is one.
type CNAMEResolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// LookupHostnames returns this host's names as fail2ban does
// (DNSUtils.getHostname): the short name is what hostname returns (the
// kernel's host name, which may hold dots), the FQDN its canonical name
// through r, or the short name when r is nil or fails.
func LookupHostnames(ctx context.Context, hostname func() (string, error), r CNAMEResolver) (Hostnames, error) {
	short, err := hostname()
	if err != nil {
		return Hostnames{}, fmt.Errorf("host name: %w", err)
	}
	h := Hostnames{FQDN: short, Short: short}
	if r != nil {
		if cname, err := r.LookupCNAME(ctx, short); err == nil && cname != "" {
			h.FQDN = strings.TrimSuffix(cname, ".")
		}
	}
	return h, nil
}

// builtin returns the value of a built-in static tag.
func builtin(name string, host Hostnames) (string, bool) {
	switch name {
	case "br":
		return "\n", true
	case "sp":
		return " ", true
	case "fq-hostname":
		return host.FQDN, host.FQDN != ""
	case "sh-hostname":
		return host.Short, host.Short != ""
	}
	return "", false
}

// Expand substitutes the static tags of command: those named in params (an
// action's [Init] values and parameters, already merged with the
// [Init?family=...] overrides for the address family at hand), whose values
// may hold tags themselves, and the built-ins <br>, <sp>, <fq-hostname>,
// <sh-hostname>. Other tags, the dynamic ones among them, are left for Build.
// It fails when the substitution does not settle, as with a parameter that
// refers to itself.
func Expand(command string, params map[string]string, host Hostnames) (string, error) {
	lookup := func(name string) (string, bool) {
		if v, ok := params[name]; ok {
			return v, true
		}
		return builtin(name, host)
	}
	for range maxExpandRounds + 1 {
		next := substitute(command, lookup)
		if next == command {
			return next, nil
		}
		command = next
	}
	return "", fmt.Errorf("tags still unresolved after %d rounds of substitution, a parameter probably refers to itself: %.200q", maxExpandRounds, command)
}

// Replace substitutes tags in text once, with their values pasted as they
// are: tags (looked up as Build does, <F-NAME> as "" when absent), then <br>
// and <sp>. It is for text that never reaches a shell, such as log messages
// and cache keys.
func Replace(text string, tags map[string]string) string {
	return substitute(text, func(name string) (string, bool) {
		if v, ok := lookupDynamic(name, tags); ok {
			return v, true
		}
		return builtin(name, Hostnames{})
	})
}

// substitute replaces every tag <name> of s for which lookup has a value,
// in one pass: a value is not searched for further tags. A tag is
// fail2ban's TAG_CRE, <([^ <>]+)>.
func substitute(s string, lookup func(name string) (string, bool)) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		name, end, ok := tagAt(s, i)
		if !ok {
			i++
			continue
		}
		if v, found := lookup(name); found {
			if b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(v)
			last = end
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// tagAt reports whether a tag starts at s[i], and returns its name and the
// offset just past it.
func tagAt(s string, i int) (name string, end int, ok bool) {
	if s[i] != '<' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '>':
			if j == i+1 {
				return "", 0, false
			}
			return s[i+1 : j], j + 1, true
		case ' ', '<':
			return "", 0, false
		}
	}
	return "", 0, false
}

// fieldAliases are fail2ban's R_MAP: <F-ID> and <F-PORT> name the fields the
// filter stores as fid and fport.
func fieldAlias(name string) string {
	switch name {
	case "id":
		return "fid"
	case "port":
		return "fport"
	}
	return name
}

// lookupDynamic finds a dynamic tag's value. A tag present in tags is used as
// it is. <F-NAME> (upper case, as fail2ban's FCUSTAG_CRE) is the filter field
// tags["F-"+lower(NAME)], with fail2ban's aliases, and "" when absent.
func lookupDynamic(name string, tags map[string]string) (string, bool) {
	if v, ok := tags[name]; ok {
		return v, true
	}
	field, ok := strings.CutPrefix(name, "F-")
	if !ok || !isFieldName(field) {
		return "", false
	}
	return tags["F-"+fieldAlias(strings.ToLower(field))], true
}

func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// maxArgLen is Linux's MAX_ARG_STRLEN less the terminating NUL: exec fails
// with E2BIG on a longer argument, which would let a hostile log line stop
// the ban it causes.
const maxArgLen = 32*4096 - 1

// argValue makes a value passable as an argument: without NUL bytes (which
// cannot be in an argument, nor in a shell variable) and no longer than
// maxArgLen, cut at a character boundary.
func argValue(v string) string {
	if strings.IndexByte(v, 0) >= 0 {
		v = strings.ReplaceAll(v, "\x00", "")
	}
	if len(v) > maxArgLen {
		cut := maxArgLen
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	return v
}

// varName is fail2ban's variable name for a tag: f2bV_ and the name with
// every non-word character replaced by _.
func varName(tag string) string {
	b := []byte("f2bV_" + tag)
	for i := len("f2bV_"); i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Build substitutes the dynamic tags of command (static tags already
// expanded, see Expand) and returns the script for Run and its positional
// arguments. Every tag found in tags, and every <F-NAME> field tag (see
// below), becomes a reference to a shell variable that the script's first
// line sets from a positional parameter, f2bV_ip=${1}, and the value goes to
// args. The script's text therefore depends only on command and on which
// tags are present, never on their values. <br> and <sp> are pasted; other
// tags are left as they are.
//
// Field tags: <F-NAME> is the value of tags["F-"+lower(NAME)] (with fail2ban's
// aliases <F-ID> for fid and <F-PORT> for fport), and an empty string when
// absent, as in fail2ban.
//
// A reference is written to fit where the tag stands, so that the value is
// always exactly one word, never split or globbed:
//
//	unquoted             "${f2bV_ip}"
//	in double quotes     ${f2bV_ip}
//	in single quotes     '"${f2bV_ip}"'  (closes and reopens the quotes)
//	in a here-document   ${f2bV_ip}
//
// Inside $(...), `...` and ${...} the rules apply afresh. The one place a
// value cannot reach is a here-document with a quoted delimiter (<<'EOF'),
// where the shell expands nothing: the reference stays literal there, as it
// does in fail2ban.
//
// Values lose any NUL byte and are cut to Linux's per-argument limit (128
// KiB), so that a hostile log line cannot make the exec fail.
func Build(command string, tags map[string]string) (script string, args []string) {
	var (
		body  strings.Builder
		lx    = lexer{stack: []level{{kind: ctxNormal}}}
		vars  = map[string]string{} // tag -> variable
		taken = map[string]bool{}   // variable names in use
		names []string              // variables in argument order
		last  = 0
	)
	for i := 0; i < len(command); {
		name, end, ok := tagAt(command, i)
		if !ok {
			lx.feed(command, i)
			i++
			continue
		}
		value, dynamic := lookupDynamic(name, tags)
		var repl string
		switch {
		case dynamic:
			v, ok := vars[name]
			if !ok {
				v = varName(name)
				for n := 2; taken[v]; n++ {
					v = varName(name) + "_" + strconv.Itoa(n)
				}
				taken[v] = true
				vars[name] = v
				names = append(names, v)
				args = append(args, argValue(value))
			}
			repl = lx.reference(v)
			lx.prev = 'x' // the reference is part of a word
		default:
			b, isBuiltin := builtin(name, Hostnames{})
			if !isBuiltin {
				// An unknown tag is literal shell text.
				for j := i; j < end; j++ {
					lx.feed(command, j)
				}
				i = end
				continue
			}
			repl = b
			for j := 0; j < len(b); j++ {
				lx.feed(b, j)
			}
		}
		body.WriteString(command[last:i])
		body.WriteString(repl)
		last, i = end, end
	}
	body.WriteString(command[last:])
	if len(names) == 0 {
		return body.String(), nil
	}
	var head strings.Builder
	for i, v := range names {
		if i > 0 {
			head.WriteByte(' ')
		}
		fmt.Fprintf(&head, "%s=${%d}", v, i+1)
	}
	head.WriteByte('\n')
	return head.String() + body.String(), args
}

// ---- shell context tracking ----

type ctxKind uint8

const (
	ctxNormal  ctxKind = iota // unquoted: top level, $(...), `...`, ${...}
	ctxSingle                 // '...'
	ctxDouble                 // "..."
	ctxHeredoc                // a here-document body whose delimiter is unquoted
	ctxLiteral                // a here-document body whose delimiter is quoted
	ctxComment                // # to the end of the line
	ctxArith                  // $((...))
)

// level is one level of nesting. closer says what ends a ctxNormal level:
// 0 for the top level, ')' for $(...), '`' for backquotes, '}' for ${...}.
type level struct {
	kind   ctxKind
	closer byte
	depth  int // parentheses open within $(...) or $((...))
	// here-document: the delimiter and whether leading tabs are stripped.
	delim     string
	stripTabs bool
}

type heredoc struct {
	delim             string
	quoted, stripTabs bool
}

// lexer follows a POSIX shell script closely enough to know whether a
// position is unquoted, in single or double quotes, or in a here-document.
// It is deliberately simple: a misjudged position can at worst leave a
// reference literal or let its value be split into words. The value itself,
// always in a variable, is never parsed as shell code.
type lexer struct {
	stack   []level
	escaped bool      // the previous character was an unquoted backslash
	pending []heredoc // here-documents whose bodies start at the next newline
	line    []byte    // the current line, to find a here-document's end
	skip    int       // characters already consumed by a lookahead
	prev    byte      // previous character, for '#' and '<<'
}

func (l *lexer) top() *level { return &l.stack[len(l.stack)-1] }

func (l *lexer) push(c level) { l.stack = append(l.stack, c) }

func (l *lexer) pop() {
	if len(l.stack) > 1 {
		l.stack = l.stack[:len(l.stack)-1]
	}
}

// reference returns how to refer to variable v at the current position.
func (l *lexer) reference(v string) string {
	switch l.top().kind {
	case ctxNormal:
		return `"${` + v + `}"`
	case ctxSingle:
		return `'"${` + v + `}"'`
	}
	return "${" + v + "}"
}

// feed advances the lexer over s[i].
func (l *lexer) feed(s string, i int) {
	if l.skip > 0 {
		l.skip--
	} else {
		l.step(s, i)
	}
	l.prev = s[i]
}

func (l *lexer) step(s string, i int) {
	c := s[i]
	top := l.top()
	switch {
	case top.kind == ctxHeredoc || top.kind == ctxLiteral:
		l.stepHeredoc(s, i)
		return
	case l.escaped:
		// The escaped character, or a line continuation.
		l.escaped = false
		return
	}
	switch top.kind {
	case ctxSingle:
		if c == '\'' {
			l.pop()
		}
	case ctxComment:
		if c == '\n' {
			l.pop()
			l.newline()
		}
	case ctxDouble:
		switch c {
		case '\\':
			l.escaped = true
		case '"':
			l.pop()
		case '`':
			l.push(level{kind: ctxNormal, closer: '`'})
		default:
			l.expansion(s, i)
		}
	case ctxArith:
		switch c {
		case '(':
			top.depth++
		case ')':
			if top.depth > 0 {
				top.depth--
			} else if i+1 < len(s) && s[i+1] == ')' {
				l.skip = 1
				l.pop()
			}
		default:
			l.expansion(s, i)
		}
	default:
		l.stepNormal(s, i)
	}
}

func (l *lexer) stepNormal(s string, i int) {
	top := l.top()
	switch c := s[i]; c {
	case '\\':
		l.escaped = true
	case '\'':
		l.push(level{kind: ctxSingle})
	case '"':
		l.push(level{kind: ctxDouble})
	case '#':
		if isWordStart(l.prev) {
			l.push(level{kind: ctxComment})
		}
	case '(':
		if top.closer == ')' {
			top.depth++
		}
	case ')':
		if top.closer == ')' {
			if top.depth == 0 {
				l.pop()
			} else {
				top.depth--
			}
		}
	case '}':
		if top.closer == '}' {
			l.pop()
		}
	case '`':
		if top.closer == '`' {
			l.pop()
		} else {
			l.push(level{kind: ctxNormal, closer: '`'})
		}
	case '<':
		if i+1 < len(s) && s[i+1] == '<' && l.prev != '<' && (i+2 >= len(s) || s[i+2] != '<') {
			l.heredocOperator(s, i)
		}
	case '\n':
		l.newline()
	default:
		l.expansion(s, i)
	}
}

// expansion handles '$' starting $(, $(( or ${.
func (l *lexer) expansion(s string, i int) {
	if s[i] != '$' || i+1 >= len(s) {
		return
	}
	switch s[i+1] {
	case '(':
		if i+2 < len(s) && s[i+2] == '(' {
			l.skip = 2
			l.push(level{kind: ctxArith})
			return
		}
		l.skip = 1
		l.push(level{kind: ctxNormal, closer: ')'})
	case '{':
		l.skip = 1
		l.push(level{kind: ctxNormal, closer: '}'})
	}
}

func isWordStart(prev byte) bool {
	switch prev {
	case 0, ' ', '\t', '\n', ';', '&', '|', '(', ')':
		return true
	}
	return false
}

// heredocOperator reads the delimiter after << or <<- at s[i].
func (l *lexer) heredocOperator(s string, i int) {
	j := i + 2
	strip := false
	if j < len(s) && s[j] == '-' {
		strip = true
		j++
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	var delim strings.Builder
	quoted := false
word:
	for ; j < len(s); j++ {
		switch c := s[j]; c {
		case '\'', '"':
			quoted = true
			end := strings.IndexByte(s[j+1:], c)
			if end < 0 {
				delim.WriteString(s[j+1:])
				j = len(s)
				break word
			}
			delim.WriteString(s[j+1 : j+1+end])
			j += end + 1
		case '\\':
			quoted = true
			if j+1 < len(s) {
				j++
				delim.WriteByte(s[j])
			}
		case ' ', '\t', '\n', ';', '&', '|', '<', '>', '(', ')':
			break word
		default:
			delim.WriteByte(c)
		}
	}
	if delim.Len() == 0 {
		return
	}
	l.pending = append(l.pending, heredoc{delim: delim.String(), quoted: quoted, stripTabs: strip})
	l.skip = j - i - 1
}

// newline starts the bodies of the here-documents opened on the line.
func (l *lexer) newline() {
	if len(l.pending) == 0 {
		return
	}
	// Bodies are read in order: push them in reverse.
	for k := len(l.pending) - 1; k >= 0; k-- {
		h := l.pending[k]
		kind := ctxHeredoc
		if h.quoted {
			kind = ctxLiteral
		}
		l.push(level{kind: kind, delim: h.delim, stripTabs: h.stripTabs})
	}
	l.pending = l.pending[:0]
	l.line = l.line[:0]
}

func (l *lexer) stepHeredoc(s string, i int) {
	top := l.top()
	c := s[i]
	if c != '\n' {
		l.line = append(l.line, c)
		if top.kind == ctxHeredoc {
			switch {
			case l.escaped:
				l.escaped = false
			case c == '\\':
				l.escaped = true
			case c == '`':
				l.push(level{kind: ctxNormal, closer: '`'})
			default:
				l.expansion(s, i)
			}
		}
		return
	}
	l.escaped = false
	line := string(l.line)
	l.line = l.line[:0]
	if top.stripTabs {
		line = strings.TrimLeft(line, "\t")
	}
	if line == top.delim {
		l.pop()
	}
}

// ReverseName is a's PTR name without the arpa suffix, as fail2ban's
// <ip-rev> tag (getPTR("")): "1.2.0.192." for 192.0.2.1.
func ReverseName(a netip.Addr) string {
	var b strings.Builder
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])))
			b.WriteByte('.')
		}
		return b.String()
	}
	const hex = "0123456789abcdef"
	v := a.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[v[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[v[i]>>4])
		b.WriteByte('.')
	}
	return b.String()
}

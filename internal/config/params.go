package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/pinjail/pinjail/internal/ini"
)

// ParseNameParams splits a filter, action or backend reference of the form
// name[p1=v1, p2="v,2", p3='v3'][p4=v4] into the name and its parameters,
// as fail2ban's helpers.extractOptions does: values are trimmed, quotes
// protect commas and brackets, and a later group or key overrides an
// earlier one. The name is returned as written (with any trailing
// whitespace when there are no brackets).
func ParseNameParams(s string) (name string, params map[string]string, err error) {
	name, d, err := extractOptions(s)
	if err != nil {
		return "", nil, err
	}
	return name, d.toMap(), nil
}

// extractOptions is ParseNameParams keeping the parameters' order.
func extractOptions(s string) (string, *dict, error) {
	params := newDict()
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if s == "" {
			return "", nil, errors.New("unexpected option syntax: empty name")
		}
		return s, params, nil
	}
	end := strings.LastIndexByte(s, ']')
	if open == 0 || end < open || strings.TrimFunc(s[end+1:], ini.IsSpace) != "" {
		return "", nil, fmt.Errorf("unexpected option syntax in %q", clip(s))
	}
	name, body := s[:open], s[open+1:end]
	for p := 0; p < len(body); {
		key, valueAt, ok := scanKey(body, p)
		if !ok {
			// Only a trailing comma and blanks may remain.
			rest := strings.TrimPrefix(body[p:], ",")
			if strings.TrimFunc(rest, ini.IsSpace) == "" {
				break
			}
			return "", nil, fmt.Errorf("expected option, wrong syntax at %d: %s", p, clipN(body[p:], 25))
		}
		value, after := scanValue(body, valueAt)
		switch {
		case after == len(body) || (after == len(body)-1 && body[after] == '\n'):
			p = len(body)
		case body[after] == ',':
			p = after + 1
		case body[after] == ']':
			next := after + 1 + leadingSpace(body[after+1:])
			if next < len(body) && body[next] == '[' {
				p = next + 1
				break
			}
			fallthrough
		default:
			return "", nil, fmt.Errorf("unexpected syntax at %d after option %q: %s", after, key, clipN(body[after:], 25))
		}
		params.set(key, strings.TrimFunc(value, ini.IsSpace))
	}
	return name, params, nil
}

// scanKey matches `\s*([\w\-_.]+)=` at p: the key and where its value
// starts.
func scanKey(s string, p int) (key string, valueAt int, ok bool) {
	start := p + leadingSpace(s[p:])
	end := start
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if !isPyWord(r) && r != '-' && r != '.' {
			break
		}
		end += size
	}
	if end == start || end >= len(s) || s[end] != '=' {
		return "", 0, false
	}
	return s[start:end], end + 1, true
}

// scanValue reads a value at p: "double-quoted", 'single-quoted', or
// running to the next ',' or ']'. It returns the value and the offset
// after it.
func scanValue(s string, p int) (string, int) {
	if p < len(s) && (s[p] == '"' || s[p] == '\'') {
		if q := strings.IndexByte(s[p+1:], s[p]); q >= 0 {
			return s[p+1 : p+1+q], p + q + 2
		}
	}
	end := strings.IndexAny(s[p:], ",]")
	if end < 0 {
		return s[p:], len(s)
	}
	return s[p : p+end], p + end
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeftFunc(s, ini.IsSpace))
}

// isPyWord is Python's \w for str patterns: letters, digits and '_'.
func isPyWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pyClass spells Python's \s and \w as .NET character-class contents, so
// that regexp2 matches what Python's re matches.
const (
	pySpace = `\t\n\x0b\f\r\x1c-\x1f\x85\p{Z}`
	pyWord  = `\p{L}\p{N}_`
)

// actionList is fail2ban's OPTION_SPLIT_CRE, which splits an action value
// into its entries: `name[params]` groups (whose brackets may span lines)
// or any other run of non-blank characters. It relies on backtracking and
// lookahead, so it runs on regexp2 to match exactly what fail2ban matches.
var actionList = func() *regexp2.Regexp {
	const (
		sp    = `[` + pySpace + `]`
		nonSp = `[^` + pySpace + `]`
		param = `[` + pyWord + `\-_\.]+=(?:"[^"]*"|'[^']*'|[^,\]]*)` + sp + `*(?:,|\]` + sp + `*\[)?` + sp + `*`
	)
	re := regexp2.MustCompile(
		`(?:[^\[`+pySpace+`]+(?:`+sp+`*\[`+sp+`*(?:`+param+`)*\])?`+sp+`*|`+nonSp+`+)(?=\n`+sp+`*|`+sp+`+|$)`,
		regexp2.Singleline)
	// The pattern can backtrack heavily on malformed input; configuration
	// files are small, so a second means something is badly wrong.
	re.MatchTimeout = time.Second
	return re
}()

// splitActions is fail2ban's splitWithOptions: the entries of an action
// value, each still to be trimmed.
func splitActions(s string) ([]string, error) {
	var out []string
	m, err := actionList.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = actionList.FindNextMatch(m) {
		out = append(out, m.String())
	}
	if err != nil {
		return nil, fmt.Errorf("cannot split action list %q: %w", clip(s), err)
	}
	return out, nil
}

func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

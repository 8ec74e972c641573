package dates

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// This file builds templates the way fail2ban's DatePatternRegex, DateEpoch
// and DateTai64n classes do (server/datetemplate.py): strftime directives
// become named groups, and the text is rewritten with the same string
// surgery, so that names, flags and the regex itself come out as
// fail2ban's. Template names are what fail2ban-regex prints.

type templateKind uint8

const (
	kindPattern   templateKind = iota // strftime directives
	kindEpoch                         // seconds since the epoch
	kindLongEpoch                     // seconds, milliseconds or microseconds
	kindTAI64N
)

// templateFlags are fail2ban's DateTemplate flags.
type templateFlags uint8

const (
	flagWordEnd templateFlags = 1 << iota
	flagWordBegin
	flagLineEnd
	flagLineBegin
)

// wordBegin is setRegex's wordBegin argument: False, True or 'start'.
type wordBegin uint8

const (
	noBound wordBegin = iota
	wordBound
	lineStartBound
)

type template struct {
	name string
	// pattern is the directive pattern of kindPattern templates (fail2ban's
	// DatePatternRegex.pattern); hasPattern is false for the others.
	pattern    string
	hasPattern bool
	regex      string // the final Python regex
	prog       *program
	flags      templateFlags
	// weight favours the line-anchored copies of the default templates
	// when the detector reorders its list.
	weight float64
	kind   templateKind
	// valueGroup is the group holding an epoch number.
	valueGroup int
	captures   []capture
	ampmGroup  int // group of %p, or -1
}

// anchoredAt reports whether the template can only match at the start or
// end of the line; the detector treats such matches as final.
func (t *template) anchoredAt() bool { return t.flags&(flagLineBegin|flagLineEnd) != 0 }

// defaultPatterns are fail2ban's DateDetectorCache.DEFAULT_TEMPLATES.
var defaultPatterns = [...]string{
	`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
	`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
	`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
	`%m/%d/%ExY:%H:%M:%S`,
	`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
	`EPOCH`,
	`{^LN-BEG}%H:%M:%S`,
	`^<%m/%d/%Exy@%H:%M:%S>`,
	`%Exy%Exm%Exd  ?%H:%M:%S`,
	`%b %d, %ExY %I:%M:%S %p`,
	`^%b-%d-%Exy %k:%M:%S`,
	`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`TAI64N`,
}

// directive is one strftime directive: the regex it expands to (Python's
// _strptime.TimeRE with fail2ban's overrides, C locale) and the name
// fail2ban-regex shows for it.
type directive struct {
	key, regex, name string
}

// directives lists the multi-letter directives first: fail2ban tries them
// before the single letters.
var directives = [...]directive{
	{"ExZ", `(?P<Z>[A-Z](?:[A-Z]{2,4})?)`, "ExZone name"},
	{"Exz", `(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)`, "ExZone offset"},
	{"Exd", `(?P<d>[1-2]\d|0[1-9]|3[0-1])`, "ExDay"},
	{"Exm", `(?P<m>0[1-9]|1[0-2])`, "ExMonth"},
	{"ExH", `(?P<H>[0-1]\d|2[0-3])`, "Ex24hour"},
	{"Exk", ` ?(?P<H>[0-1]?\d|2[0-3])`, "%Exk"},
	{"Exl", ` ?(?P<I>1[0-2]|\d)`, "%Exl"},
	{"ExM", `(?P<M>[0-5]\d)`, "ExMinute"},
	{"ExS", `(?P<S>[0-5]\d|6[0-1])`, "ExSecond"},
	{"ExY", "", "ExYear"}, // depends on the current year, see yearRegex
	{"Exy", `(?P<y>\d{2})`, "ExYear2"},
	{"d", `(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`, "Day"},
	{"f", `(?P<f>[0-9]{1,6})`, "Microseconds"},
	{"H", `(?P<H>[0-1]?\d|2[0-3])`, "24hour"},
	{"I", `(?P<I>1[0-2]|0[1-9]|[1-9])`, "12hour"},
	{"G", `(?P<G>\d\d\d\d)`, "%G"},
	{"j", `(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`, "Yearday"},
	{"m", `(?P<m>0?[1-9]|1[0-2])`, "Month"},
	{"M", `(?P<M>[0-5]?\d)`, "Minute"},
	{"S", `(?P<S>[0-5]?\d|6[0-1])`, "Second"},
	{"U", `(?P<U>5[0-3]|[0-4]\d|\d)`, "Yearweek"},
	{"w", `(?P<w>[0-6])`, "Weekday"},
	{"u", `(?P<u>[1-7])`, "%u"},
	{"V", `(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)`, "%V"},
	{"y", `(?P<y>\d\d)`, "Year2"},
	{"Y", `(?P<Y>\d{4})`, "Year"},
	{"z", `(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`, "Zone offset"},
	{"A", `(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)`, "DAYNAME"},
	{"a", `(?P<a>mon|tue|wed|thu|fri|sat|sun)`, "DAY"},
	{"B", `(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)`, "MONTH"},
	{"b", `(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)`, "MON"},
	{"p", `(?P<p>am|pm)`, "AMPM"},
	{"Z", `(?P<Z>Z|[A-Z]{3,5})`, "Zone name"},
	{"%", `%`, "%"},
	{"W", `(?P<W>5[0-3]|[0-4]\d|\d)`, "Yearweek"},
	{"c", `(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)`, "%c"},
	{"x", `(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)`, "%x"},
	{"X", `(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)`, "%X"},
	{"k", ` ?(?P<H>[0-2]?\d)`, "%k"},
	{"l", ` ?(?P<I>1?\d)`, "%l"},
}

// yearRegex is fail2ban's %ExY: a four-digit year from 2000 to the end of
// the decade three years from now (fail2ban computes it when it starts).
func yearRegex(thisYear int) string {
	prefixes := map[string]bool{}
	add := func(year int) { prefixes[fmt.Sprintf("%04d", year)[:3]] = true }
	add(thisYear - 1)
	add(thisYear + 3)
	for y := 2000; y < thisYear+1; y += 3 {
		add(y)
	}
	sorted := make([]string, 0, len(prefixes))
	for p := range prefixes {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	return `(?P<Y>(?:` + strings.Join(sorted, "|") + `)\d)`
}

// builder makes templates. It exists because %ExY depends on the year.
type builder struct {
	yearRE string
}

// expand replaces the directives of a pattern by their regexes and, for the
// template's name, by their names (fail2ban's fmt % timeRE and
// fmt % _patternName).
func (b *builder) expand(pattern string) (regex, name string, err error) {
	var re, nm strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c != '%' {
			re.WriteByte(c)
			nm.WriteByte(c)
			i++
			continue
		}
		d, ok := lookupDirective(pattern[i+1:])
		if !ok {
			return "", "", fmt.Errorf("datepattern %q: invalid directive at %q (write a literal percent sign as %%%%)", pattern, pattern[i:min(len(pattern), i+2)])
		}
		if d.key == "ExY" {
			re.WriteString(b.yearRE)
		} else {
			re.WriteString(d.regex)
		}
		nm.WriteString(d.name)
		i += 1 + len(d.key)
	}
	return re.String(), nm.String(), nil
}

func lookupDirective(s string) (directive, bool) {
	for _, d := range directives {
		if strings.HasPrefix(s, d.key) {
			return d, true
		}
	}
	return directive{}, false
}

// hasAlphaDirective is fail2ban's RE_ALPHA_PATTERN, (?<!\%)\%[aAbBpc]: such
// directives make the whole template case-insensitive.
func hasAlphaDirective(pattern string) bool {
	for i := 0; i+1 < len(pattern); i++ {
		if pattern[i] == '%' && strings.IndexByte("aAbBpc", pattern[i+1]) >= 0 && (i == 0 || pattern[i-1] != '%') {
			return true
		}
	}
	return false
}

// patternTemplate is fail2ban's _getPatternTemplate.
func (b *builder) patternTemplate(pattern string) (*template, error) {
	key := patternKey(pattern)
	if strings.Contains(key, "EPOCH") {
		if len(epochPlaceholders(pattern)) > 0 {
			return b.epochTemplate(false, pattern, strings.Contains(key, "LEPOCH"))
		}
		switch key {
		case "EPOCH", "{^LN-BEG}EPOCH", "^EPOCH":
			return b.epochTemplate(key != "EPOCH", "", false)
		case "LEPOCH", "{^LN-BEG}LEPOCH", "^LEPOCH":
			return b.epochTemplate(key != "LEPOCH", "", true)
		}
	}
	switch key {
	case "TAI64N", "{^LN-BEG}TAI64N", "^TAI64N":
		t := &template{name: "TAI64N", kind: kindTAI64N, weight: 1, ampmGroup: -1}
		bound := noBound
		if key != "TAI64N" {
			bound = lineStartBound
		}
		return t, b.setRegex(t, `@[0-9a-f]{24}`, bound, true)
	}
	return b.datePatternRegex(pattern)
}

// patternKey is how fail2ban recognises special patterns: case-insensitively
// unless the pattern has directives.
func patternKey(pattern string) string {
	if strings.Contains(pattern, "%") {
		return pattern
	}
	return strings.ToUpper(pattern)
}

// datePatternRegex is fail2ban's DatePatternRegex.setRegex.
func (b *builder) datePatternRegex(pattern string) (*template, error) {
	t := &template{pattern: pattern, hasPattern: true, weight: 1, ampmGroup: -1}
	begin, end := wordBound, true
	if p, ok := strings.CutPrefix(pattern, "{UNB}"); ok {
		pattern, begin, end = p, noBound, false
	}
	if p, ok := strings.CutPrefix(pattern, "{^LN-BEG}"); ok && begin != noBound {
		pattern, begin = p, lineStartBound
	}
	regex, name, err := b.expand(pattern)
	if err != nil {
		return nil, err
	}
	t.name = name
	if hasAlphaDirective(pattern) {
		regex = "(?iu)" + regex
	}
	if err := b.setRegex(t, regex, begin, end); err != nil {
		return nil, fmt.Errorf("datepattern %q: %w", t.pattern, err)
	}
	return t, nil
}

const (
	epochRE     = `\d{10,11}\b(?:\.\d{3,6})?`
	longEpochRE = `\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`
)

// epochTemplate is fail2ban's DateEpoch.
func (b *builder) epochTemplate(lineBeginOnly bool, pattern string, long bool) (*template, error) {
	t := &template{name: "Epoch", kind: kindEpoch, weight: 1, valueGroup: 1, ampmGroup: -1}
	number := epochRE
	if long {
		t.name, t.kind, number = "LongEpoch", kindLongEpoch, longEpochRE
	}
	switch {
	case pattern != "":
		// The pattern's whole match is cut from the line; the number is
		// group 2.
		t.name, t.valueGroup = pattern, 2
		var re strings.Builder
		re.WriteByte('(')
		last := 0
		for _, loc := range epochPlaceholders(pattern) {
			re.WriteString(pattern[last:loc[0]])
			re.WriteString("(" + number + ")")
			last = loc[1]
		}
		re.WriteString(pattern[last:])
		re.WriteByte(')')
		if err := b.setRegex(t, re.String(), wordBound, true); err != nil {
			return nil, fmt.Errorf("datepattern %q: %w", pattern, err)
		}
	case !lineBeginOnly:
		// At the line start, after a leading "[", or in "audit(...:" of
		// SELinux logs.
		re := `((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))` + number + `)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`
		return t, b.setRegex(t, re, noBound, true)
	default:
		re := `((?P<square>(?<=^\[))?` + number + `)(?(square)(?=\]))`
		return t, b.setRegex(t, re, lineStartBound, true)
	}
	return t, nil
}

// epochPlaceholders finds fail2ban's RE_EPOCH_PATTERN, (?<!\\)\{L?EPOCH\}
// in any case, and returns the [start, end) of each.
func epochPlaceholders(pattern string) [][2]int {
	var out [][2]int
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '{' || i > 0 && pattern[i-1] == '\\' {
			continue
		}
		for _, ph := range [...]string{"{EPOCH}", "{LEPOCH}"} {
			if len(pattern)-i >= len(ph) && strings.EqualFold(pattern[i:i+len(ph)], ph) {
				out = append(out, [2]int{i, i + len(ph)})
				i += len(ph) - 1
				break
			}
		}
	}
	return out
}

var (
	reGlobalFlags   = regexp.MustCompile(`\(\?[a-z]+\)`)
	reNoWordBegin   = regexp.MustCompile(`^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)`)
	reGroupAll      = regexp.MustCompile(`^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$`)
	reLeadingFlags  = regexp.MustCompile(`^\(\?\w+\)`)
	reLeadingStarts = regexp.MustCompile(`^\(*(?:\(\?\w+\))?\(*\*\*`)
)

// setRegex is fail2ban's DateTemplate.setRegex: it adds the boundaries,
// makes sure the date is group 1, sets the flags and compiles the result.
func (b *builder) setRegex(t *template, regex string, begin wordBegin, end bool) error {
	regex = strings.TrimFunc(regex, isSpaceRune)
	// Global flags such as (?iu) are moved to the front at the end.
	flags := ""
	if loc := reGlobalFlags.FindStringIndex(regex); loc != nil {
		flags = regex[loc[0]:loc[1]]
		regex = regex[:loc[0]] + regex[loc[1]:]
	}
	boundBegin := begin != noBound && !reNoWordBegin.MatchString(regex)
	boundEnd := end && !noWordBoundEnd(regex)
	if !hasPlainGroup(regex) {
		regex = reGroupAll.ReplaceAllString(regex, "${1}(${2})${3}")
	}
	t.flags = 0
	if boundBegin {
		if begin == lineStartBound {
			t.flags |= flagLineBegin
			regex = `^(?:\W{0,2})?` + regex
			if !strings.HasPrefix(t.name, "{^LN-BEG}") {
				t.name = "{^LN-BEG}" + t.name
			}
		} else {
			t.flags |= flagWordBegin
			regex = `(?=^|\b|\W)` + regex
		}
	}
	if boundEnd {
		t.flags |= flagWordEnd
		regex += `(?=\b|\W|$)`
	}
	if lineBoundBegin(regex) {
		t.flags |= flagLineBegin
	}
	if lineBoundEnd(regex) {
		t.flags |= flagLineEnd
	}
	t.regex = flags + deleteStarBounds(regex)
	prog, err := compileRegex(t.regex)
	if err != nil {
		return err
	}
	if prog.groups == 0 {
		// Possible when the pattern is itself group syntax, such as
		// "?!x" becoming "(?!x)"; fail2ban would raise on every match.
		return fmt.Errorf("regex %q has no group 1 to hold the date", t.regex)
	}
	t.prog = prog
	t.captures = nil
	for name, g := range prog.names {
		if f, ok := fieldsByGroup[name]; ok {
			t.captures = append(t.captures, capture{group: g, field: f})
		}
		if name == "p" {
			t.ampmGroup = g
		}
	}
	sort.Slice(t.captures, func(i, j int) bool { return t.captures[i].group < t.captures[j].group })
	return nil
}

// noWordBoundEnd is fail2ban's RE_NO_WRD_BOUND_END,
// (?<!\\)(?:\$\)?|\\b|\\s|\*\*\)*)$: the regex ends with its own boundary.
func noWordBoundEnd(s string) bool {
	notEscaped := func(i int) bool { return i >= 0 && (i == 0 || s[i-1] != '\\') }
	n := len(s)
	switch {
	case strings.HasSuffix(s, "$") && notEscaped(n-1),
		strings.HasSuffix(s, "$)") && notEscaped(n-2),
		strings.HasSuffix(s, `\b`) && notEscaped(n-2),
		strings.HasSuffix(s, `\s`) && notEscaped(n-2):
		return true
	}
	k := len(strings.TrimRight(s, ")"))
	return k >= 2 && s[k-2:k] == "**" && notEscaped(k-2)
}

// hasPlainGroup is fail2ban's RE_GROUPED: a "(" that opens a capturing
// group, not escaped and not "(?".
func hasPlainGroup(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '(' || i > 0 && s[i-1] == '\\' || i > 1 && s[i-2:i] == "(?" || i+1 < len(s) && s[i+1] == '?' {
			continue
		}
		return true
	}
	return false
}

// lineBoundBegin is fail2ban's RE_LINE_BOUND_BEG,
// ^(?:\(\?\w+\))?(?:\^|\((?:\?:)?\^(?!\|)).
func lineBoundBegin(s string) bool {
	at := func(t string) bool {
		if strings.HasPrefix(t, "^") {
			return true
		}
		for _, open := range [...]string{"(^", "(?:^"} {
			if strings.HasPrefix(t, open) && !strings.HasPrefix(t[len(open):], "|") {
				return true
			}
		}
		return false
	}
	if loc := reLeadingFlags.FindStringIndex(s); loc != nil && at(s[loc[1]:]) {
		return true
	}
	return at(s)
}

// lineBoundEnd is fail2ban's RE_LINE_BOUND_END, (?<![\\\|])(?:\$\)?)$.
func lineBoundEnd(s string) bool {
	ok := func(i int) bool { return i == 0 || s[i-1] != '\\' && s[i-1] != '|' }
	n := len(s)
	return strings.HasSuffix(s, "$") && ok(n-1) || strings.HasSuffix(s, "$)") && ok(n-2)
}

// deleteStarBounds is fail2ban's RE_DEL_WRD_BOUNDS substitution: it removes
// the "**" markers that disabled the word boundaries.
func deleteStarBounds(s string) string {
	head, rest := "", s
	if loc := reLeadingStarts.FindStringIndex(s); loc != nil {
		head, rest = strings.ReplaceAll(s[:loc[1]], "**", ""), s[loc[1]:]
	}
	k := len(strings.TrimRight(rest, ")"))
	if k >= 2 && rest[k-2:k] == "**" {
		i := len(s) - len(rest) + k - 2 // in s, for the look-behind
		if i == 0 || s[i-1] != '\\' {
			rest = rest[:k-2] + rest[k:]
		}
	}
	return head + rest
}

// unboundPattern is fail2ban's DateTemplate.unboundPattern: a template's
// pattern without its boundary markers, for substitution into {DATE}.
func unboundPattern(s string) string {
	s = strings.TrimPrefix(s, "{UNB}")
	s = strings.TrimPrefix(s, "{^LN-BEG}")
	for _, p := range [...]string{`(^|\b|\W)`, `(?:^|\b|\W)`} {
		if strings.HasPrefix(s, p) {
			s = s[len(p):]
			break
		}
	}
	return strings.TrimSuffix(s, `(?=\b|\W|$)`)
}

// anchoredTemplate is fail2ban's _getAnchoredTemplate: the template rebuilt
// from its pattern (or, lacking one, its name) wrapped by wrap.
func (b *builder) anchoredTemplate(t *template, wrap func(string) string) (*template, error) {
	if t.hasPattern {
		return b.patternTemplate(wrap(t.pattern))
	}
	return b.patternTemplate(wrap(t.name))
}

// defaultTemplates returns fail2ban's 17 default templates and the 31 the
// default detector uses: line-anchored copies first, then the originals.
func (b *builder) defaultTemplates() (base, all []*template, err error) {
	var anchored []*template
	for _, p := range defaultPatterns {
		t, err := b.patternTemplate(p)
		if err != nil {
			return nil, nil, err
		}
		base = append(base, t)
		if strings.HasPrefix(t.name, "{^LN-BEG}") || strings.HasPrefix(t.name, "^") {
			continue
		}
		a, err := b.anchoredTemplate(t, func(s string) string { return "{^LN-BEG}" + s })
		if err != nil {
			return nil, nil, err
		}
		if a.name != t.name {
			a.weight = 100
			anchored = append(anchored, a)
		}
	}
	return base, append(anchored, base...), nil
}

// replaceDate is fail2ban's RE_DATE_PREMATCH substitution: every {DATE}
// (in any case, not after a backslash) in preMatch becomes date.
func replaceDate(preMatch, date string) string {
	const placeholder = "{DATE}"
	var out strings.Builder
	last := 0
	for i := 0; i+len(placeholder) <= len(preMatch); i++ {
		if strings.EqualFold(preMatch[i:i+len(placeholder)], placeholder) && (i == 0 || preMatch[i-1] != '\\') {
			out.WriteString(preMatch[last:i])
			out.WriteString(date)
			i += len(placeholder) - 1
			last = i + 1
		}
	}
	out.WriteString(preMatch[last:])
	return out.String()
}

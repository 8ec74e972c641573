// Package dates finds and parses the timestamp in a log line exactly as
// fail2ban 1.0.2's date detector does.
//
// fail2ban's date templates are Python regular expressions whose results
// depend on Python's backtracking order, lookarounds and backreferences, so
// the package carries a small backtracking matcher for that dialect
// (syntax.go, compile.go, match.go) instead of using Go's regexp. On top of
// it, template.go builds the templates with fail2ban's own string rewriting
// (so names and flags are fail2ban's), strptime.go converts the captured
// fields with fail2ban's rules for missing years, days and zones, and this
// file reproduces the detector's choice among templates, including the
// reordering that makes the template that matched last be tried first.
//
// A detector runs on every line of a log, so the common case is fast:
// templates made of strftime directives and literals, such as nginx's
// "%d/%b/%Y:%H:%M:%S %z", run on ASCII lines on a second matcher
// (fast.go) that jumps to a literal byte of the date and gives the same
// answers as the backtracking one; it and the conversion to a time
// remember their last results, which consecutive lines with the same date
// reuse.
package dates

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Match is a timestamp found in a line.
type Match struct {
	// Start and End delimit the date text (the template's group 1) in the
	// line; the filter cuts line[Start:End] out before matching regexes.
	// The text of a {^LN-BEG} template excludes the up to two non-word
	// characters its prefix skips.
	Start, End int
	// Time is the parsed time. It is the zero Time when the template
	// matched but gave no time: either the date text is empty (Start ==
	// End, as with {NONE}), and fail2ban then uses the previous line's
	// date if under a minute old, else now; or the text is not a valid date
	// (such as 31 April, or an unknown zone), and fail2ban logs "failed to
	// parse timeText" and treats the line as undated.
	Time time.Time
	// Template is the index of the template that matched, for statistics
	// (see TemplateName).
	Template int
}

// Detector finds timestamps. A Detector is not safe for concurrent use: like
// fail2ban's, it remembers where and with which template it found the last
// date and tries that first.
type Detector struct {
	templates []*template
	logZone   *time.Location
	none      bool

	// order is fail2ban's template list, which reorders itself; each entry
	// carries fail2ban's per-detector statistics.
	order []slot
	// searchHits counts successful searches per template (fail2ban's
	// template.hits), winners or not.
	searchHits []int
	// Where the last date was found, in characters, with the characters
	// around it (noRune when outside the line, unsetRune before any match).
	lastStart, lastEnd    int
	lastBefore, lastFirst rune
	lastLast, lastAfter   rune
	lastIndex             int // position in order of the last winner, or none
	firstUnused           int
	machine               machine
	reserveCaps           []int
	last                  lastParse
	fastScratch           fastScratch
	// capsFrom is the fast matcher's memory of a match that gave
	// machine.caps, 0 if none did.
	capsFrom uint64
	// ascii is how long the start of the current line known to be ASCII
	// is; asciiEnds is set when the byte after it is not.
	ascii     int
	asciiEnds bool
	// noFast disables the fast matcher, for tests comparing the two.
	noFast bool
}

// slot is fail2ban's DateDetectorTemplate.
type slot struct {
	template int
	hits     int
	// lastUsed is when it last matched, in nanoseconds since the epoch;
	// fail2ban's float seconds are seconds().
	lastUsed int64
	distance int
}

const (
	none           = 0x7fffffff // fail2ban's "not yet" position and index
	noRune    rune = -1         // an empty slice of the line
	unsetRune rune = -2         // Python's None
	// unusedSeconds is how long a template must have been idle for a newly
	// matching one to overtake it regardless of weights.
	unusedSeconds = 300
)

// seconds is lastUsed as fail2ban has it.
func (s *slot) seconds() float64 { return float64(s.lastUsed) / 1e9 }

func (s *slot) weight(t *template) float64 {
	return float64(s.hits) * t.weight / float64(max(1, s.distance))
}

// New returns a detector for a datepattern value (with %% already turned
// into %), one pattern per line. "" selects fail2ban's 31 default
// templates, "{^LN-BEG}" the 17 line-anchored ones, "{NONE}" no date at
// all; EPOCH, LEPOCH and TAI64N (each optionally prefixed with {^LN-BEG}),
// patterns containing {DATE} (such as `^<\d+>\d+\s+{DATE}`, expanded with
// each default template), and regexes with strftime directives are
// supported. As in fail2ban, "{DEFAULT}" adds nothing, so a datepattern made
// of it alone gives the default templates.
//
// logZone is the zone of dates that carry none (the jail's logtimezone,
// see ParseZone); nil means the zone of the now passed to Find, which for
// time.Now() is the system's, as for fail2ban without logtimezone.
//
// %ExY accepts the years from 2000 to the end of the decade three years
// after the current one, which, as in fail2ban, is taken from the system
// clock once, here.
func New(pattern string, logZone *time.Location) (*Detector, error) {
	return newDetector(pattern, logZone, time.Now().Year())
}

func newDetector(pattern string, logZone *time.Location, thisYear int) (*Detector, error) {
	b := &builder{yearRE: yearRegex(thisYear)}
	d := &Detector{logZone: logZone}
	names := map[string]bool{}
	add := func(t *template, ignoreDup bool) error {
		if names[t.name] {
			if ignoreDup {
				return nil
			}
			return fmt.Errorf("datepattern: there is already a template named %q", t.name)
		}
		names[t.name] = true
		d.templates = append(d.templates, t)
		return nil
	}
	var base, all []*template
	defaults := func() error {
		if all == nil {
			var err error
			if base, all, err = b.defaultTemplates(); err != nil {
				return err
			}
		}
		return nil
	}
	for line := range strings.SplitSeq(pattern, "\n") {
		line = strings.TrimFunc(line, isSpaceRune)
		if line == "" {
			continue
		}
		key := patternKey(line)
		switch {
		case key == "{DEFAULT}":
			// fail2ban's filter for it rejects every template.
		case key == "{^LN-BEG}":
			if err := defaults(); err != nil {
				return nil, err
			}
			ignoreDup := len(d.templates) > 0
			for _, t := range all {
				if t.flags&flagLineBegin != 0 {
					if err := add(t, ignoreDup); err != nil {
						return nil, err
					}
				}
			}
		case strings.Contains(key, "{DATE}"):
			if err := defaults(); err != nil {
				return nil, err
			}
			ignoreDup := len(d.templates) > 0
			for _, t := range base {
				wrapped, err := b.anchoredTemplate(t, func(s string) string { return replaceDate(line, unboundPattern(s)) })
				if err != nil {
					return nil, err
				}
				if err := add(wrapped, ignoreDup); err != nil {
					return nil, err
				}
			}
		case key == "{NONE}":
			t, err := b.datePatternRegex("{UNB}^")
			if err != nil {
				return nil, err
			}
			if err := add(t, false); err != nil {
				return nil, err
			}
			d.none = len(d.templates) == 1
		default:
			t, err := b.patternTemplate(line)
			if err != nil {
				return nil, err
			}
			if err := add(t, false); err != nil {
				return nil, err
			}
		}
	}
	if len(d.templates) == 0 {
		if err := defaults(); err != nil {
			return nil, err
		}
		d.templates = all
	}
	if d.none && len(d.templates) > 1 {
		d.none = false
	}
	ncap := 0
	for i := range d.templates {
		d.order = append(d.order, slot{template: i, distance: none})
		ncap = max(ncap, d.templates[i].prog.ncap)
	}
	d.searchHits = make([]int, len(d.templates))
	d.machine.reserve(ncap)
	d.machine.stack = make([]frame, 0, 64)
	d.reserveCaps = make([]int, ncap)
	d.lastStart, d.lastBefore = 1, unsetRune
	d.lastEnd, d.lastLast = none, unsetRune
	d.lastIndex = none
	return d, nil
}

// Clone returns a detector in the same state as d, for another goroutine.
// They share the compiled templates, which neither changes.
func (d *Detector) Clone() *Detector {
	c := *d
	// Every line writes to these: clones on other processors must not
	// share a cache line.
	c.order = ownLines(d.order)
	c.searchHits = ownLines(d.searchHits)
	c.machine = machine{caps: ownLines(d.machine.caps), stack: make([]frame, 0, cap(d.machine.stack))}
	c.reserveCaps = ownLines(d.reserveCaps)
	// The caches start empty.
	c.last, c.fastScratch = lastParse{}, fastScratch{}
	return &c
}

// cacheLine is the size of the processors' cache lines.
const cacheLine = 64

// ownLines returns a copy of s in memory that it shares with nothing else:
// the allocator puts an object whose size is a multiple of a cache line
// at an offset that is one too.
func ownLines[T any](s []T) []T {
	size := int(unsafe.Sizeof(*new(T)))
	n := (len(s)*size + cacheLine - 1) / cacheLine * cacheLine / size
	return append(make([]T, 0, max(n, cacheLine/size)), s...)
}

// State is what a detector carries from one line to the next that
// decides how it reads later lines: where it found the last date, and how
// it ranks its templates. Its caches are no part of it.
type State struct {
	order                 []slot
	searchHits            []int
	lastStart, lastEnd    int
	lastBefore, lastFirst rune
	lastLast, lastAfter   rune
	lastIndex             int
	firstUnused           int
}

// SaveState copies d's state into s, reusing s's memory.
func (d *Detector) SaveState(s *State) {
	*s = State{
		order:       append(s.order[:0], d.order...),
		searchHits:  append(s.searchHits[:0], d.searchHits...),
		lastStart:   d.lastStart,
		lastEnd:     d.lastEnd,
		lastBefore:  d.lastBefore,
		lastFirst:   d.lastFirst,
		lastLast:    d.lastLast,
		lastAfter:   d.lastAfter,
		lastIndex:   d.lastIndex,
		firstUnused: d.firstUnused,
	}
}

// RestoreState puts d in state s, which a detector with the same
// templates saved.
func (d *Detector) RestoreState(s *State) {
	d.order = append(d.order[:0], s.order...)
	d.searchHits = append(d.searchHits[:0], s.searchHits...)
	d.lastStart, d.lastEnd = s.lastStart, s.lastEnd
	d.lastBefore, d.lastFirst, d.lastLast, d.lastAfter = s.lastBefore, s.lastFirst, s.lastLast, s.lastAfter
	d.lastIndex, d.firstUnused = s.lastIndex, s.firstUnused
}

// Equivalent reports whether detectors in states s and o give the same
// answers for the same lines from now on. With a single template the
// statistics that rank templates play no part, so two detectors that
// found the last date at the same place are equivalent whatever they saw
// before.
func (s *State) Equivalent(o *State) bool {
	if s.lastStart != o.lastStart || s.lastEnd != o.lastEnd || s.lastIndex != o.lastIndex ||
		s.lastBefore != o.lastBefore || s.lastFirst != o.lastFirst || s.lastLast != o.lastLast || s.lastAfter != o.lastAfter {
		return false
	}
	if len(s.order) <= 1 && len(o.order) <= 1 {
		return len(s.order) == len(o.order)
	}
	return s.firstUnused == o.firstUnused && slices.Equal(s.order, o.order) && slices.Equal(s.searchHits, o.searchHits)
}

// None reports whether the detector was built for {NONE}: lines carry no
// date and get the current time.
func (d *Detector) None() bool { return d.none }

// NumTemplates returns how many templates the detector tries.
func (d *Detector) NumTemplates() int { return len(d.templates) }

// TemplateName returns template i's name as fail2ban-regex prints it,
// e.g. "{^LN-BEG}Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?".
func (d *Detector) TemplateName(i int) string { return d.templates[i].name }

// Ranking appends to dst the template indices in the order the detector
// now tries them, which is the order fail2ban-regex lists its "Date
// template hits" in.
func (d *Detector) Ranking(dst []int) []int {
	for _, s := range d.order {
		dst = append(dst, s.template)
	}
	return dst
}

// Find looks for a timestamp in line, which should be valid UTF-8 (fail2ban
// decodes lines with replacement characters), and reports whether a
// template matched, filling in m. now is the current time in the system's
// zone: it resolves missing years, months and days. Find allocates
// nothing; it fills in the caller's Match because a log is dated line by
// line, and copying a Match out costs a tenth of finding it.
func (d *Detector) Find(line []byte, now time.Time, m *Match) bool {
	i, ok := d.matchTime(line, now)
	if !ok {
		*m = Match{}
		return false
	}
	t := d.templates[d.order[i].template]
	caps := d.machine.caps
	m.Template, m.Start, m.End = d.order[i].template, 0, 0
	if s, e := caps[2], caps[3]; s >= 0 && e >= 0 {
		m.Start, m.End = s, e
	}
	if m.Start == m.End {
		m.Time = time.Time{}
		return true
	}
	if d.last.served(m.Template, d.capsFrom, now) {
		m.Time = d.last.time
		return true
	}
	d.fastScratch.complete(caps)
	if d.last.holds(m.Template, d.capsFrom, line, caps, t.prog.groups, now) {
		m.Time = d.last.time
		return true
	}
	var usesNow bool
	m.Time, usesNow = d.parse(t, line, caps, now)
	d.last.remember(m.Template, d.capsFrom, line, caps, t.prog.groups, now, usesNow, m.Time)
	return true
}

// parse converts a match of t into a time, the zero Time when the text is
// no valid date. usesNow reports whether the result depends on now.
func (d *Detector) parse(t *template, line []byte, caps []int, now time.Time) (_ time.Time, usesNow bool) {
	switch t.kind {
	case kindEpoch, kindLongEpoch:
		g := t.valueGroup
		if caps[2*g] < 0 {
			return time.Time{}, false
		}
		tm, _ := parseEpoch(line[caps[2*g]:caps[2*g+1]], t.kind == kindLongEpoch)
		return tm, false
	case kindTAI64N:
		// "@4000000042fe0d22..." gives the seconds as hex digits 2 to 16.
		var sec int64
		for _, c := range line[caps[2]+2 : caps[2]+17] {
			sec = sec<<4 | int64(hexValue(c))
		}
		return time.Unix(sec, 0), false
	}
	tm, _, usesNow := strptime(line, caps, t.captures, t.ampmGroup, now, d.logZone)
	return tm, usesNow
}

// lastParse remembers the last date converted. Consecutive lines of a log
// often carry the same date text, and converting it is the larger part of
// finding a date once the match is fast.
type lastParse struct {
	valid    bool
	template int
	// from holds the fast matcher's memories of matches that gave the
	// same text and groups, 0 for none: captures from the same memory are
	// the same. A line's date is found either where the last one was or by
	// searching the whole line, which the matcher remembers apart.
	from [2]uint64
	text []byte // the whole match
	// groups are the capture positions relative to the match's start, -1
	// for groups that took no part.
	groups  []int
	usesNow bool
	now     time.Time
	time    time.Time
}

// maxRemembered bounds the text lastParse keeps.
const maxRemembered = 128

// holds reports whether the match in caps converts to the remembered time:
// same template, same text and groups, and, if the conversion looked at
// the current time, the same current time.
func (p *lastParse) holds(template int, from uint64, line []byte, caps []int, groups int, now time.Time) bool {
	if !p.valid || p.template != template {
		return false
	}
	if p.served(template, from, now) {
		return true
	}
	if !bytes.Equal(p.text, line[caps[0]:caps[1]]) {
		return false
	}
	g := caps[2 : 2*(groups+1)]
	if len(g) != len(p.groups) {
		return false
	}
	for k, c := range g {
		if relative(c, caps[0]) != p.groups[k] {
			return false
		}
	}
	if !p.usesNow || now.Equal(p.now) && now.Location() == p.now.Location() {
		if from != 0 {
			p.from[1] = from
		}
		return true
	}
	return false
}

// served reports whether the match the fast matcher's memory from gave
// converts to the remembered time, without looking at its captures.
func (p *lastParse) served(template int, from uint64, now time.Time) bool {
	return p.valid && p.template == template && from != 0 && (from == p.from[0] || from == p.from[1]) &&
		(!p.usesNow || now.Equal(p.now) && now.Location() == p.now.Location())
}

func (p *lastParse) remember(template int, from uint64, line []byte, caps []int, groups int, now time.Time, usesNow bool, t time.Time) {
	p.valid = false
	start, end := caps[0], caps[1]
	if end-start > maxRemembered {
		return
	}
	p.groups = p.groups[:0]
	for k := 2; k < 2*(groups+1); k++ {
		if c := caps[k]; c >= 0 && (c < start || c > end) {
			return // a group in a lookaround, outside the text compared
		}
		p.groups = append(p.groups, relative(caps[k], start))
	}
	p.valid, p.template, p.from, p.usesNow, p.now, p.time = true, template, [2]uint64{from}, usesNow, now, t
	p.text = append(p.text[:0], line[start:end]...)
}

func relative(pos, start int) int {
	if pos < 0 {
		return -1
	}
	return pos - start
}

// parseEpoch converts what fail2ban's epoch templates match: seconds with
// an optional fraction, or, for LEPOCH, milliseconds or microseconds.
// Fractions are kept, unlike those of %f.
func parseEpoch(v []byte, long bool) (time.Time, bool) {
	var digits [32]int // the decimal digits, of any script
	n, dot := 0, -1
	for i := 0; i < len(v); {
		r, size := decodeRune(v, i)
		i += size
		if r == '.' {
			dot = n
			continue
		}
		val, ok := digitValue(r)
		if !ok || n == len(digits) {
			return time.Time{}, false
		}
		digits[n] = val
		n++
	}
	chars := utf8.RuneCount(v)
	intDigits := n
	if dot >= 0 {
		intDigits = dot
	}
	// Where the seconds end: fail2ban divides long values by 1000, or by
	// 1000000 when there are 16 or more digits and no dot.
	secDigits := intDigits
	if long && chars >= 13 {
		if chars >= 16 && dot < 0 {
			secDigits -= 6
		} else {
			secDigits -= 3
		}
	}
	var sec, nsec int64
	for _, v := range digits[:secDigits] {
		sec = sec*10 + int64(v)
	}
	scale := int64(time.Second)
	for _, v := range digits[secDigits:n] {
		scale /= 10
		nsec += int64(v) * scale
	}
	return time.Unix(sec, nsec), true
}

func hexValue(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// matchTime is fail2ban's DateDetector.matchTime. On success it returns the
// winner's position in d.order, with its captures in d.machine.caps.
func (d *Detector) matchTime(line []byte, now time.Time) (int, bool) {
	d.ascii, d.asciiEnds = 0, false
	if len(d.order) == 1 {
		return d.matchSingle(line, now)
	}
	d.asciiTo(line, len(line))
	ascii := d.ascii
	var (
		found      = -1 // position in order of the reserved match
		foundStart = none
		foundEnd   int
		foundFrom  uint64
		ignore     = none
		matched    bool
		start, end int // of the current match, in characters
		i          int
	)
	search := func(i int, pos, endpos int) bool {
		var ok bool
		start, end, ok = d.search(i, line, pos, endpos)
		return ok
	}
	reserve := func(i int) {
		found, foundStart, foundEnd, foundFrom = i, start, end, d.capsFrom
		d.reserveCaps = d.reserveCaps[:len(d.machine.caps)]
		copy(d.reserveCaps, d.machine.caps)
	}

	// First try the last template where it matched last time.
	if i = d.lastIndex; i < len(d.order) {
		t := d.templates[d.order[i].template]
		switch {
		case t.anchoredAt():
			matched = search(i, 0, len(line))
			ignore = i
		case d.sameSurroundings(line):
			matched = search(i, byteIndex(line, ascii, d.lastStart), byteIndex(line, ascii, d.lastEnd))
		default:
			matched = search(i, 0, len(line))
			ignore = i
		}
		if matched && !(t.anchoredAt() || start == d.lastStart && end == d.lastEnd) {
			// It matched elsewhere: keep it in reserve and search on.
			reserve(i)
			matched = false
		}
	}
	if !matched {
		for i = 0; i < len(d.order); i++ {
			if i == ignore {
				continue
			}
			if !search(i, 0, len(line)) {
				continue
			}
			matched = true
			s := &d.order[i]
			t := d.templates[s.template]
			if i+1 >= len(d.order) || t.anchoredAt() {
				break
			}
			// Stop if this template is in use but the next one never
			// matched.
			if start == 0 && s.hits > 0 && d.searchHits[d.order[i+1].template] == 0 {
				break
			}
			if start > s.distance || start > d.lastStart {
				// Maybe a date-like text in the message: keep the
				// nearest such match and search on.
				if start < foundStart {
					reserve(i)
				}
				matched = false
				continue
			}
			break
		}
		if !matched && found >= 0 {
			i, start, end, matched = found, foundStart, foundEnd, true
			d.capsFrom = foundFrom
			d.machine.caps = d.machine.caps[:len(d.reserveCaps)]
			copy(d.machine.caps, d.reserveCaps)
		}
	}
	if !matched {
		return 0, false
	}
	return d.record(i, line, start, end, now)
}

// matchSingle is matchTime for a detector with one template, which needs
// neither the reserve nor the ranking: the template is tried where it
// matched last if the characters around are the same, and then, or
// otherwise, on the whole line.
func (d *Detector) matchSingle(line []byte, now time.Time) (int, bool) {
	var (
		start, end int
		ok         bool
	)
	if d.lastIndex == 0 && !d.templates[d.order[0].template].anchoredAt() {
		d.asciiTo(line, d.lastEnd+1)
		if d.sameSurroundings(line) {
			start, end, ok = d.search(0, line, byteIndex(line, d.ascii, d.lastStart), byteIndex(line, d.ascii, d.lastEnd))
		}
	}
	if !ok {
		if start, end, ok = d.search(0, line, 0, len(line)); !ok {
			return 0, false
		}
	}
	return d.record(0, line, start, end, now)
}

// asciiTo extends d.ascii, the length of the start of the current line
// known to be ASCII, over line[:n] if it can, and reports whether line[:n]
// is ASCII. Finding a date seldom needs to look at a whole line.
func (d *Detector) asciiTo(line []byte, n int) bool {
	n = min(n, len(line))
	if d.ascii < n && !d.asciiEnds {
		d.ascii += asciiPrefix(line[d.ascii:n])
		d.asciiEnds = d.ascii < n
	}
	return d.ascii >= n
}

// search runs the template at position i of d.order over line[:endpos]
// from pos, as Python's pattern.search(line, pos, endpos). On success it
// returns the match's span in characters, and d.machine.caps holds its
// captures.
//
// The fast matcher is exact when what it read is ASCII: input from pos-1
// on, except that a match at s depends on nothing after s+reach, not even
// through the positions it skipped, as every match contains the byte it
// skips to. So a search of the whole line checks the line only as far as
// its answer needs.
func (d *Detector) search(i int, line []byte, pos, endpos int) (start, end int, ok bool) {
	t := d.templates[d.order[i].template]
	input := line[:min(endpos, len(line))]
	sure := false
	if fast := t.prog.fast; fast != nil && !d.noFast && (len(input) == len(line) || d.asciiTo(line, len(input))) {
		d.machine.reserve(t.prog.ncap)
		ok, sure = fast.search(d.machine.caps, &d.fastScratch, input, pos)
		d.capsFrom = d.fastScratch.served
		if len(d.order) > 1 {
			// matchTime keeps matches in reserve; Find completes a
			// single template's captures only if it needs them.
			d.fastScratch.complete(d.machine.caps)
		}
		need := len(input)
		if ok {
			need = min(need, d.machine.caps[0]+fast.reach)
		}
		sure = sure && d.asciiTo(line, need)
	}
	if !sure {
		ok = d.machine.search(t.prog, input, pos)
		d.capsFrom, d.fastScratch.pending = 0, 0
	}
	if !ok {
		return 0, 0, false
	}
	d.searchHits[d.order[i].template]++
	return charIndex(line, d.ascii, d.machine.caps[0]), charIndex(line, d.ascii, d.machine.caps[1]), true
}

// record is the end of matchTime: it updates the statistics and where the
// last date was found, and reorders the templates.
func (d *Detector) record(i int, line []byte, start, end int, now time.Time) (int, bool) {
	s := &d.order[i]
	s.hits++
	s.lastUsed = now.UnixNano()
	s.distance = start
	if d.firstUnused == i {
		d.firstUnused++
	}
	startByte, endByte := d.machine.caps[0], d.machine.caps[1]
	if startByte >= len(line) || endByte == 0 && len(line) == 0 {
		// Python raises IndexError here and the line is dropped.
		return 0, false
	}
	d.lastStart, d.lastEnd = start, end
	switch {
	case endByte > 0 && endByte < d.ascii:
		// The characters around the date are bytes.
		d.lastBefore = noRune
		if startByte > 0 {
			d.lastBefore = rune(line[startByte-1])
		}
		d.lastFirst, d.lastLast, d.lastAfter = rune(line[startByte]), rune(line[endByte-1]), rune(line[endByte])
	case endByte == 0:
		// line[endpos-1] with endpos 0 is Python's last character.
		d.lastBefore, d.lastFirst = runeBefore(line, startByte), runeAt(line, startByte)
		d.lastLast, _ = utf8.DecodeLastRune(line)
		d.lastAfter = runeAt(line, endByte)
	default:
		d.lastBefore, d.lastFirst = runeBefore(line, startByte), runeAt(line, startByte)
		d.lastLast, d.lastAfter = runeBefore(line, endByte), runeAt(line, endByte)
	}
	if i != 0 && i != d.lastIndex {
		i = d.reorder(i)
	}
	d.lastIndex = i
	return i, true
}

// sameSurroundings is fail2ban's check that the characters around the last
// date's position are as before, so that the last template may be tried at
// that position only.
func (d *Detector) sameSurroundings(line []byte) bool {
	ascii := d.ascii
	if s, e := d.lastStart, d.lastEnd; s <= e && e < ascii {
		// Characters are bytes there.
		before, last := noRune, noRune
		if s > 0 {
			before = rune(line[s-1])
		}
		if e > 0 {
			last = rune(line[e-1])
		}
		first, after := rune(line[s]), rune(line[e])
		left := before == d.lastBefore || first == d.lastFirst && !isAlnum(d.lastFirst)
		right := after == d.lastAfter || last == d.lastLast && !isAlnum(d.lastLast)
		return left && right
	}
	before := noRune
	if d.lastStart > 0 {
		before = charAt(line, ascii, d.lastStart-1)
	}
	first := charAt(line, ascii, d.lastStart)
	last := noRune
	if d.lastEnd > 0 {
		last = charAt(line, ascii, d.lastEnd-1)
	}
	after := charAt(line, ascii, d.lastEnd)
	left := before == d.lastBefore || first == d.lastFirst && !isAlnum(d.lastFirst)
	right := after == d.lastAfter || last == d.lastLast && !isAlnum(d.lastLast)
	return left && right
}

// reorder is fail2ban's _reorderTemplate: it moves the template at num up
// the list if its weight or recent use justify it, and returns its new
// position.
func (d *Detector) reorder(num int) int {
	s := d.order[num]
	untime := s.seconds() - unusedSeconds
	weight := s.weight(d.templates[s.template])
	pos := num / 2
	if d.firstUnused < num {
		pos = d.firstUnused
	}
	moveable := func() bool {
		p := &d.order[pos]
		return weight > p.weight(d.templates[p.template]) || untime > p.seconds()
	}
	if !moveable() {
		if pos == num-1 {
			return num
		}
		pos = num - 1
		if !moveable() {
			return num
		}
	}
	copy(d.order[pos+1:num+1], d.order[pos:num])
	d.order[pos] = s
	for d.firstUnused < len(d.order) && d.order[d.firstUnused].hits > 0 {
		d.firstUnused++
	}
	return pos
}

// charIndex converts a byte offset into line to Python's character index;
// ascii is the length of line's leading ASCII run.
func charIndex(line []byte, ascii, b int) int {
	if b <= ascii {
		return b
	}
	return ascii + utf8.RuneCount(line[ascii:b])
}

// byteIndex converts a character index to a byte offset, clamped to the
// line as Python clamps slice bounds.
func byteIndex(line []byte, ascii, chars int) int {
	if chars <= ascii {
		return chars
	}
	b := ascii
	for chars -= ascii; chars > 0 && b < len(line); chars-- {
		b += runeLen(line, b)
	}
	return b
}

// asciiPrefix returns the length of the leading run of ASCII bytes, which
// is also a run of characters.
func asciiPrefix(line []byte) int {
	b := line
	for len(b) >= 32 {
		w := binary.LittleEndian.Uint64(b[0:8]) | binary.LittleEndian.Uint64(b[8:16]) |
			binary.LittleEndian.Uint64(b[16:24]) | binary.LittleEndian.Uint64(b[24:32])
		if w&0x8080808080808080 != 0 {
			break
		}
		b = b[32:]
	}
	for len(b) >= 8 && binary.LittleEndian.Uint64(b[0:8])&0x8080808080808080 == 0 {
		b = b[8:]
	}
	i := len(line) - len(b)
	for i < len(line) && line[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// charAt is Python's line[i:i+1] for a character index i.
func charAt(line []byte, ascii, i int) rune {
	b := byteIndex(line, ascii, i)
	if b >= len(line) {
		return noRune
	}
	r, _ := decodeRune(line, b)
	return r
}

// runeAt is Python's line[i:i+1] at byte offset i.
func runeAt(line []byte, i int) rune {
	if i >= len(line) {
		return noRune
	}
	r, _ := decodeRune(line, i)
	return r
}

// runeBefore is Python's line[i-1:i] at byte offset i.
func runeBefore(line []byte, i int) rune {
	if i <= 0 {
		return noRune
	}
	r, _ := utf8.DecodeLastRune(line[:i])
	return r
}

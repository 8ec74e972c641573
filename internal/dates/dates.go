// Package dates finds and parses the timestamp in a log line the way
// fail2ban's date detector does, with hand-written matchers instead of
// regular expressions (none of fail2ban's templates compiles as RE2).
package dates

import "time"

// Match is a timestamp found in a line.
type Match struct {
	// Start and End delimit the date text (the template's group 1) in the
	// line; the filter cuts line[Start:End] out before matching regexes.
	Start, End int
	Time       time.Time
	// Template is the index of the template that matched, for statistics.
	Template int
}

// Detector finds timestamps. A Detector is not safe for concurrent use: it
// remembers the template that matched last and tries it first.
type Detector struct {
	// TODO(dates helper): implementation.
}

// New returns a detector for a datepattern value (with %% already turned
// into %). "" and "{DEFAULT}" select fail2ban's default templates,
// "{^LN-BEG}" the line-anchored ones, "{NONE}" no date at all; EPOCH,
// LEPOCH, TAI64N, strftime patterns (one per line) and {DATE} forms are
// supported. loc is the zone of dates that carry none (nil: time.Local).
func New(pattern string, loc *time.Location) (*Detector, error) {
	return &Detector{}, nil
}

// Find looks for a timestamp in line. now resolves missing year, month or
// day. It allocates nothing.
func (d *Detector) Find(line []byte, now time.Time) (Match, bool) {
	return Match{}, false
}

// None reports whether the detector was built for {NONE}.
func (d *Detector) None() bool { return false }

// NumTemplates returns how many templates the detector tries.
func (d *Detector) NumTemplates() int { return 0 }

// TemplateName returns template i's name as fail2ban-regex prints it,
// e.g. "{^LN-BEG}Day(?P<_sep>[-/])MON(?P=_sep)ExYear[ :]?24hour:Minute:Second(?:\.Microseconds)?(?: Zone offset)?".
func (d *Detector) TemplateName(i int) string { return "" }

// ParseZone parses a logtimezone value: "UTC", "UTC+0200", "UTC-05:00",
// or an abbreviation from fail2ban's table (CET, EST, ...).
func ParseZone(s string) (*time.Location, error) { return time.UTC, nil }

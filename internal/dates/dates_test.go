package dates

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestParseZone(t *testing.T) {
	for _, tc := range []struct {
		in      string
		minutes int
		err     bool
	}{
		{in: "UTC", minutes: 0},
		{in: "UTC+0200", minutes: 120},
		{in: "UTC-05:00", minutes: -300},
		{in: "CET", minutes: 60},
		{in: "+0100", minutes: 60},
		{in: "EST+01", minutes: -240},
		{in: "", minutes: 0},
		{in: "UTC+1400", minutes: 840},
		{in: "GMT-0130", minutes: -90},
		{in: "Z", minutes: 0},
		{in: "NPT", minutes: 345},
		{in: "UTC\n", minutes: 0},
		{in: "utc", err: true},
		{in: "Europe/Paris", err: true},
		{in: "ABC", err: true},
		{in: "UTC+2", err: true},
		{in: "UTC+200", err: true},
		{in: "UTC+02:0", err: true},
		{in: "AB", err: true},
		{in: "ABCDEF", err: true},
		{in: "UTC +0100", err: true},
	} {
		loc, err := ParseZone(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParseZone(%q) succeeded, want an error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseZone(%q): %v", tc.in, err)
			continue
		}
		if _, offset := time.Date(2005, 8, 14, 0, 0, 0, 0, loc).Zone(); offset != tc.minutes*60 {
			t.Errorf("ParseZone(%q) is %ds east of UTC, want %dm", tc.in, offset, tc.minutes)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, pattern := range []string{
		"%Y-%m-%d %q",          // unknown directive
		"%s",                   // not a directive in fail2ban 1.0.2
		"%Y %",                 // lone percent sign
		"%E",                   // incomplete Ex directive
		"%H:%M\n%H:%M",         // two templates of the same name
		"%H %H",                // the same group twice
		"%Y-(%m",               // bad regex
		"(?<=x+)%H",            // variable-width look-behind
		"(?P=nope)%H",          // unknown group
		"(?i)%H(?s)",           // global flags after the start
		"^[^\\[]*\\[({DATE}\n", // bad regex with {DATE}
		"x{EPOCH}(",            // bad regex with {EPOCH}
		"?!0",                  // becomes (?!0): no group 1
		"%Y[ab]{30000}",        // too large
	} {
		if _, err := New(pattern, nil); err == nil {
			t.Errorf("New(%q) succeeded, want an error", pattern)
		}
	}
}

func TestTemplates(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		n       int
		first   string
		none    bool
	}{
		{"", 31, "{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\\s*Zone offset)?", false},
		{"{DEFAULT}", 31, "{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\\s*Zone offset)?", false},
		{"{^LN-BEG}", 17, "{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\\s*Zone offset)?", false},
		{"{default}\n%H:%M", 1, "24hour:Minute", false},
		{"%H:%M:%S\n{^LN-BEG}", 18, "24hour:Minute:Second", false},
		{"{^LN-BEG}Epoch\n{^LN-BEG}", 17, "{^LN-BEG}Epoch", false},
		{"^<\\d+>\\d+\\s+{DATE}", 17, "^<\\d+>\\d+\\s+ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\\s*Zone offset)?", false},
		{"{NONE}", 1, "^", true},
		{" EPOCH \n\n", 1, "Epoch", false},
		{"lepoch", 1, "LongEpoch", false},
		{"^TAI64N", 1, "{^LN-BEG}TAI64N", false},
		{"%d/%b/%Y:%H:%M:%S %z", 1, "Day/MON/Year:24hour:Minute:Second Zone offset", false},
		{"{^LN-BEG}%b %d %H:%M:%S", 1, "{^LN-BEG}MON Day 24hour:Minute:Second", false},
		{`\[%H:%M %%\]`, 1, `\[24hour:Minute %\]`, false},
	} {
		d, err := New(tc.pattern, nil)
		if err != nil {
			t.Errorf("New(%q): %v", tc.pattern, err)
			continue
		}
		if d.NumTemplates() != tc.n || d.TemplateName(0) != tc.first || d.None() != tc.none {
			t.Errorf("New(%q): %d templates, first %q, None %v; want %d, %q, %v",
				tc.pattern, d.NumTemplates(), d.TemplateName(0), d.None(), tc.n, tc.first, tc.none)
		}
	}
}

// TestRanking checks that a template that keeps matching moves up the
// list, as fail2ban-regex shows in its "Date template hits".
func TestRanking(t *testing.T) {
	d, err := New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Ranking(nil); r[0] != 0 || r[30] != 30 {
		t.Fatalf("initial ranking %v", r)
	}
	now := time.Unix(fail2banNow, 0)
	line := []byte("x [Jan 23 21:59:59] y")
	var m Match
	for range 3 {
		var ok bool
		if m, ok = find(d, line, now); !ok {
			t.Fatal("no date")
		}
	}
	if got := d.Ranking(nil)[0]; got != m.Template {
		t.Errorf("first template is %q, want %q", d.TemplateName(got), d.TemplateName(m.Template))
	}
}

func TestFindAllocatesNothing(t *testing.T) {
	now := time.Unix(fail2banNow, 0)
	for _, f := range testdataFiles(t) {
		d, err := New(f.pattern, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(data, []byte("\n"))
		if allocs := testing.AllocsPerRun(10, func() {
			for _, line := range lines {
				find(d, line, now)
			}
		}); allocs != 0 {
			t.Errorf("%s: %v allocations per pass", f.path, allocs)
		}
	}
}

func TestLogZone(t *testing.T) {
	utc2, err := ParseZone("UTC+0200")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(fail2banNow, 0).In(posixLocation(t, fail2banTZ))
	for _, tc := range []struct {
		zone *time.Location
		line string
		want string
	}{
		{nil, "2005-08-14 11:00:00 local CEST", "2005-08-14T09:00:00Z"},
		{nil, "2005-01-14 11:00:00 local CET", "2005-01-14T10:00:00Z"},
		{utc2, "2005-01-14 11:00:00 logtimezone", "2005-01-14T09:00:00Z"},
		{utc2, "2005-01-14 11:00:00 +0000 explicit zone wins", "2005-01-14T11:00:00Z"},
		{time.UTC, "Aug 14 11:00:00 no year", "2005-08-14T11:00:00Z"},
	} {
		d, err := New("", tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := find(d, []byte(tc.line), now)
		if !ok || m.Time.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("%q: got %v %v, want %s", tc.line, m.Time.UTC(), ok, tc.want)
		}
	}
}

// find is Find returning the match, as tests compare matches.
func find(d *Detector, line []byte, now time.Time) (Match, bool) {
	var m Match
	ok := d.Find(line, now, &m)
	return m, ok
}

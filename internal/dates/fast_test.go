package dates

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// fastPatterns are datepatterns whose templates the fast matcher should
// run, next to differentialPatterns, whose templates mostly need the
// general machine.
var fastPatterns = []string{
	"%d/%b/%Y:%H:%M:%S %z",
	"%Y-%m-%d %H:%M:%S",
	"%Y-%m-%dT%H:%M:%S%z",
	"%b %d %H:%M:%S",
	"%a %b %d %H:%M:%S %Y",
	"%d.%m.%Y %H:%M:%S",
	"%m/%d/%y %I:%M:%S %p",
	"%Y%m%d%H%M%S",
	"%d-%b-%Y %H:%M:%S",
	"%H:%M:%S",
	"^%Y-%m-%d %H:%M:%S",
	"%ExY-%Exm-%Exd %ExH:%ExM:%ExS",
	"%b %d %k:%M:%S",
	"%d/%b/%Y %H:%M:%S %Z",
	"%j/%y %H:%M",
}

// fastTemplates returns the templates of patterns that have a fast program.
func fastTemplates(t testing.TB, patterns []string) []*template {
	t.Helper()
	var out []*template
	for _, p := range patterns {
		d, err := newDetector(p, nil, goldenYear)
		if err != nil {
			t.Fatalf("datepattern %q: %v", p, err)
		}
		for _, tp := range d.templates {
			if tp.prog.fast != nil {
				out = append(out, tp)
			}
		}
	}
	return out
}

func TestFastProgramsExist(t *testing.T) {
	for _, p := range fastPatterns {
		if len(fastTemplates(t, []string{p})) == 0 {
			t.Errorf("datepattern %q: no fast program", p)
		}
	}
}

// dateFragments are pieces random lines are made of: dates in the formats
// of fastPatterns, whole and damaged, and what surrounds them in logs.
var dateFragments = []string{
	"14/May/2024:09:20:02 +0000", "1/Jan/2024:00:00:00 -0530", " 4/feb/2024:23:59:60 Z",
	"31/DEC/1999:24:00:00 +01", "29/Feb/2024:1:2:3 UTC", "14/Mai/2024", "14/May/20245",
	"2024-05-14 09:20:02", "2024-5-4 9:2:3", "2024-05-14T09:20:02+0200", "2024-05-14T09:20:02-07:00",
	"May 14 09:20:02", "May  4 9:20:02", "Tue May 14 09:20:02 2024", "tue may 14 9:20:02 2024",
	"14.05.2024 09:20:02", "05/14/24 09:20:02 PM", "5/4/24 12:00:00 am", "20240514092002",
	"14-May-2024 09:20:02", "09:20:02", "9:20", "136/24 09:20", "366/24 23:59",
	"0", "00", "1", "12", "31", "32", "99", "2024", "+0000", "-1200", "+01:00", "GMT", "CEST", "PM",
	"/", ":", "-", ".", " ", "  ", "T", "[", "]", "\"", "@", "_", "x", "a1", "\n",
	"198.51.100.23 - - [", "]  \"POST /api/client/v2/conferences/meet/request_token HTTP/1.1\" 403 46",
	"2001:db8::1", "id=20240514", "Jan", "sep", "Sept",
	// Not ASCII: the detector leaves such lines to the machine.
	"é", "١٤/May/2024:09:20:02 +0000", "14/ſep/2024:09:20:02 +0000", "14/May/٢٠٢٤:09:20:02 +0000", "\xff",
	"14/May/2024:09:20:02 +01:3٠", // the machine takes the minutes, the fast matcher cannot
	"2024-05-14T09:20:02+01:3٠", "May 14 09:20:0٢",
}

// randomLine builds a line of random fragments.
func randomLine(r *rand.Rand) []byte {
	var b strings.Builder
	for range 1 + r.IntN(8) {
		if r.IntN(4) == 0 {
			// A random printable character, or a random digit.
			if r.IntN(2) == 0 {
				b.WriteByte(byte(' ' + r.IntN(95)))
			} else {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
			continue
		}
		b.WriteString(dateFragments[r.IntN(len(dateFragments))])
	}
	return []byte(b.String())
}

// checkFastSearch compares the fast matcher with the machine on one
// search.
func checkFastSearch(t *testing.T, tp *template, sc *fastScratch, line []byte, pos, end int) {
	t.Helper()
	if asciiPrefix(line) != len(line) {
		return
	}
	input := line[:end]
	var m machine
	m.reserve(tp.prog.ncap)
	want := m.search(tp.prog, input, pos)
	got := make([]int, tp.prog.ncap)
	ok, sure := tp.prog.fast.search(got, sc, input, pos)
	if !sure {
		return // the detector asks the machine
	}
	if ok {
		sc.complete(got)
	}
	if ok != want || want && !slices.Equal(got, m.caps) {
		t.Fatalf("template %s\nsearch(%q, %d): fast %v %v, machine %v %v", tp.regex, input, pos, ok, got, want, m.caps)
	}
}

// TestFastMatchesMachine requires the fast matcher to find what the
// backtracking machine finds, with the same groups, on the test lines and
// on random lines, from every start position and with shortened input.
func TestFastMatchesMachine(t *testing.T) {
	templates := fastTemplates(t, append(slices.Clone(fastPatterns), differentialPatterns...))
	lines := testLines(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		lines = append(lines, randomLine(r))
	}
	for _, tp := range templates {
		var sc fastScratch
		for _, line := range lines {
			checkFastSearch(t, tp, &sc, line, 0, len(line))
			pos, end := r.IntN(len(line)+1), r.IntN(len(line)+1)
			checkFastSearch(t, tp, &sc, line, min(pos, end), max(pos, end))
		}
	}
}

// TestFastLongLines compares the two on long repetitive lines, where the
// search jumps over many near misses.
func TestFastLongLines(t *testing.T) {
	templates := fastTemplates(t, fastPatterns)
	for _, unit := range []string{"14/May/2024:09:20:0", "1/1/1/", "2024-05-14 ", "May 14 09:20:02 ", "9:20:02 +0000 "} {
		line := []byte(strings.Repeat(unit, 2000) + "14/May/2024:09:20:02 +0000 2024-05-14 09:20:02")
		for _, tp := range templates {
			var sc fastScratch
			checkFastSearch(t, tp, &sc, line, 0, len(line))
			checkFastSearch(t, tp, &sc, line, 7, len(line)-3)
		}
	}
}

// detectorPair is a detector with the fast matcher and one without.
type detectorPair struct {
	pattern       string
	fast, general *Detector
}

func detectorPairs(t testing.TB, patterns []string) []detectorPair {
	t.Helper()
	var out []detectorPair
	for _, p := range patterns {
		fast, err := newDetector(p, nil, goldenYear)
		if err != nil {
			t.Fatal(err)
		}
		general, _ := newDetector(p, nil, goldenYear)
		general.noFast = true
		out = append(out, detectorPair{p, fast, general})
	}
	return out
}

// compareDetectors runs clones of each pair over lines, which must give
// the same matches.
func compareDetectors(t *testing.T, pairs []detectorPair, lines [][]byte) {
	t.Helper()
	nows := []time.Time{time.Unix(fail2banNow, 0), time.Unix(fail2banNow+3600, 0).In(time.FixedZone("X", 7200))}
	for _, pair := range pairs {
		fast, general := pair.fast.Clone(), pair.general.Clone()
		for i, line := range lines {
			now := nows[i/100%len(nows)]
			gm, gok := find(general, line, now)
			fm, fok := find(fast, line, now)
			if gok != fok || gm != fm || !gm.Time.Equal(fm.Time) {
				t.Fatalf("datepattern %q, line %d %q: fast %v %+v, general %v %+v", pair.pattern, i, line, fok, fm, gok, gm)
			}
		}
	}
}

// TestDetectorFastPath runs detectors with and without the fast matcher
// over the same lines, which must give the same matches: the fast matcher,
// its memory of the last match, the memory of the last time parsed and
// checking only as much of a line for ASCII as a match needs must change
// nothing, whatever the order of lines.
func TestDetectorFastPath(t *testing.T) {
	lines := testLines(t)
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		lines = append(lines, randomLine(r))
	}
	// Runs of equal dates at moving positions, as in access logs.
	for i := range 2000 {
		addr := []string{"192.0.2.1", "2001:db8::17", "10.0.0.100", "1"}[r.IntN(4)]
		lines = append(lines, fmt.Appendf(nil, "%s - - [14/May/2024:09:%02d:%02d +0000] \"GET / HTTP/1.1\" 200 1", addr, i/600, i/10%60))
	}
	compareDetectors(t, detectorPairs(t, append(slices.Clone(fastPatterns), differentialPatterns...)), lines)
}

// FuzzDetectorFastPath compares detectors with and without the fast
// matcher over the lines of the input.
func FuzzDetectorFastPath(f *testing.F) {
	f.Add([]byte("1.2.3.4 [14/May/2024:09:20:02 +0000] é\n12.3.4.5 [14/May/2024:09:20:02 +0000] x"))
	f.Add([]byte("١٤/May/2024:09:20:02 +0000 [14/May/2024:09:20:03 +0000]\n2024-05-14 09:20:02 ſ"))
	for _, line := range testLines(f) {
		f.Add(line)
	}
	pairs := detectorPairs(f, append(slices.Clone(fastPatterns), "", "{^LN-BEG}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		compareDetectors(t, pairs, bytes.Split(data, []byte("\n")))
	})
}

func FuzzFastSearch(f *testing.F) {
	for _, line := range testLines(f) {
		f.Add(line, uint16(0), uint16(len(line)))
	}
	f.Add([]byte("[14/May/2024:09:20:02 +0000]"), uint16(1), uint16(27))
	templates := fastTemplates(f, append(slices.Clone(fastPatterns), differentialPatterns...))
	f.Fuzz(func(t *testing.T, line []byte, pos, end uint16) {
		e := min(int(end), len(line))
		p := min(int(pos), e)
		for _, tp := range templates {
			var sc fastScratch
			checkFastSearch(t, tp, &sc, line, p, e)
			checkFastSearch(t, tp, &sc, line, p, e) // from the memory of the last match
		}
	})
}

// TestFastGivesUp checks that a search needing too many attempts is left
// to the machine, and that the detector then gives the machine's answer.
func TestFastGivesUp(t *testing.T) {
	pattern := strings.Repeat(`(?:\d|\d\d)`, 12) + "y"
	tps := fastTemplates(t, []string{pattern})
	if len(tps) != 1 {
		t.Fatalf("no fast program for %q", pattern)
	}
	line := []byte(" " + strings.Repeat("1", 24) + "y")
	var sc fastScratch
	caps := make([]int, tps[0].prog.ncap)
	if _, sure := tps[0].prog.fast.search(caps, &sc, line, 0); sure {
		t.Fatal("the search did not give up")
	}
	fast, err := newDetector(pattern, nil, goldenYear)
	if err != nil {
		t.Fatal(err)
	}
	general, _ := newDetector(pattern, nil, goldenYear)
	general.noFast = true
	now := time.Unix(fail2banNow, 0)
	fm, fok := find(fast, line, now)
	gm, gok := find(general, line, now)
	if fok != gok || fm != gm {
		t.Errorf("fast detector %v %+v, general %v %+v", fok, fm, gok, gm)
	}
}

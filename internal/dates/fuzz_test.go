package dates

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func checkMatch(t *testing.T, d *Detector, line []byte, m Match, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	if m.Start < 0 || m.Start > m.End || m.End > len(line) {
		t.Fatalf("%q: span %d-%d out of the line", line, m.Start, m.End)
	}
	if m.Template < 0 || m.Template >= d.NumTemplates() {
		t.Fatalf("%q: template %d of %d", line, m.Template, d.NumTemplates())
	}
	if m.Start == m.End && !m.Time.IsZero() {
		t.Fatalf("%q: a time from empty date text", line)
	}
}

// testLines returns the lines of the testdata files, as fuzzing seeds.
func testLines(f testing.TB) [][]byte {
	var lines [][]byte
	for _, file := range testdataFiles(f) {
		data, err := os.ReadFile(file.path)
		if err != nil {
			f.Fatal(err)
		}
		lines = append(lines, bytes.Split(data, []byte("\n"))...)
	}
	return lines
}

func FuzzFind(f *testing.F) {
	lines := testLines(f)
	for _, line := range lines {
		f.Add(line)
	}
	var detectors []*Detector
	patterns := append([]string(nil), differentialPatterns...)
	for _, file := range testdataFiles(f) {
		if file.pattern != "" {
			patterns = append(patterns, file.pattern)
		}
	}
	for _, p := range patterns {
		d, err := New(p, nil)
		if err != nil {
			f.Fatalf("New(%q): %v", p, err)
		}
		detectors = append(detectors, d)
	}
	now := time.Unix(fail2banNow, 0)
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, d := range detectors {
			m, ok := find(d, line, now)
			checkMatch(t, d, line, m, ok)
		}
	})
}

func FuzzNew(f *testing.F) {
	for _, p := range differentialPatterns {
		f.Add(p)
	}
	for _, file := range testdataFiles(f) {
		f.Add(file.pattern)
	}
	for _, c := range regexCases {
		f.Add(c.pattern)
	}
	// Every seventh test line is plenty, and keeps slow patterns quick.
	var lines [][]byte
	for i, line := range testLines(f) {
		if i%7 == 0 {
			lines = append(lines, line)
		}
	}
	now := time.Unix(fail2banNow, 0)
	f.Fuzz(func(t *testing.T, pattern string) {
		d, err := New(pattern, nil)
		if err != nil {
			return
		}
		// The same detector without the fast matcher must agree.
		general := d.Clone()
		general.noFast = true
		for _, line := range append(lines, []byte(pattern)) {
			m, ok := find(d, line, now)
			checkMatch(t, d, line, m, ok)
			gm, gok := find(general, line, now)
			if ok != gok || m != gm {
				t.Fatalf("datepattern %q, line %q: fast %v %+v, general %v %+v", pattern, line, ok, m, gok, gm)
			}
		}
	})
}

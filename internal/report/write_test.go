package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestWriteGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		opts   Options
		events events
	}{
		{"scenario", "scenario.html", Options{Now: fixedNow}, scenario()},
		{"no events", "empty.html", Options{Now: fixedNow, Title: "Nothing to see"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := record(tt.opts, tt.events).Write(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := buf.Bytes(); !bytes.Equal(got, want) {
				gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
				i := 0
				for i < min(len(gl), len(wl)) && bytes.Equal(gl[i], wl[i]) {
					i++
				}
				line := func(ls [][]byte) []byte {
					if i < len(ls) {
						return ls[i]
					}
					return []byte("(end of file)")
				}
				t.Errorf("report differs from %s (go test -update to rewrite it) at line %d:\n got %s\nwant %s",
					path, i+1, line(gl), line(wl))
			}
		})
	}
}

// TestWriteSelfContained checks the page loads nothing and runs nothing:
// it must work offline and from a mail attachment, and text from the logs
// (here a room alias that is markup) must come out as text.
func TestWriteSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := record(Options{Now: fixedNow}, scenario()).Write(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, re := range []string{
		`(?i)<script`, `(?i)<link`, `(?i)<img`, `(?i)<iframe`, `(?i)\bsrc=`,
		`(?i)url\(`, `(?i)@import`, `(?i)href="(?:https?:)?//`,
	} {
		if loc := regexp.MustCompile(re).FindStringIndex(page); loc != nil {
			t.Errorf("page matches %s: %q", re, page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
		}
	}
	if !strings.Contains(page, `&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`) {
		t.Error("the markup alias is not shown escaped")
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	full := errors.New("disk full")
	err := record(Options{}, scenario()).Write(failingWriter{full})
	if !errors.Is(err, full) {
		t.Errorf("Write to a failing writer: %v, want %v", err, full)
	}
}

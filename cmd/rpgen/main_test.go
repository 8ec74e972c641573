package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rp.log")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-n", "500", "-seed", "2", "-o", file, "-start", "2024-05-14T11:00:00+02:00"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(log, []byte("\n")); n != 500 {
		t.Errorf("%d lines, want 500", n)
	}
	if !bytes.HasPrefix(log[bytes.IndexByte(log, '['):], []byte("[14/May/2024:11:00:00 +0200]")) {
		t.Errorf("first line %q does not start at -start in its offset", log[:bytes.IndexByte(log, '\n')])
	}
	if stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), "rpgen: 500 lines: ") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}

	// "-o -" writes the same bytes to standard output.
	stdout.Reset()
	if err := run([]string{"-n", "500", "-seed", "2", "-start", "2024-05-14T11:00:00+02:00", "-o", "-"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), log) {
		t.Error("-o - wrote other bytes than -o FILE")
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-start", "yesterday"},
		{"-until", "tomorrow"},
		{"-start", "2024-05-14T09:00:00Z", "-until", "2024-05-14T08:00:00Z"},
		{"-n", "0"},
		{"-n", "-1"},
		{"-rate", "-5"},
		{"-o", filepath.Join(t.TempDir(), "missing", "rp.log")},
		{"extra"},
		{"-bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(append([]string{"-n", "10"}, args...), &stdout, &stderr); err == nil {
			t.Errorf("rpgen %s: no error", strings.Join(args, " "))
		}
	}
}

func TestRunUntilLegitimate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-n", "0", "-legitimate", "-rate", "20", "-start", "2024-05-14T09:00:00Z", "-until", "2024-05-14T09:10:00Z"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(stdout.Bytes(), []byte("\n"))
	if lines < 10_000 || lines > 14_000 {
		t.Errorf("%d lines in 10 minutes at 20 lines/s", lines)
	}
	last := stdout.Bytes()[bytes.LastIndexByte(stdout.Bytes()[:stdout.Len()-1], '\n')+1:]
	if !bytes.Contains(last, []byte("[14/May/2024:09:09:")) {
		t.Errorf("last line %q is not in the tenth minute", last)
	}
	if !strings.Contains(stderr.String(), " 0 unknown aliases") {
		t.Errorf("stderr %q: want no alias scanning", stderr.String())
	}
}

package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/source"
)

// backends are the two ways a Follower notices changes; every scenario
// runs with both.
var backends = []string{"auto", "polling"}

// sink collects delivered lines.
type sink struct {
	mu    sync.Mutex
	lines []source.Line // with Text copied
}

func (s *sink) handle(batch []source.Line) {
	if len(batch) == 0 {
		panic("empty batch")
	}
	s.mu.Lock()
	for _, l := range batch {
		l.Text = bytes.Clone(l.Text)
		s.lines = append(s.lines, l)
	}
	s.mu.Unlock()
}

func (s *sink) snapshot() []source.Line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]source.Line(nil), s.lines...)
}

func (s *sink) texts() []string {
	var out []string
	for _, l := range s.snapshot() {
		out = append(out, string(l.Text))
	}
	return out
}

// wait returns the lines once there are at least n, failing t after a
// while.
func (s *sink) wait(t *testing.T, n int) []source.Line {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.snapshot()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines, want %d; last: %q", len(got), n, lastTexts(got, 5))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits long enough for any stray line to arrive, then checks the
// exact count.
func (s *sink) settle(t *testing.T, want int) []source.Line {
	t.Helper()
	s.wait(t, want)
	time.Sleep(300 * time.Millisecond)
	got := s.snapshot()
	if len(got) != want {
		t.Fatalf("got %d lines, want exactly %d; last: %q", len(got), want, lastTexts(got, 5))
	}
	return got
}

func lastTexts(lines []source.Line, n int) []string {
	var out []string
	for _, l := range lines[max(0, len(lines)-n):] {
		out = append(out, string(l.Text))
	}
	return out
}

// follow runs a Follower until the test ends, or until the returned stop
// function is called.
func follow(t *testing.T, paths []Path, opts Options) (*Follower, *sink, func()) {
	t.Helper()
	if opts.RotateGrace == 0 {
		// Long enough for a writer stalled by a loaded CI machine.
		opts.RotateGrace = 2 * time.Second
	}
	if opts.Backend == "polling" && opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	fl, err := New(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fl.Run(ctx, s.handle) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return fl, s, stop
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %06d\n", prefix, i)
	}
	return b.String()
}

func wantTexts(t *testing.T, got []string, want string) {
	t.Helper()
	w := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Fatalf("lines differ:\n got %d: %q\nwant %d: %q", len(got), headTail(got), len(w), headTail(w))
	}
}

func headTail(s []string) []string {
	if len(s) <= 6 {
		return s
	}
	return append(append(s[:3:3], "..."), s[len(s)-3:]...)
}

func TestAppendAndPartialLines(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, "one\ntwo\r\nthr")
			fl, s, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: backend})
			got := s.wait(t, 2)
			if got[0].Offset != 4 || got[1].Offset != 9 || got[0].Path != path {
				t.Fatalf("lines %+v", got)
			}
			if pos := fl.Positions(); len(pos) != 1 || pos[0].Offset != 9 {
				t.Fatalf("position %+v, want offset 9 (the partial line is not delivered)", pos)
			}
			appendFile(t, path, "ee\nfour\n")
			s.settle(t, 4)
			wantTexts(t, s.texts(), "one\ntwo\nthree\nfour\n")
			if fl.LinesRead() != 4 {
				t.Errorf("LinesRead = %d", fl.LinesRead())
			}
		})
	}
}

// TestPositionBeforeBatch checks the pairing the daemon's saved state
// relies on: inside the callback, the position is already past the batch,
// so counts saved after handling it resume with the next line.
func TestPositionBeforeBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, numbered("first", 0, 1000))
	fl, err := New([]Path{{Pattern: path}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lines int
	// Each batch reports an error, or nil when it ends the first or the
	// second block.
	reports := make(chan error, 2)
	go fl.Run(ctx, func(batch []source.Line) {
		lines += len(batch)
		end := batch[len(batch)-1].Offset
		var err error
		if pos := fl.Positions(); len(pos) != 1 || pos[0].Offset != end {
			err = fmt.Errorf("position %+v in the callback, want the batch's end %d", pos, end)
		} else if lines != 1000 && lines != 2000 {
			return
		}
		select {
		case reports <- err:
		default: // the test has failed already
		}
	})
	for block := range 2 {
		select {
		case err := <-reports:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("block %d not read", block+1)
		}
		if block == 0 {
			appendFile(t, path, numbered("second", 0, 1000))
		}
	}
}

func TestHostileBytesPassThrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	text := "a\x00b\xff\xfe c\n\x00\n\xc3\x28 x\n"
	appendFile(t, path, text)
	_, s, _ := follow(t, []Path{{Pattern: path}}, Options{})
	s.settle(t, 3)
	wantTexts(t, s.texts(), text)
}

func TestLateFileCreation(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sub", "access.log")
			_, s, _ := follow(t, []Path{{Pattern: path, Tail: true}}, Options{Backend: backend, PollInterval: 50 * time.Millisecond})
			time.Sleep(100 * time.Millisecond)
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			// Files appearing after startup are read from their start,
			// even in tail mode.
			appendFile(t, path, numbered("late", 0, 10))
			s.settle(t, 10)
			wantTexts(t, s.texts(), numbered("late", 0, 10))
		})
	}
}

func TestGlobPickup(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.access.log"), filepath.Join(dir, "b.access.log")
			appendFile(t, a, "a1\n")
			appendFile(t, filepath.Join(dir, "error.log"), "not followed\n")
			_, s, _ := follow(t, []Path{{Pattern: filepath.Join(dir, "*.access.log")}}, Options{Backend: backend})
			s.wait(t, 1)
			appendFile(t, b, "b1\nb2\n")
			appendFile(t, a, "a2\n")
			got := s.settle(t, 4)
			byPath := map[string][]string{}
			for _, l := range got {
				byPath[l.Path] = append(byPath[l.Path], string(l.Text))
			}
			if fmt.Sprint(byPath[a]) != "[a1 a2]" || fmt.Sprint(byPath[b]) != "[b1 b2]" {
				t.Fatalf("lines by path: %q", byPath)
			}
		})
	}
}

func TestTailMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, numbered("old", 0, 100)+"half")
	_, s, _ := follow(t, []Path{{Pattern: path, Tail: true}}, Options{})
	time.Sleep(100 * time.Millisecond)
	appendFile(t, path, " done\nnew\n")
	s.settle(t, 2)
	wantTexts(t, s.texts(), "half done\nnew\n")
}

// TestRenameCreate rotates like logrotate does on the Pexip reverse proxy:
// rename, create, and only later (after SIGUSR1) nginx reopens, writing to
// the renamed file meanwhile.
func TestRenameCreate(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "api.access.log")
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			fl, s, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: backend})
			w.WriteString(numbered("before", 0, 100))
			s.wait(t, 100)

			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, "")
			for i := range 10 { // nginx has not reopened yet
				w.WriteString(numbered("late", i*20, i*20+20))
				time.Sleep(20 * time.Millisecond)
			}
			s.wait(t, 300)
			old, err := os.Stat(path + ".1")
			if err != nil {
				t.Fatal(err)
			}
			// While the renamed file is drained, the saved position is
			// in it, so that a restart would read its rest.
			if pos := fl.Positions(); pos[0].Inode != idOf(old).ino || pos[0].Offset != old.Size() {
				t.Errorf("position while draining %+v, want inode %d offset %d", pos[0], idOf(old).ino, old.Size())
			}
			w.Close()
			appendFile(t, path, numbered("after", 0, 100))

			got := s.settle(t, 400)
			var rotated, cur []string
			for _, l := range got {
				if strings.HasPrefix(string(l.Text), "after") {
					cur = append(cur, string(l.Text))
				} else {
					rotated = append(rotated, string(l.Text))
				}
			}
			wantTexts(t, rotated, numbered("before", 0, 100)+numbered("late", 0, 200))
			wantTexts(t, cur, numbered("after", 0, 100))

			cur1, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for fl.Positions()[0].Inode != idOf(cur1).ino {
				if time.Now().After(deadline) {
					t.Fatalf("position still %+v after the grace period", fl.Positions())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if pos := fl.Positions(); len(pos) != 1 || pos[0].Offset != cur1.Size() {
				t.Errorf("position after draining %+v, want offset %d", pos, cur1.Size())
			}
		})
	}
}

func TestCopyTruncate(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			fl, s, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: backend})
			w.WriteString(numbered("first", 0, 50))
			s.wait(t, 50)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			w.WriteString(numbered("second", 0, 10))
			s.settle(t, 60)
			wantTexts(t, s.texts(), numbered("first", 0, 50)+numbered("second", 0, 10))
			if fl.Rotations() != 1 {
				t.Errorf("Rotations = %d, want 1", fl.Rotations())
			}
			if pos := fl.Positions(); pos[0].Offset != int64(len(numbered("second", 0, 10))) {
				t.Errorf("position %+v after truncation", pos)
			}
		})
	}
}

// TestRewrittenBetweenLooks truncates a file and writes more than it held
// before the follower looks again: only the changed first line tells.
func TestRewrittenBetweenLooks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, numbered("first", 0, 5))
	_, s, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: "polling", PollInterval: 500 * time.Millisecond})
	s.wait(t, 5)
	if err := os.WriteFile(path, []byte(numbered("second", 0, 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	s.settle(t, 25)
	wantTexts(t, s.texts(), numbered("first", 0, 5)+numbered("second", 0, 20))
}

func TestResume(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, numbered("a", 0, 30)+"part")
			fl, s, stop := follow(t, []Path{{Pattern: path}}, Options{Backend: backend})
			s.wait(t, 30)
			stop()
			saved := fl.Positions()
			if len(saved) != 1 || saved[0].Offset != int64(len(numbered("a", 0, 30))) || saved[0].FirstLineHash == "" || saved[0].Inode == 0 {
				t.Fatalf("saved %+v", saved)
			}

			appendFile(t, path, "ial\n"+numbered("b", 0, 5))
			start := map[string]Position{path: saved[0]}
			_, s2, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: backend, Start: start})
			s2.settle(t, 6)
			wantTexts(t, s2.texts(), "partial\n"+numbered("b", 0, 5))
		})
	}
}

func TestResumeShorterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, numbered("a", 0, 3))
	fl, s, stop := follow(t, []Path{{Pattern: path}}, Options{})
	s.wait(t, 3)
	stop()
	saved := fl.Positions()[0]
	// Rewritten while stopped, with the same first line but shorter.
	if err := os.WriteFile(path, []byte(numbered("a", 0, 1)+"b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, s2, _ := follow(t, []Path{{Pattern: path}}, Options{Start: map[string]Position{path: saved}})
	s2.settle(t, 2)
	wantTexts(t, s2.texts(), numbered("a", 0, 1)+"b\n")
}

func TestResumeAfterRotationWhileStopped(t *testing.T) {
	for _, rotated := range []string{"kept", "compressed"} {
		t.Run(rotated, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, numbered("a", 0, 10))
			fl, s, stop := follow(t, []Path{{Pattern: path}}, Options{})
			s.wait(t, 10)
			stop()
			saved := fl.Positions()

			// While stopped: more lines, then a rotation.
			appendFile(t, path, numbered("unread", 0, 5))
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if rotated == "compressed" {
				os.Remove(path + ".1")
			}
			appendFile(t, path, numbered("new", 0, 3))

			_, s2, _ := follow(t, []Path{{Pattern: path}}, Options{Start: map[string]Position{path: saved[0]}})
			want := numbered("new", 0, 3)
			if rotated == "kept" {
				want = numbered("unread", 0, 5) + want
			}
			s2.settle(t, strings.Count(want, "\n"))
			wantTexts(t, s2.texts(), want)
		})
	}
}

func TestMaxLineBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	long := strings.Repeat("x", 300<<10)
	appendFile(t, path, "short\n"+long[:100<<10])
	fl, s, _ := follow(t, []Path{{Pattern: path}}, Options{MaxLineBytes: 1000})
	s.wait(t, 1)
	appendFile(t, path, long[100<<10:]+"\nnext\n")
	got := s.settle(t, 3)
	if string(got[1].Text) != long[:1000] {
		t.Errorf("long line delivered as %d bytes", len(got[1].Text))
	}
	if want := int64(6 + len(long) + 1); got[1].Offset != want {
		t.Errorf("long line offset %d, want %d", got[1].Offset, want)
	}
	if string(got[2].Text) != "next" || fl.LinesTruncated() != 1 {
		t.Errorf("after long line: %q, truncated %d", got[2].Text, fl.LinesTruncated())
	}
}

func TestRenamedToMatchingName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, numbered("a", 0, 10))
	_, s, _ := follow(t, []Path{{Pattern: filepath.Join(dir, "access.log*")}}, Options{})
	s.wait(t, 10)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", numbered("b", 0, 2))
	appendFile(t, path, numbered("c", 0, 2))
	s.settle(t, 14) // the renamed file is not read again
	appendFile(t, path+".1", numbered("d", 0, 2))
	got := s.settle(t, 16)
	for _, l := range got[14:] {
		if l.Path != path+".1" {
			t.Errorf("line %q of the renamed file came as %s", l.Text, l.Path)
		}
	}
}

func TestLag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	appendFile(t, path, "a\nb\nc")
	fl, s, _ := follow(t, []Path{{Pattern: path}}, Options{})
	s.wait(t, 2)
	time.Sleep(50 * time.Millisecond)
	if lag := fl.Lag(); lag != 1 {
		t.Errorf("Lag = %d, want 1 (the unterminated line)", lag)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		paths []Path
		opts  Options
		want  string
	}{
		{"no path", nil, Options{}, "no log path"},
		{"empty path", []Path{{}}, Options{}, "empty log path"},
		{"bad glob", []Path{{Pattern: "/var/log/[a"}}, Options{}, "syntax error in pattern"},
		{"systemd backend", []Path{{Pattern: "/var/log/x"}}, Options{Backend: "systemd"}, `backend "systemd" cannot follow files`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.paths, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	fl, _, _ := follow(t, []Path{{Pattern: path}}, Options{})
	for !fl.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := fl.Run(context.Background(), func([]source.Line) {}); err == nil {
		t.Fatal("second Run succeeded")
	}
}

// TestStressRotations has a writer rotate the log 20 times by rename and
// create while writing as fast as it can, nginx-style: it keeps writing to
// the renamed file for a while before switching. Every line must arrive
// exactly once, in order within its file.
func TestStressRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	const (
		rotations = 20
		perFile   = 5000
		late      = 500
		batch     = 100
	)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "api.access.log")
			appendFile(t, path, "")
			const pollInterval = 20 * time.Millisecond
			_, s, _ := follow(t, []Path{{Pattern: path}}, Options{Backend: backend, PollInterval: pollInterval})

			seq := 0
			write := func(w *os.File, gen, n int) {
				var b strings.Builder
				for i := 0; i < n; i += batch {
					b.Reset()
					for range batch {
						fmt.Fprintf(&b, "gen=%02d seq=%07d %s\n", gen, seq, strings.Repeat("x", 200))
						seq++
					}
					if _, err := w.WriteString(b.String()); err != nil {
						t.Error(err)
						return
					}
				}
			}
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			for gen := range rotations + 1 {
				write(w, gen, perFile)
				if gen == rotations {
					break
				}
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, gen)); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, "")
				for range late / batch {
					write(w, gen, batch)
					time.Sleep(time.Millisecond)
				}
				w.Close()
				if w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
					t.Fatal(err)
				}
				// A file that comes and goes between two looks is never
				// seen: give each one time to be seen at its path.
				time.Sleep(3 * pollInterval)
			}
			w.Close()

			deadline := time.Now().Add(10 * time.Second)
			for len(s.snapshot()) < seq && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			got := s.snapshot()
			seen := make([]bool, seq)
			defer func() {
				if len(got) != seq {
					t.Errorf("got %d lines, want %d; missing: %s", len(got), seq, missing(seen))
				}
			}()
			last := map[int]int{}
			for _, l := range got {
				var gen, n int
				if _, err := fmt.Sscanf(string(l.Text), "gen=%d seq=%d", &gen, &n); err != nil || n >= seq {
					t.Fatalf("bad line %q", l.Text)
				}
				if seen[n] {
					t.Fatalf("duplicate line %d", n)
				}
				seen[n] = true
				if prev, ok := last[gen]; ok && n < prev {
					t.Fatalf("generation %d: line %d after %d", gen, n, prev)
				}
				last[gen] = n
			}
		})
	}
}

// missing describes the ranges of false in seen.
func missing(seen []bool) string {
	var b strings.Builder
	for i := 0; i < len(seen); i++ {
		if seen[i] {
			continue
		}
		j := i
		for j+1 < len(seen) && !seen[j+1] {
			j++
		}
		fmt.Fprintf(&b, "%d-%d ", i, j)
		i = j
	}
	return b.String()
}

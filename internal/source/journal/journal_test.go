package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/source"
)

// fakeJournal puts testdata/journalctl first on PATH and returns the
// directory that scripts it (see the script).
func fakeJournal(t *testing.T) string {
	t.Helper()
	bin, dir := t.TempDir(), t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", "journalctl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "journalctl"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_JOURNALCTL_DIR", dir)
	return dir
}

// script makes call n of the fake journalctl print the entries and, if
// exit >= 0, exit with that code.
func script(t *testing.T, dir string, n int, entries string, exit int) {
	t.Helper()
	call := strconv.Itoa(n)
	if err := os.WriteFile(filepath.Join(dir, "out"+call+".jsonl"), []byte(entries), 0o644); err != nil {
		t.Fatal(err)
	}
	if exit >= 0 {
		if err := os.WriteFile(filepath.Join(dir, "exit"+call), []byte(strconv.Itoa(exit)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "calls"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func entryJSON(cursor, msg string) string {
	return `{"__CURSOR":"` + cursor + `","__REALTIME_TIMESTAMP":"1715678402000000","_HOSTNAME":"rp1","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"1","MESSAGE":"` + msg + `"}` + "\n"
}

type sink struct {
	mu    sync.Mutex
	lines []source.Line
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

func (s *sink) wait(t *testing.T, n int) []source.Line {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := append([]source.Line(nil), s.lines...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run runs r until the test ends or stop is called; stop fails the test
// if Run does not return promptly.
func run(t *testing.T, r *Reader) (*sink, func()) {
	t.Helper()
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, s.handle) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func TestFollow(t *testing.T) {
	dir := fakeJournal(t)
	script(t, dir, 1, entryJSON("c1", "one")+"-- No entries --\n"+entryJSON("c2", "two"), -1)
	since := time.Unix(1715678000, 0)
	r, err := New(Options{Matches: []string{"_SYSTEMD_UNIT=sshd.service + _COMM=sshd"}, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	s, stop := run(t, r)
	got := s.wait(t, 2)
	stop()
	if string(got[0].Text) != "rp1 sshd[1]: one" || string(got[1].Text) != "rp1 sshd[1]: two" {
		t.Errorf("lines %q, %q", got[0].Text, got[1].Text)
	}
	if got[0].Path != Name || !got[0].Time.Equal(time.UnixMicro(1715678402000000)) {
		t.Errorf("line %+v", got[0])
	}
	if r.Cursor() != "c2" || r.LinesRead() != 2 {
		t.Errorf("cursor %q, lines %d", r.Cursor(), r.LinesRead())
	}
	want := "--follow --output=json --output-fields=" + outputFields + " --all --no-pager --quiet --since=@1715678000 --no-tail _SYSTEMD_UNIT=sshd.service + _COMM=sshd"
	if c := calls(t, dir); len(c) != 1 || c[0] != want {
		t.Errorf("journalctl called with\n%q\nwant\n%q", c, want)
	}
}

// TestRestartAfterCursor has journalctl die after two entries: it is
// started again after the last delivered entry.
func TestRestartAfterCursor(t *testing.T) {
	dir := fakeJournal(t)
	script(t, dir, 1, entryJSON("c1", "one")+entryJSON("c2", "two"), 1)
	script(t, dir, 2, entryJSON("c3", "three"), -1)
	r, err := New(Options{Cursor: "c0", RestartDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, stop := run(t, r)
	got := s.wait(t, 3)
	stop()
	var texts []string
	for _, l := range got {
		texts = append(texts, string(l.Text))
	}
	if strings.Join(texts, "|") != "rp1 sshd[1]: one|rp1 sshd[1]: two|rp1 sshd[1]: three" {
		t.Errorf("lines %q", texts)
	}
	c := calls(t, dir)
	if len(c) != 2 || !strings.Contains(c[0], "--after-cursor=c0 --no-tail") || !strings.Contains(c[1], "--after-cursor=c2 --no-tail") {
		t.Errorf("calls %q", c)
	}
	if r.Restarts() != 1 || r.Cursor() != "c3" {
		t.Errorf("restarts %d, cursor %q", r.Restarts(), r.Cursor())
	}
}

// TestRejectedCursor has journalctl fail at once with the saved cursor:
// the next start uses Since.
func TestRejectedCursor(t *testing.T) {
	dir := fakeJournal(t)
	script(t, dir, 1, "", 1)
	script(t, dir, 2, entryJSON("c1", "one"), -1)
	r, err := New(Options{Cursor: "garbled", Since: time.Unix(1715678000, 0), RestartDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, stop := run(t, r)
	s.wait(t, 1)
	stop()
	if c := calls(t, dir); len(c) != 2 || !strings.Contains(c[1], "--since=@1715678000") || strings.Contains(c[1], "cursor") {
		t.Errorf("calls %q", c)
	}
}

func TestNoStartPosition(t *testing.T) {
	dir := fakeJournal(t)
	r, err := New(Options{Args: []string{"--system"}})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := run(t, r)
	deadline := time.Now().Add(5 * time.Second)
	for calls(t, dir)[0] == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if c := calls(t, dir); !strings.HasSuffix(c[0], "--quiet --lines=0 --system") {
		t.Errorf("calls %q", c)
	}
}

func TestSkipsBadEntries(t *testing.T) {
	dir := fakeJournal(t)
	long := `{"MESSAGE":"` + strings.Repeat("x", 200<<10) + `"}` + "\n"
	script(t, dir, 1, `{"MESSAGE":broken}`+"\n"+long+entryJSON("c1", "after"), -1)
	r, err := New(Options{MaxEntryBytes: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s, stop := run(t, r)
	got := s.wait(t, 1)
	stop()
	if string(got[0].Text) != "rp1 sshd[1]: after" || r.EntriesSkipped() != 2 {
		t.Errorf("line %q, skipped %d", got[0].Text, r.EntriesSkipped())
	}
}

func TestCommandNotFound(t *testing.T) {
	r, err := New(Options{Command: filepath.Join(t.TempDir(), "no-journalctl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), func([]source.Line) {}); err == nil {
		t.Fatal("Run succeeded without journalctl")
	}
}

func TestMatchArgs(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
		err   string
	}{
		{nil, "", ""},
		{[]string{"_SYSTEMD_UNIT=sshd.service + _COMM=sshd"}, "_SYSTEMD_UNIT=sshd.service + _COMM=sshd", ""},
		{[]string{"_SYSTEMD_UNIT=fail2ban.service PRIORITY=5"}, "_SYSTEMD_UNIT=fail2ban.service PRIORITY=5", ""},
		{[]string{"A=1", "", "B=2 C=3"}, "A=1 + B=2 C=3", ""},
		{[]string{"+ A=1 + + B=2 +"}, "A=1 + B=2", ""},
		{[]string{`MESSAGE='two words' X="a \"q\"" Y=a\ b`}, `MESSAGE=two words|X=a "q"|Y=a b`, ""},
		{[]string{"sshd"}, "", `term "sshd" is not FIELD=VALUE`},
		{[]string{"--unit=sshd"}, "", "is not FIELD=VALUE"},
		{[]string{"=x"}, "", "is not FIELD=VALUE"},
		{[]string{"A='open"}, "", "no closing quotation"},
	}
	for _, tt := range tests {
		got, err := matchArgs(tt.lines)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("matchArgs(%q) error %v, want %q", tt.lines, err, tt.err)
			}
			continue
		}
		sep := " "
		if strings.Contains(tt.want, "|") {
			sep = "|"
		}
		if err != nil || strings.Join(got, sep) != tt.want {
			t.Errorf("matchArgs(%q) = %q, %v; want %q", tt.lines, got, err, tt.want)
		}
	}
}

func TestBackendArgs(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want string
		err  string
	}{
		{nil, "--system", ""},
		{map[string]string{"journalflags": "1"}, "", ""},
		{map[string]string{"journalflags": "12"}, "--system --user", ""},
		{map[string]string{"journalpath": "/var/log/journal/x"}, "--directory=/var/log/journal/x", ""},
		{map[string]string{"journalfiles": "/a/*.journal /b.journal", "namespace": "ns"}, "--file=/a/*.journal --file=/b.journal --namespace=ns", ""},
		{map[string]string{"journalflags": "2"}, "", "no option for flags 2"},
		{map[string]string{"journalflags": "x"}, "", "not a number"},
		{map[string]string{"journalpath": "/a", "journalfiles": "/b"}, "", "exclude each other"},
		{map[string]string{"bogus": "1"}, "", `unknown option "bogus"`},
	}
	for _, tt := range tests {
		got, err := BackendArgs(tt.opts)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("BackendArgs(%v) error %v, want %q", tt.opts, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("BackendArgs(%v) = %q, %v; want %q", tt.opts, got, err, tt.want)
		}
	}
}

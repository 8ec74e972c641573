package action

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/shellcmd"
)

// fixture is a copy of testdata/conf whose actions write what they got to
// record.
type fixture struct {
	dir    string
	record string
	state  string
	cfg    *config.Config
}

// newFixture copies testdata/conf to a temporary directory, with a
// jail.local pointing record and state there, and loads it.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		dir:    dir,
		record: filepath.Join(dir, "record"),
		state:  filepath.Join(dir, "state"),
	}
	conf := filepath.Join(dir, "conf")
	if err := os.CopyFS(conf, os.DirFS("testdata/conf")); err != nil {
		t.Fatal(err)
	}
	local := "[DEFAULT]\nrecord = " + f.record + "\nstate = " + f.state + "\n"
	if err := os.WriteFile(filepath.Join(conf, "jail.local"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(conf, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Problems {
		if p.Severity == config.SeverityError && p.Jail != "broken" {
			t.Fatalf("configuration: %s", p)
		}
	}
	f.cfg = cfg
	return f
}

func (f *fixture) jail(t testing.TB, name string) *config.Jail {
	t.Helper()
	j := f.cfg.Jail(name)
	if j == nil {
		t.Fatalf("no jail %s", name)
	}
	if j.Err != nil {
		t.Fatalf("jail %s: %v", name, j.Err)
	}
	return j
}

// runner builds the runner of the jail's first action.
func (f *fixture) runner(t testing.TB, jail string) *Runner {
	t.Helper()
	j := f.jail(t, jail)
	r, err := New(j, j.Actions[0], testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testOptions(t testing.TB) Options {
	return Options{
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hostnames: shellcmd.Hostnames{FQDN: "rp.example.org", Short: "rp"},
	}
}

// records reads back what the actions wrote: one entry per command, its
// arguments in order.
func (f *fixture) records(t testing.TB) [][]string {
	t.Helper()
	data, err := os.ReadFile(f.record)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(data), "\036"), "\036") {
		if rec == "" {
			continue
		}
		out = append(out, strings.Split(strings.TrimSuffix(rec, "\037"), "\037"))
	}
	return out
}

// kinds returns the records cut to their first n fields, joined by spaces.
func (f *fixture) kinds(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for _, r := range f.records(t) {
		out = append(out, strings.Join(r[:min(n, len(r))], " "))
	}
	return out
}

func (f *fixture) reset(t testing.TB) {
	t.Helper()
	if err := os.Remove(f.record); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

func checkKinds(t *testing.T, f *fixture, n int, want ...string) {
	t.Helper()
	if got := f.kinds(t, n); !slices.Equal(got, want) {
		t.Errorf("commands run:\n  %q\nwant\n  %q", got, want)
	}
}

func ban4(id string) Ban {
	return Ban{ID: id, Addr: netip.MustParseAddr(id), BanTime: 10 * time.Minute, Count: 1, Failures: 5}
}

// TestBanTags checks that every tag reaches the command as it was given,
// whatever the quoting around it, and that no value is ever run.
func TestBanTags(t *testing.T) {
	tests := []struct {
		name  string
		value string // CANARY stands for a file no value may create
	}{
		{"plain", "alice"},
		{"command substitution", "$(touch CANARY)"},
		{"backquotes", "`touch CANARY`"},
		{"single quotes", "'; touch CANARY; echo '"},
		{"double quotes", `"; touch CANARY; echo "`},
		{"newline", "x\ntouch CANARY\necho y"},
		{"semicolon rm", "; rm -rf RMDIR"},
		{"parameter expansion", "${HOME:+$(touch CANARY)} $IFS"},
		{"glob and tilde", "~/* ? [a-z] {a,b}"},
		{"tags in the value", "<ip> <br> <F-USER> <record>"},
		{"printf formats and backslashes", `%s %n \n \\ \0 \'`},
		{"here-document end", "EOF\ntouch CANARY\nEOF"},
		{"option-like", "-n"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			canary := filepath.Join(f.dir, "canary")
			rmdir := filepath.Join(f.dir, "keep")
			if err := os.Mkdir(rmdir, 0o755); err != nil {
				t.Fatal(err)
			}
			value := strings.NewReplacer("CANARY", canary, "RMDIR", rmdir).Replace(tt.value)
			r := f.runner(t, "record")
			ctx := t.Context()
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			b := Ban{
				ID:       "192.0.2.1",
				Addr:     netip.MustParseAddr("192.0.2.1"),
				Time:     time.Unix(1700000000, 500_000_000),
				BanTime:  10 * time.Minute,
				Count:    2,
				Failures: 3,
				Matches:  []string{value, "second line"},
				Fields:   map[string]string{"user": value},
			}
			if err := r.Ban(ctx, b); err != nil {
				t.Fatal(err)
			}
			recs := f.records(t)
			if len(recs) != 2 {
				t.Fatalf("records %q, want start and ban", recs)
			}
			if want := []string{"start", "record", "", "600", ""}; !slices.Equal(recs[0], want) {
				t.Errorf("start got %q, want %q", recs[0], want)
			}
			matches := value + "\nsecond line"
			want := []string{
				"ban", "192.0.2.1", "inet4", matches,
				value, value, value, value, // double quotes, $(...), `...`, here-document
				"3", "600", "2", "0", "1.2.0.192.", "192.0.2.1", "1700000000.5",
				matches, "3", "", "rp.example.org", "rp", "pj-record", "1234",
			}
			if !slices.Equal(recs[1], want) {
				t.Errorf("ban got\n  %q\nwant\n  %q", recs[1], want)
			}
			if _, err := os.Stat(canary); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a value was run: %s exists", canary)
			}
			if _, err := os.Stat(rmdir); err != nil {
				t.Errorf("a value was run: %v", err)
			}
		})
	}
}

// TestHostileID checks an ID that is not an address: it is passed as it
// is, with an empty family.
func TestHostileID(t *testing.T) {
	f := newFixture(t)
	canary := filepath.Join(f.dir, "canary")
	id := "$(touch " + canary + ")"
	r := f.runner(t, "record")
	ctx := t.Context()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Ban(ctx, Ban{ID: id, BanTime: config.Permanent}); err != nil {
		t.Fatal(err)
	}
	if err := r.Unban(ctx, Ban{ID: id}); err != nil {
		t.Fatal(err)
	}
	recs := f.records(t)
	if len(recs) != 3 {
		t.Fatalf("records %q", recs)
	}
	if got := recs[1][:4]; !slices.Equal(got, []string{"ban", id, "", ""}) {
		t.Errorf("ban got %q", got)
	}
	if got := recs[1][9]; got != "-1" {
		t.Errorf("bantime of a permanent ban %q, want -1", got)
	}
	if got := recs[1][12]; got != "" {
		t.Errorf("ip-rev of a non-address %q, want empty", got)
	}
	if got := recs[2]; !slices.Equal(got, []string{"unban", id, "", ""}) {
		t.Errorf("unban got %q", got)
	}
	if _, err := os.Stat(canary); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ID was run: %s exists", canary)
	}
	if err := r.Ban(ctx, Ban{}); err == nil {
		t.Error("a ban without ID or address was accepted")
	}
}

// TestLifecycle checks the order of the commands and when each runs.
func TestLifecycle(t *testing.T) {
	t.Run("started at start", func(t *testing.T) {
		f := newFixture(t)
		r := f.runner(t, "record")
		ctx := t.Context()
		a, b := ban4("192.0.2.1"), ban4("192.0.2.2")
		// Nothing was banned yet: there is nothing to unban.
		must(t, r.Unban(ctx, a))
		must(t, r.Start(ctx))
		must(t, r.Unban(ctx, a))
		must(t, r.Ban(ctx, a))
		must(t, r.Ban(ctx, b))
		must(t, r.Unban(ctx, a))
		must(t, r.Unban(ctx, b))
		must(t, r.Stop(ctx))
		// Stopped: a second stop has nothing to do.
		must(t, r.Stop(ctx))
		checkKinds(t, f, 2, "start record", "ban 192.0.2.1", "ban 192.0.2.2", "unban 192.0.2.1", "unban 192.0.2.2", "stop record")
	})
	t.Run("on demand", func(t *testing.T) {
		f := newFixture(t)
		r := f.runner(t, "ondemand")
		ctx := t.Context()
		must(t, r.Start(ctx))
		must(t, r.Stop(ctx))
		checkKinds(t, f, 2)
		must(t, r.Start(ctx))
		must(t, r.Ban(ctx, ban4("192.0.2.1")))
		must(t, r.Ban(ctx, ban4("192.0.2.2")))
		must(t, r.Stop(ctx))
		must(t, r.Ban(ctx, ban4("192.0.2.3")))
		checkKinds(t, f, 2, "start ondemand", "ban 192.0.2.1", "ban 192.0.2.2", "stop ondemand", "start ondemand", "ban 192.0.2.3")
	})
}

// TestFamilies checks that [Init?family=inet6] values apply to IPv6
// addresses, and that an action with conditional sections starts and
// stops each family on its own.
func TestFamilies(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, "family")
	ctx := t.Context()
	must(t, r.Start(ctx))
	checkKinds(t, f, 9)
	must(t, r.Unban(ctx, ban4("192.0.2.1")))
	must(t, r.Ban(ctx, ban4("192.0.2.1")))
	must(t, r.Ban(ctx, Ban{ID: "2001:db8::1", Addr: netip.MustParseAddr("2001:db8::1")}))
	must(t, r.Ban(ctx, Ban{ID: "::ffff:192.0.2.2", Addr: netip.MustParseAddr("::ffff:192.0.2.2")}))
	must(t, r.Ban(ctx, Ban{ID: "2001:db8:1::/64"}))
	must(t, r.Unban(ctx, Ban{ID: "2001:db8::1", Addr: netip.MustParseAddr("2001:db8::1")}))
	must(t, r.Flush(ctx, nil))
	// Flushed: neither unban nor a second flush has work.
	must(t, r.Unban(ctx, ban4("192.0.2.1")))
	must(t, r.Flush(ctx, nil))
	must(t, r.Stop(ctx))
	six := "six from-init"
	checkKinds(t, f, 9,
		"start inet4 four",
		"ban 192.0.2.1 inet4 four four-derived",
		"start inet6 "+six,
		"ban 2001:db8::1 inet6 "+six+" "+six+"-derived",
		"ban ::ffff:192.0.2.2 inet4 four four-derived",
		"ban 2001:db8:1::/64 inet6 "+six+" "+six+"-derived",
		"unban 2001:db8::1 inet6 "+six,
		"flush inet4 four",
		"flush inet6 "+six,
		"stop inet4 four",
		"stop inet6 "+six,
	)
}

// TestTimeout checks that a command that outlives the action's timeout
// is ended with its whole process group.
func TestTimeout(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, "slow")
	start := time.Now()
	err := r.Start(t.Context())
	elapsed := time.Since(start)
	if !errors.Is(err, shellcmd.ErrTimeout) {
		t.Fatalf("Start: %v, want a timeout", err)
	}
	if elapsed < time.Second || elapsed > 5*time.Second {
		t.Errorf("Start took %v with a 1 s timeout", elapsed)
	}
	data, err := os.ReadFile(f.record)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The background sleep is gone (or a zombie waiting for init).
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %d outlived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestNorestored checks that restored bans skip the actions that set
// norestored, and only those.
func TestNorestored(t *testing.T) {
	f := newFixture(t)
	j := f.jail(t, "restored")
	s, err := NewSet(j, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must(t, s.Start(ctx))
	b := ban4("192.0.2.1")
	b.Restored = true
	must(t, s.Ban(ctx, b))
	b = ban4("192.0.2.2")
	must(t, s.Ban(ctx, b))
	var got []string
	for _, r := range f.records(t) {
		switch r[0] {
		case "ban":
			got = append(got, "ban "+r[1]+" restored="+r[11])
		case "norestored-ban":
			got = append(got, "norestored-ban "+r[1]+" restored="+r[2])
		}
	}
	want := []string{"ban 192.0.2.1 restored=1", "ban 192.0.2.2 restored=0", "norestored-ban 192.0.2.2 restored=0"}
	if !slices.Equal(got, want) {
		t.Errorf("bans %q, want %q", got, want)
	}
}

// TestCheckAndRepair checks what follows a failed command: actioncheck,
// then actionrepair (or a restart), then one retry.
func TestCheckAndRepair(t *testing.T) {
	tests := []struct {
		jail    string
		unban   bool // break the state before the unban instead of the ban
		wantErr bool
		want    []string
	}{
		{jail: "check", want: []string{"start", "repair", "ban 192.0.2.1"}},
		{jail: "check-restart", want: []string{"start", "stop", "start", "ban 192.0.2.1"}},
		{jail: "check", unban: true, wantErr: true, want: []string{"start", "ban 192.0.2.1"}},
		{jail: "check-unban", unban: true, want: []string{"start", "ban 192.0.2.1", "repair", "unban 192.0.2.1"}},
	}
	for _, tt := range tests {
		name := tt.jail
		if tt.unban {
			name += "/unban"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			r := f.runner(t, tt.jail)
			ctx := t.Context()
			b := ban4("192.0.2.1")
			must(t, r.Start(ctx))
			if !tt.unban {
				must(t, os.Remove(f.state))
			}
			err := r.Ban(ctx, b)
			if tt.unban {
				must(t, err)
				must(t, os.Remove(f.state))
				err = r.Unban(ctx, b)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("error %v, want error %v", err, tt.wantErr)
			}
			checkKinds(t, f, 2, tt.want...)
		})
	}
}

// TestFlush checks unbanning everything: actionflush per family with bans
// where the action has one, actionunban per ban where it has not; and a
// Set's order, with the built-in action left out.
func TestFlush(t *testing.T) {
	f := newFixture(t)
	j := f.jail(t, "flush")
	s, err := NewSet(j, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Runners()); n != 2 {
		t.Fatalf("%d runners, want 2 (nftables is built in)", n)
	}
	ctx := t.Context()
	bans := []Ban{ban4("192.0.2.1"), {ID: "2001:db8::1", Addr: netip.MustParseAddr("2001:db8::1")}}
	must(t, s.Start(ctx))
	for _, b := range bans {
		must(t, s.Ban(ctx, b))
	}
	f.reset(t)
	must(t, s.Flush(ctx, bans))
	must(t, s.Stop(ctx))
	checkKinds(t, f, 3,
		"flush inet4 four",
		"flush inet6 six from-init",
		"unban 192.0.2.1 inet4",
		"unban 2001:db8::1 inet6",
		"stop flush ",
		"stop inet4 four",
		"stop inet6 six from-init",
	)
}

// TestHostTag checks <ip-host>, looked up only by commands that use it.
func TestHostTag(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, "host")
	must(t, r.Ban(t.Context(), ban4("127.0.0.1")))
	checkKinds(t, f, 3, "host 127.0.0.1 localhost")
}

func TestNewErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		jail string
		want []string
	}{
		{"broken", []string{"pj-selfref.conf", "actionban", "inet6"}},
		{"badtimeout", []string{"pj-record.conf", "timeout", "soon"}},
		{"flush", []string{"nftables", "built in"}},
	}
	for _, tt := range tests {
		t.Run(tt.jail, func(t *testing.T) {
			j := f.cfg.Jail(tt.jail)
			a := j.Actions[len(j.Actions)-1]
			_, err := New(j, a, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := NewSet(f.cfg.Jail("broken"), Options{}); err == nil {
		t.Error("NewSet accepted a broken action")
	}
}

// TestConcurrentBans checks that concurrent calls are serialized: an
// action that starts on demand starts once.
func TestConcurrentBans(t *testing.T) {
	f := newFixture(t)
	r := f.runner(t, "ondemand")
	ctx := t.Context()
	errs := make(chan error)
	const n = 8
	for i := range n {
		go func() { errs <- r.Ban(ctx, ban4("192.0.2."+strconv.Itoa(i+1))) }()
	}
	for range n {
		must(t, <-errs)
	}
	got := f.kinds(t, 1)
	if len(got) != n+1 || got[0] != "start" || slices.Contains(got[1:], "start") {
		t.Errorf("commands %q, want one start then %d bans", got, n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzBanTags checks that any value of a field or a log line reaches the
// command as it is, in every kind of quoting pj-record uses: a value that
// the shell parsed would arrive changed, or run.
func FuzzBanTags(f *testing.F) {
	for _, v := range []string{
		"alice", "$(echo run)", "`echo run`", "'\"; echo run #", "a\nb\r\nc",
		"${IFS}*?[a]~", "<ip><br>", `\\\n\0`, "EOF", "\x00nul", "\xff\xfe invalid UTF-8",
	} {
		f.Add(v)
	}
	fx := newFixture(f)
	r := fx.runner(f, "record")
	f.Fuzz(func(t *testing.T, value string) {
		if strings.ContainsAny(value, "\036\037") {
			t.Skip("the value holds the record's separators")
		}
		fx.reset(t)
		b := ban4("192.0.2.1")
		b.Matches = []string{value}
		b.Fields = map[string]string{"user": value}
		if err := r.Ban(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		recs := fx.records(t)
		if len(recs) != 1 || len(recs[0]) < 8 {
			t.Fatalf("records %q", recs)
		}
		// Arguments cannot hold NUL bytes; command substitutions drop
		// trailing newlines.
		want := strings.ReplaceAll(value, "\x00", "")
		trimmed := strings.TrimRight(want, "\n")
		got := recs[0]
		for i, w := range []string{want, want, trimmed, trimmed, trimmed} {
			if got[3+i] != w {
				t.Errorf("field %d: got %q, want %q", 3+i, got[3+i], w)
			}
		}
	})
}

func TestTagFormats(t *testing.T) {
	tests := []struct{ got, want string }{
		{epoch(time.Unix(1700000000, 0)), "1700000000.0"},
		{epoch(time.Unix(1700000000, 250_000_000)), "1700000000.25"},
		{banSeconds(10 * time.Minute), "600"},
		{banSeconds(1500 * time.Millisecond), "1"},
		{banSeconds(config.Permanent), "-1"},
		{seconds(time.Minute), "60"},
		{seconds(1500 * time.Millisecond), "1.5"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

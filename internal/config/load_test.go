package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// dump renders a loaded configuration as text for golden files, with the
// configuration directory shown as $DIR.
func dump(cfg *Config, dir string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pos := func(p Position) string {
		if p.File == "" {
			return "-"
		}
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	for _, j := range cfg.Jails {
		state := "disabled"
		if j.Enabled {
			state = "enabled"
		}
		w("[%s] %s at %s\n", j.Name, state, pos(j.Pos))
		if j.Err != nil {
			w("  error: %v\n", j.Err)
			continue
		}
		if !j.Enabled {
			continue
		}
		if f := j.Filter; f != nil {
			w("  filter %q file=%s mode=%q logtype=%q maxlines=%d usedns=%q datepattern=%q\n",
				f.Name, f.File, f.Mode, f.LogType, f.MaxLines, f.UseDNS, f.DatePattern)
			w("    params %v\n", f.Params)
			if f.PrefRegex != nil {
				w("    prefregex %q at %s\n", f.PrefRegex.Pattern, pos(f.PrefRegex.Pos))
			}
			for _, r := range f.FailRegex {
				w("    failregex %q at %s\n", r.Pattern, pos(r.Pos))
			}
			for _, r := range f.IgnoreRegex {
				w("    ignoreregex %q at %s\n", r.Pattern, pos(r.Pos))
			}
			for _, m := range f.JournalMatch {
				w("    journalmatch %q\n", m)
			}
		}
		for _, a := range j.Actions {
			w("  action %s (%s) builtin=%v file=%s at %s\n", a.ActName, a.Name, a.Builtin, a.File, pos(a.Pos))
			w("    params %v\n", a.Params)
			if a.InitFamily != nil {
				w("    families %v\n", a.InitFamily)
			}
			for _, k := range slices.Sorted(maps.Keys(a.Commands)) {
				w("    %s = %q\n", k, a.Commands[k])
			}
		}
		w("  backend %s %v logencoding=%s logtimezone=%q\n", j.Backend, j.BackendOptions, j.LogEncoding, j.LogTimezone)
		for _, lp := range j.LogPaths {
			w("  logpath %q tail=%v\n", lp.Path, lp.Tail)
		}
		w("  maxretry=%d maxmatches=%d findtime=%v bantime=%v maxtracked=%d\n", j.MaxRetry, j.MaxMatches, j.FindTime, j.BanTime, j.MaxTrackedIDs)
		w("  increment %+v\n", j.Increment)
		w("  ignoreip=%q ignoreself=%v ignorecommand=%q usedns=%s port=%q protocol=%q\n", j.IgnoreIP, j.IgnoreSelf, j.IgnoreCommand, j.UseDNS, j.Port, j.Protocol)
		for _, k := range []string{"sidecar", "ipv4prefix", "ipv6prefix", "blocktype", "common_only", "local_sibling"} {
			if v, ok := j.Options[k]; ok {
				w("  option %s = %q\n", k, v)
			}
		}
	}
	w("problems:\n")
	for _, p := range cfg.Problems {
		w("  %s\n", p)
	}
	return strings.ReplaceAll(b.String(), dir, "$DIR")
}

// TestLoadGolden loads each configuration tree under testdata/load, over
// the built-in files, and compares the result with its golden file.
func TestLoadGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/load/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := Load(dir, Options{Builtin: builtin.FS()})
			if err != nil {
				t.Fatal(err)
			}
			got := dump(cfg, dir)
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("result differs from %s; got:\n%s", golden, got)
			}
		})
	}
}

// TestLoadInstalledFail2ban requires the installed fail2ban configuration to
// load with every jail and no error.
func TestLoadInstalledFail2ban(t *testing.T) {
	const dir = "/etc/fail2ban"
	testenv.RequireFile(t, dir+"/jail.conf")
	cfg, err := Load(dir, Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Problems {
		if p.Severity == SeverityError {
			t.Errorf("problem: %s", p)
		}
	}
	data, err := os.ReadFile(dir + "/jail.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "[") || line == "[DEFAULT]" || line == "[INCLUDES]" {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "["), "]")
		if j := cfg.Jail(name); j == nil || j.Err != nil {
			t.Errorf("jail %s: %+v", name, j)
		}
	}
	for _, j := range cfg.Enabled() {
		if j.Filter == nil || len(j.Filter.FailRegex) == 0 || len(j.Actions) == 0 {
			t.Errorf("enabled jail %s is incomplete: %+v", j.Name, j)
		}
	}
}

func TestLoadBuiltinOnly(t *testing.T) {
	cfg, err := Load("", Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Problems) > 0 {
		t.Errorf("problems: %v", cfg.Problems)
	}
	j := cfg.Jail("pexiprp")
	if j == nil || !j.Enabled || j.Err != nil {
		t.Fatalf("pexiprp jail: %+v", j)
	}
	if len(j.Filter.FailRegex) != 2 || j.Filter.DatePattern != "%d/%b/%Y:%H:%M:%S %z" {
		t.Errorf("pexiprp filter: %+v", j.Filter)
	}
	if len(j.Actions) != 1 || !j.Actions[0].Builtin || j.Actions[0].Name != "nftables" || j.Actions[0].Params["port"] != "443" {
		t.Errorf("pexiprp actions: %+v", j.Actions[0])
	}
	if j.MaxTrackedIDs != 1000000 || j.MaxRetry != 5 || j.FindTime != 5*time.Minute || len(j.LogPaths) != 2 ||
		!j.Increment.Enabled || j.IPv6Prefix != 64 || j.IPv4Prefix != 32 {
		t.Errorf("pexiprp: %+v", j)
	}
	want := Pexip{Joins: true, JoinWindow: 2 * time.Minute, JoinHold: 5, RoomBudget: 10, RoomWindow: 10 * time.Minute, RoomAttack: 30 * time.Minute}
	if j.Pexip != want {
		t.Errorf("pexiprp accounting: %+v, want %+v", j.Pexip, want)
	}
	for _, name := range []string{"pexiprp-slow", "pexip-registration", "pexip-aliasscan"} {
		if j := cfg.Jail(name); j == nil || !j.Enabled || j.Err != nil || len(j.LogPaths) != 2 {
			t.Errorf("%s: %+v", name, j)
		}
	}
	if j := cfg.Jail("pexiprp-slow"); j != nil && (!j.Pexip.Joins || j.Pexip.RoomBudget != 0 || j.MaxRetry != 20 || j.FindTime != 24*time.Hour) {
		t.Errorf("pexiprp-slow: %+v", j)
	}
	if j := cfg.Jail("pexip-registration"); j != nil && j.Pexip.Joins {
		t.Errorf("pexip-registration counts joins: %+v", j.Pexip)
	}
}

func TestLoadNothingToRead(t *testing.T) {
	if _, err := Load("", Options{}); !IsNotFound(err) {
		t.Errorf("Load with no files: %v, want a not-found error", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), Options{Builtin: builtin.FS()}); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
	empty := t.TempDir()
	if cfg, err := Load(empty, Options{Builtin: builtin.FS()}); err != nil || cfg.Jail("pexiprp") == nil {
		t.Errorf("Load of an empty directory over the built-in files: %v, %v", cfg, err)
	}
}

// testFS builds a built-in file system from name/content pairs.
func testFS(files ...string) fs.FS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(files); i += 2 {
		m[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return m
}

// writeTree writes name/content pairs under a new directory.
func writeTree(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(files); i += 2 {
		p := filepath.Join(dir, files[i])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLayering checks that a directory file hides the built-in file of the
// same name while jail.d listings are merged.
func TestLayering(t *testing.T) {
	base := testFS(
		"jail.conf", "[DEFAULT]\nfilter = f\naction = log\nlogpath = /l\n[a]\nenabled = true\nmaxretry = 1\n",
		"jail.d/1.conf", "[a]\nmaxretry = 2\n",
		"jail.d/2.conf", "[a]\nfindtime = 2\n",
		"jail.d/.hidden.conf", "[a]\nfindtime = 99\n",
		"filter.d/f.conf", "[Definition]\nfailregex = builtin <HOST>\n",
	)
	dir := writeTree(t,
		"jail.d/2.conf", "[a]\nfindtime = 3\n",
		"jail.d/3.local", "[a]\nbantime = 4\n",
		"filter.d/f.local", "[Definition]\nfailregex = %(known/failregex)s\n  local <HOST>\n",
	)
	cfg, err := Load(dir, Options{Builtin: base})
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Jail("a")
	if j == nil || j.Err != nil {
		t.Fatalf("jail a: %+v, problems %v", j, cfg.Problems)
	}
	if j.MaxRetry != 2 || j.FindTime != 3*time.Second || j.BanTime != 4*time.Second {
		t.Errorf("maxretry %d findtime %v bantime %v, want 2 3s 4s", j.MaxRetry, j.FindTime, j.BanTime)
	}
	if got := fmt.Sprint(j.Filter.FailRegex); !strings.Contains(got, "builtin <HOST>") || !strings.Contains(got, "local <HOST>") {
		t.Errorf("failregex %s, want the built-in and the local one", got)
	}
	if want := filepath.Join(dir, "filter.d/f.local"); j.Filter.FailRegex[1].Pos.File != want || j.Filter.FailRegex[1].Pos.Line != 3 {
		t.Errorf("local regex at %+v, want %s:3", j.Filter.FailRegex[1].Pos, want)
	}
	if j.Filter.File != "(builtin)/filter.d/f.conf" {
		t.Errorf("filter file %q", j.Filter.File)
	}
}

func TestLoadFilter(t *testing.T) {
	dir := writeTree(t,
		"filter.d/common.conf", "[DEFAULT]\n_daemon = \\S+\npre = <lt_<logtype>/pre>\n[lt_file]\npre = F:<_daemon>\n[lt_journal]\npre = J:\n",
		"filter.d/svc.conf", "[INCLUDES]\nbefore = common.conf\n[Init]\nmode = normal\n[Definition]\n_daemon = svc\nfailregex = ^<pre> <mode> <HOST>$\n",
		"elsewhere/own.conf", "[INCLUDES]\nbefore = ../filter.d/common.conf\n[Definition]\nfailregex = ^<pre> own <HOST> <x>$\n",
		"elsewhere/own.local", "[Init]\nx = local\n",
	)
	tests := []struct {
		name string
		load func() (*Filter, []Problem, error)
		want string
	}{
		{"by name", func() (*Filter, []Problem, error) { return LoadFilter(dir, "svc", Options{}) }, "^F:svc normal <HOST>$"},
		{"with parameters", func() (*Filter, []Problem, error) { return LoadFilter(dir, "svc[mode=aggressive]", Options{}) }, "^F:svc aggressive <HOST>$"},
		{"with init", func() (*Filter, []Problem, error) {
			return LoadFilterWith(dir, "svc", map[string]string{"mode": "ddos", "logtype": "journal"}, Options{})
		}, "^J: ddos <HOST>$"},
		{"file in filter.d", func() (*Filter, []Problem, error) {
			return LoadFilterFile(filepath.Join(dir, "filter.d/svc.conf"), map[string]string{"mode": "m"}, Options{})
		}, "^F:svc m <HOST>$"},
		{"file elsewhere", func() (*Filter, []Problem, error) {
			return LoadFilterFile(filepath.Join(dir, "elsewhere/own.conf"), nil, Options{})
		}, "^F:\\S+ own <HOST> local$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, err := tt.load()
			if err != nil {
				t.Fatal(err)
			}
			if len(f.FailRegex) != 1 || f.FailRegex[0].Pattern != tt.want {
				t.Errorf("failregex %v, want %q", f.FailRegex, tt.want)
			}
		})
	}
	if _, _, err := LoadFilter(dir, "nope", Options{}); !IsNotFound(err) {
		t.Errorf("LoadFilter of a missing filter: %v", err)
	}
	if _, _, err := LoadFilterFile(filepath.Join(dir, "nope.conf"), nil, Options{}); !IsNotFound(err) {
		t.Errorf("LoadFilterFile of a missing file: %v", err)
	}
	if _, _, err := LoadFilter(dir, "svc[mode", Options{}); err == nil || IsNotFound(err) {
		t.Errorf("LoadFilter with bad syntax: %v", err)
	}
}

func TestIncludes(t *testing.T) {
	l := newLoader("", Options{Builtin: testFS(
		"a.conf", "[INCLUDES]\nbefore = b.conf\nafter = sub/c.conf\n[s]\nv = a\n",
		"b.conf", "[INCLUDES]\nbefore = a.conf\n[s]\nv = b\n",
		"sub/c.conf", "[INCLUDES]\nafter = ../b.conf\n[s]\nv = c\n",
		"sub/c.local", "[s]\nv = c.local\n",
		"a.local", "[s]\nv = a.local\n",
	)})
	r, err := l.readNamed("a")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b.conf", "a.conf", "sub/c.conf", "b.conf", "sub/c.local", "a.local"}
	for i := range want {
		want[i] = "(builtin)/" + want[i]
	}
	if !slices.Equal(r.files, want) {
		t.Errorf("files read %v, want %v", r.files, want)
	}
	if v, err := r.get("s", "v", nil); err != nil || v != "a.local" {
		t.Errorf("v = %q, %v", v, err)
	}
}

func TestInterpolation(t *testing.T) {
	l := newLoader("", Options{Builtin: testFS(
		"x.conf", `[DEFAULT]
d = default
self = %(__name__)s
pct = 100%%
[s]
a = %(d)s/%(b)s
b = B
own = %(o/k)s|%(default/d)s|%(known/b)s
loop1 = %(loop2)s
loop2 = %(loop1)s
missing = %(nope)s
bad = 50%
[o]
k = from o with %(b)s
`,
		"x.local", "[s]\nb = %(known/b)s+local\n",
	)})
	r, err := l.readNamed("x")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ opt, want, err string }{
		{"a", "default/B+local", ""},
		{"self", "s", ""},
		{"pct", "100%", ""},
		{"own", "from o with B+local|default|B", ""},
		{"loop1", "", "nested more than 10 deep"},
		{"missing", "", "%(nope)s refers to an option that is not defined"},
		{"bad", "", "'%' must be followed by"},
	}
	for _, tt := range tests {
		v, err := r.get("s", tt.opt, nil)
		if tt.err != "" {
			var ve *valueError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ve) || ve.pos.Line == 0 {
				t.Errorf("%s: %q, %v; want error %q with a position", tt.opt, v, err, tt.err)
			}
			continue
		}
		if err != nil || v != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.opt, v, err, tt.want)
		}
	}
	if v, err := r.get("s", "a", dictOf(map[string]string{"d": "var"})); err != nil || v != "var/B+local" {
		t.Errorf("with vars: %q, %v", v, err)
	}
}

func TestSubstituteTags(t *testing.T) {
	tests := []struct {
		name string
		tags map[string]string
		want map[string]string
		err  string
	}{
		{"simple", map[string]string{"a": "3", "b": "<a>_3"}, map[string]string{"b": "3_3"}, ""},
		{"nested", map[string]string{"t": "file", "x": "<p_<t>>", "p_file": "F"}, map[string]string{"x": "F"}, ""},
		{"unknown left", map[string]string{"a": "<ip> <x>"}, map[string]string{"a": "<ip> <x>"}, ""},
		{"extra lookup", map[string]string{"a": "<ext>"}, map[string]string{"a": "EXT"}, ""},
		{"ignored", map[string]string{"a": "<bantime>", "bantime": "1"}, map[string]string{"a": "<bantime>"}, ""},
		{"self", map[string]string{"a": "x<a>"}, nil, "refers to itself"},
		{"cycle", map[string]string{"a": "<b>", "b": "<a>"}, nil, "refers to itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := func(tag string) (string, bool, error) {
				if tag == "ext" {
					return "EXT", true, nil
				}
				return "", false, nil
			}
			got, err := substituteTags(dictOf(tt.tags), map[string]bool{"bantime": true}, extra)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if g, _ := got.get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
		})
	}
	// A tag that keeps reappearing is substituted 25 times, then refused.
	growing := newDict()
	growing.set("a", "<b>")
	growing.set("b", "x<b>")
	if _, err := substituteTags(growing, nil, nil); err == nil || !strings.Contains(err.Error(), "through <b>") {
		t.Errorf("growing tag: %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	got := splitWords("127.0.0.1/8 ::1,10.0.0.1\n  host.example ,, ")
	want := []string{"127.0.0.1/8", "::1", "10.0.0.1", "host.example"}
	if !slices.Equal(got, want) {
		t.Errorf("splitWords = %q, want %q", got, want)
	}
}

// FuzzLoad loads arbitrary jail.local files over the built-in
// configuration, looking for panics and for problems without a place.
func FuzzLoad(f *testing.F) {
	f.Add("[pexiprp]\nmaxretry = 3\n")
	f.Add("[DEFAULT]\nbantime = 1h\n[x]\nenabled = true\nfilter = pexiprp[a=%(b)s]\nb = <c>\nc = <b>\naction = log[x=1]\n  nftables\n")
	f.Add("[x]\nenabled = 1\nfilter = pexiprp\nfailregex = %(known/failregex)s\n  <HOST>\nlogpath = /a tail\n")
	builtinConf, err := fs.ReadFile(builtin.FS(), "jail.conf")
	if err != nil {
		f.Fatal(err)
	}
	filter, err := fs.ReadFile(builtin.FS(), "filter.d/pexiprp.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, local string) {
		files := testFS("jail.conf", string(builtinConf), "filter.d/pexiprp.conf", string(filter), "jail.local", local)
		cfg, err := Load("", Options{Builtin: files})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range cfg.Problems {
			if p.File == "" || p.Msg == "" {
				t.Errorf("problem without a place: %+v", p)
			}
		}
		for _, j := range cfg.Enabled() {
			if j.Filter == nil {
				t.Errorf("jail %s enabled without a filter", j.Name)
			}
		}
	})
}

package config

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/testenv"
)

const fail2banClient = "/usr/bin/fail2ban-client"

// copyTree copies directory src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// f2bJail is what fail2ban's command stream says about one jail.
type f2bJail struct {
	configError  string
	backend      string
	failregex    []string
	ignoreregex  []string
	prefregex    string
	maxlines     int
	datepattern  string
	usedns       string
	journalmatch []string
	logpaths     []LogPath
	ignoreip     []string
	set          map[string]any // the other "set jail opt value" commands
	actions      []f2bAction
}

type f2bAction struct {
	name  string
	props map[string]any
}

var configErrorJail = regexp.MustCompile(`^Jail '([^']*)' skipped`)

// fail2banStream runs fail2ban-client -d on configuration dir and returns
// its command stream per jail.
func fail2banStream(t *testing.T, dir string) map[string]*f2bJail {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(fail2banClient, "-c", dir, "-d")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v\n%s", err, stderr.Bytes())
	}
	// Each line is a Python literal; Python turns them into JSON.
	var cmds [][]any
	runFail2banPython(t, `
import ast, json, sys
lines = json.load(sys.stdin)
json.dump([ast.literal_eval(l) for l in lines if l.startswith("[")], sys.stdout)
`, strings.Split(string(out), "\n"), &cmds)

	jails := make(map[string]*f2bJail)
	get := func(name string) *f2bJail {
		if jails[name] == nil {
			jails[name] = &f2bJail{maxlines: 1, usedns: "warn", set: make(map[string]any)}
		}
		return jails[name]
	}
	str := func(v any) string { return fmt.Sprint(v) }
	strs := func(v any) []string {
		if l, ok := v.([]any); ok {
			var out []string
			for _, e := range l {
				out = append(out, str(e))
			}
			return out
		}
		return []string{str(v)}
	}
	for _, c := range cmds {
		switch {
		case c[0] == "config-error":
			m := configErrorJail.FindStringSubmatch(str(c[1]))
			if m == nil {
				t.Fatalf("unexpected config-error %q", c[1])
			}
			get(m[1]).configError = str(c[1])
		case c[0] == "add":
			get(str(c[1])).backend = str(c[2])
		case c[0] == "start" || len(c) < 4:
			// global settings, start commands
		default:
			j := get(str(c[1]))
			opt, args := str(c[2]), c[3:]
			switch opt {
			case "addfailregex":
				j.failregex = append(j.failregex, strs(args[0])...)
			case "addignoreregex":
				j.ignoreregex = append(j.ignoreregex, strs(args[0])...)
			case "prefregex":
				j.prefregex = str(args[0])
			case "maxlines":
				j.maxlines, _ = strconv.Atoi(str(args[0]))
			case "datepattern":
				j.datepattern = str(args[0])
			case "usedns":
				j.usedns = str(args[0])
			case "addjournalmatch":
				j.journalmatch = append(j.journalmatch, strings.Join(strs(args), " "))
			case "addlogpath":
				j.logpaths = append(j.logpaths, LogPath{Path: str(args[0]), Tail: str(args[1]) == "tail"})
			case "addignoreip":
				j.ignoreip = strs(args)
			case "addaction":
				j.actions = append(j.actions, f2bAction{name: str(args[0]), props: make(map[string]any)})
			case "action":
				a := &j.actions[len(j.actions)-1]
				if c[0] == "multi-set" {
					for _, kv := range args[1].([]any) {
						kv := kv.([]any)
						a.props[str(kv[0])] = kv[1]
					}
				} else {
					a.props[str(args[1])] = args[2]
				}
			default:
				j.set[opt] = args[0]
			}
		}
	}
	return jails
}

// compareWithFail2ban loads dir and requires every jail to match what
// fail2ban makes of it.
func compareWithFail2ban(t *testing.T, dir string) *Config {
	t.Helper()
	want := fail2banStream(t, dir)
	cfg, err := Load(dir, Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Problems {
		if p.Severity == SeverityError {
			t.Logf("problem: %s", p)
		}
	}
	enabled := 0
	for _, j := range cfg.Jails {
		w := want[j.Name]
		if !j.Enabled {
			if w != nil {
				t.Errorf("jail %s: disabled here, fail2ban runs it", j.Name)
			}
			continue
		}
		enabled++
		if w == nil {
			t.Errorf("jail %s: enabled here, not in fail2ban's stream", j.Name)
			continue
		}
		t.Run(j.Name, func(t *testing.T) { compareJail(t, j, w) })
	}
	if enabled != len(want) {
		t.Errorf("%d jails enabled here, fail2ban has %d", enabled, len(want))
	}
	return cfg
}

func compareJail(t *testing.T, j *Jail, w *f2bJail) {
	if w.configError != "" || j.Err != nil {
		if w.configError == "" || j.Err == nil {
			t.Errorf("error here: %v; fail2ban: %q", j.Err, w.configError)
		}
		return
	}
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got  %q\n want %q", what, got, want)
		}
	}
	f := j.Filter
	patterns := func(rs []Regex) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Pattern)
		}
		return out
	}
	backend := j.Backend
	if len(j.BackendOptions) > 0 {
		backend = w.backend // compared below, parameter by parameter
		_, params, err := ParseNameParams(w.backend)
		if err != nil || fmt.Sprint(params) != fmt.Sprint(j.BackendOptions) {
			t.Errorf("backend options %v, fail2ban %q", j.BackendOptions, w.backend)
		}
	}
	check("backend", backend, strings.ToLower(w.backend))
	check("failregex", patterns(f.FailRegex), w.failregex)
	check("ignoreregex", patterns(f.IgnoreRegex), w.ignoreregex)
	pref := ""
	if f.PrefRegex != nil {
		pref = f.PrefRegex.Pattern
	}
	check("prefregex", pref, w.prefregex)
	check("maxlines", f.MaxLines, w.maxlines)
	check("datepattern", f.DatePattern, w.datepattern)
	check("usedns", j.UseDNS, w.usedns)
	check("journalmatch", f.JournalMatch, w.journalmatch)
	check("logpath", j.LogPaths, w.logpaths)
	check("ignoreip", j.IgnoreIP, w.ignoreip)
	for opt, v := range w.set {
		s := fmt.Sprint(v)
		switch opt {
		case "maxretry":
			check(opt, j.MaxRetry, s)
		case "maxmatches":
			check(opt, j.MaxMatches, s)
		case "findtime", "bantime", "bantime.maxtime", "bantime.rndtime":
			d, err := ParseDuration(s)
			if err != nil {
				t.Errorf("%s %q: %v", opt, s, err)
			}
			got := map[string]time.Duration{"findtime": j.FindTime, "bantime": j.BanTime,
				"bantime.maxtime": j.Increment.MaxTime, "bantime.rndtime": j.Increment.RndTime}[opt]
			if opt == "bantime" && d != Permanent {
				d = d.Truncate(time.Second)
			}
			check(opt, got, d)
		case "ignorecommand":
			check(opt, j.IgnoreCommand, s)
		case "logencoding":
			check(opt, j.LogEncoding, s)
		case "logtimezone":
			check(opt, j.LogTimezone, s)
		case "ignoreself":
			check(opt, j.IgnoreSelf, v)
		case "bantime.increment":
			check(opt, j.Increment.Enabled, v)
		case "bantime.overalljails":
			check(opt, j.Increment.OverallJails, v)
		case "bantime.factor":
			check(opt, j.Increment.Factor, s)
		case "bantime.formula":
			check(opt, j.Increment.Formula, s)
		case "bantime.multipliers":
			var ms []string
			for _, m := range j.Increment.Multipliers {
				ms = append(ms, strconv.FormatFloat(m, 'f', -1, 64))
			}
			check(opt, strings.Join(ms, " "), strings.Join(strings.Fields(s), " "))
		default:
			check(opt, j.Options[opt], s)
		}
	}
	var names, wantNames []string
	for _, a := range j.Actions {
		names = append(names, a.ActName)
	}
	for _, a := range w.actions {
		wantNames = append(wantNames, a.name)
	}
	check("actions", names, wantNames)
	if !slices.Equal(names, wantNames) {
		return
	}
	for i, a := range j.Actions {
		if a.Builtin {
			continue // a file action to fail2ban, native to pinjail
		}
		got := make(map[string]string)
		for k, v := range a.Commands {
			got[k] = v
		}
		for k, v := range a.Params {
			got[k] = v
		}
		for fam, kv := range a.InitFamily {
			for k, v := range kv {
				got[k+"?family="+fam] = v
			}
		}
		want := make(map[string]string)
		for k, v := range w.actions[i].props {
			if b, ok := v.(bool); ok {
				v = strconv.FormatBool(b)
			}
			want[k] = fmt.Sprint(v)
		}
		for _, k := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, string) bool) {
			for k, v := range got {
				yield(k, v)
			}
			for k, v := range want {
				yield(k, v)
			}
		}))) {
			g, gok := got[k]
			w, wok := want[k]
			if g != w || gok != wok {
				t.Errorf("action %s option %s:\n got  %q (set %v)\n want %q (set %v)", a.ActName, k, g, gok, w, wok)
			}
		}
	}
}

// writeEnablingLocal writes a jail.local enabling jails with one test log.
func writeEnablingLocal(t *testing.T, dir string, jails []string, log string) {
	t.Helper()
	var b strings.Builder
	for _, name := range jails {
		fmt.Fprintf(&b, "[%s]\nenabled = true\nbackend = polling\nlogpath = %s\n\n", name, log)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadMatchesFail2banStock enables every jail of the installed
// fail2ban configuration and compares each with fail2ban's own reading.
func TestLoadMatchesFail2banStock(t *testing.T) {
	testenv.RequireFile(t, fail2banClient)
	testenv.RequireFile(t, "/etc/fail2ban/jail.conf")
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "fail2ban")
	copyTree(t, "/etc/fail2ban", dir)
	log := filepath.Join(tmp, "test.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stock, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range stock.Jails {
		names = append(names, j.Name)
	}
	if len(names) < 50 {
		t.Fatalf("only %d jails in the stock configuration", len(names))
	}
	writeEnablingLocal(t, dir, names, log)
	cfg := compareWithFail2ban(t, dir)
	if n := len(cfg.Enabled()); n != len(names) {
		t.Errorf("%d of %d jails usable", n, len(names))
	}
}

// TestLoadMatchesFail2banFeatures layers testdata/fail2ban-features over
// the installed configuration: jails, filters and actions written to
// exercise includes, .local and .d files, %(known/...)s, parameters,
// conditional [Init] sections, tags and the jail's overrides of its filter.
func TestLoadMatchesFail2banFeatures(t *testing.T) {
	testenv.RequireFile(t, fail2banClient)
	testenv.RequireFile(t, "/etc/fail2ban/jail.conf")
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "fail2ban")
	copyTree(t, "/etc/fail2ban", dir)
	copyTree(t, "testdata/fail2ban-features", dir)
	log := filepath.Join(tmp, "test.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The overlay names its log file @LOG@.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("@LOG@")) {
			return err
		}
		return os.WriteFile(p, bytes.ReplaceAll(data, []byte("@LOG@"), []byte(log)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	compareWithFail2ban(t, dir)
}

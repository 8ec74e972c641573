package filter

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/backtrack"
	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/rplog"
	"github.com/pinjail/pinjail/internal/testenv"
)

// filterRegex is one regex as the filter hands it to regexp.Compile.
type filterRegex struct {
	from string // filter, and which of its regexes
	text string
}

// expandedRegexes returns the regexes of the filters named, read from dir
// (the built-in ones when dir is ""), as New expands and translates them,
// each text once, and how many more need regexp2. Filters that do not load
// are left out; modes are the values of the mode parameter to read each
// filter with besides its default.
func expandedRegexes(t *testing.T, dir string, names, modes []string, seen map[string]bool) (res []filterRegex, backtracking int) {
	t.Helper()
	opts := config.Options{Builtin: builtin.FS()}
	for _, name := range names {
		specs := []string{name}
		for _, mode := range modes {
			specs = append(specs, name+"[mode="+mode+"]")
		}
		for _, s := range specs {
			spec, _, err := config.LoadFilter(dir, s, opts)
			if err != nil {
				continue
			}
			// The kinds of regex, compiled as New compiles them.
			type kind struct {
				name      string
				regexes   []config.Regex
				multiline bool
			}
			kinds := []kind{{"failregex", spec.FailRegex, spec.MaxLines > 1}, {"ignoreregex", spec.IgnoreRegex, false}}
			if spec.PrefRegex != nil && spec.PrefRegex.Pattern != "" {
				kinds = append(kinds, kind{"prefregex", []config.Regex{*spec.PrefRegex}, false})
			}
			for _, k := range kinds {
				for _, re := range k.regexes {
					for _, useDNS := range []string{"warn", "no"} {
						r, _, err := compile(re.Pattern, compileOptions{useDNS: useDNS, multiline: k.multiline, timeout: time.Second})
						switch {
						case err != nil:
						case r.std == nil:
							if !seen[r.pattern] {
								seen[r.pattern] = true
								backtracking++
							}
						case !seen[r.std.String()]:
							seen[r.std.String()] = true
							res = append(res, filterRegex{from: s + " " + k.name, text: r.std.String()})
						}
					}
				}
			}
		}
	}
	return res, backtracking
}

// sampleLines returns the lines of the sample logs under dir, each ending
// in "\n" as in the buffer regexes see, and each pair of consecutive lines,
// as a multi-line buffer holds them.
func sampleLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	var lines [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		file := bytes.SplitAfter(data, []byte("\n"))
		for i, l := range file {
			if len(l) == 0 {
				continue
			}
			if !bytes.HasSuffix(l, []byte("\n")) {
				l = append(l, '\n')
			}
			lines = append(lines, l)
			if i+1 < len(file) && len(file[i+1]) > 0 {
				lines = append(lines, slices.Concat(l, file[i+1]))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// rpLogLines returns lines of a generated Pexip reverse-proxy log.
func rpLogLines(t *testing.T, n int) [][]byte {
	t.Helper()
	log, err := rplog.Sample(n, time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), 7)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
}

// TestBacktrackAgreesWithRegexp compiles every regex of fail2ban's filters
// and of pinjail's built-in ones, as the filter expands them, with package
// backtrack, and checks that it finds what regexp finds on every line of
// fail2ban's sample logs and of a generated Pexip reverse-proxy log.
func TestBacktrackAgreesWithRegexp(t *testing.T) {
	// Where Debian's fail2ban package puts its filters and sample logs.
	const (
		confDir = "/etc/fail2ban"
		logDir  = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"
	)
	testenv.RequireFile(t, filepath.Join(confDir, "filter.d"))
	testenv.RequireFile(t, logDir)

	seen := map[string]bool{}
	var names []string
	files, err := filepath.Glob(filepath.Join(confDir, "filter.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".conf"))
	}
	regexes, backtracking := expandedRegexes(t, confDir, names, []string{"aggressive", "extra", "ddos", "more", "auth", "rbl", "errors"}, seen)
	builtinFiles, err := fs.Glob(builtin.FS(), "filter.d/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, f := range builtinFiles {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".conf"))
	}
	ours, _ := expandedRegexes(t, "", names, []string{"strict", "joins"}, seen)
	if len(ours) == 0 {
		t.Fatal("no built-in regex")
	}
	regexes = append(regexes, ours...)

	lines := append(sampleLines(t, logDir), rpLogLines(t, 3000)...)
	if testing.Short() {
		lines = lines[:len(lines)/8]
	}
	var m backtrack.Machine
	accepted, refused, compared := 0, 0, 0
	for _, r := range regexes {
		re, err := backtrack.Compile(r.text)
		if err != nil {
			t.Logf("%s %q: refused: %v", r.from, r.text, err)
			refused++
			continue
		}
		accepted++
		std := regexp.MustCompile(r.text)
		for _, line := range lines {
			want := std.FindSubmatchIndex(line)
			got, err := m.FindSubmatchIndex(re, line, nil)
			if err != nil {
				continue
			}
			compared++
			if !slices.Equal(got, want) {
				t.Errorf("%s %q on %q: backtrack %v, regexp %v", r.from, r.text, line, got, want)
			}
		}
	}
	t.Logf("%d regexes: backtrack accepts %d, refuses %d; %d more run on regexp2; %d lines, %d searches compared",
		len(regexes), accepted, refused, backtracking, len(lines), compared)
	if refused > 0 {
		t.Errorf("backtrack refused %d regexes regexp compiles", refused)
	}
}

// TestPexiprpBenchmarkRegexes checks that the regexes package backtrack
// benchmarks are those of the built-in pexiprp filter.
func TestPexiprpBenchmarkRegexes(t *testing.T) {
	data, err := os.ReadFile("../backtrack/testdata/pexiprp.txt")
	if err != nil {
		t.Fatal(err)
	}
	regexes, _ := expandedRegexes(t, "", []string{"pexiprp"}, nil, map[string]bool{})
	var got []string
	for _, r := range regexes {
		if strings.Contains(r.from, "failregex") {
			got = append(got, r.text)
		}
	}
	want := strings.Split(strings.TrimSpace(string(data)), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("pexiprp's failregexes expand to\n%s\nbut ../backtrack/testdata/pexiprp.txt has\n%s", strings.Join(got, "\n"), data)
	}
}

// TestMatchLongLine checks that a line too long for package backtrack is
// matched by regexp, with the same groups.
func TestMatchLongLine(t *testing.T) {
	r, _, err := compile(`^<ADDR> - \S+ \[[^\]]*\]\s+"POST /<F-ALIAS>[^/"\s?]+</F-ALIAS>/t HTTP/\d(?:\.\d)?" 403 \d+ "[^"]*"$`, compileOptions{useDNS: "no"})
	if err != nil {
		t.Fatal(err)
	}
	if r.fast == nil {
		t.Fatal("package backtrack refused the regex")
	}
	var m matcher
	for _, n := range []int{100, r.fast.MaxInputLen() + 1} {
		head := `192.0.2.7 - - [14/May/2024:09:20:02 +0000]  "POST /meet/t HTTP/1.1" 403 46 "`
		line := []byte(head + strings.Repeat("x", n-len(head)-2) + "\"\n")
		ok, err := m.match(r, line)
		if err != nil || !ok {
			t.Fatalf("%d bytes: match %v, %v", len(line), ok, err)
		}
		if addr, _ := m.group(line, slices.Index(r.names, "ip4")); addr != "192.0.2.7" {
			t.Errorf("%d bytes: ip4 %q", len(line), addr)
		}
		if alias, _ := m.group(line, slices.Index(r.names, "alias")); alias != "meet" {
			t.Errorf("%d bytes: alias %q", len(line), alias)
		}
	}
}

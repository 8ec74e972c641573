package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestCheckGolden runs `pinjail check` on configuration directories under
// testdata/check, whose jail.conf hides the built-in one, and compares the
// output with the .golden file beside each.
func TestCheckGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "check", "*", "jail.conf"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no configurations under testdata/check: %v", err)
	}
	for _, conf := range dirs {
		dir := filepath.Dir(conf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs([]string{"check", "--all", "--log-level", "error", "-c", dir})
			if err := root.Execute(); err != nil {
				t.Fatalf("check: %v\n%s", err, out.String())
			}
			golden := dir + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("output differs from %s (rerun with -update to accept):\n%s", golden, got)
			}
		})
	}
}

func TestPINJailGroups(t *testing.T) {
	pin := &config.Filter{Name: "pexiprp", FailRegex: []config.Regex{{Pattern: `"POST /api/client/v2/conferences/<F-ALIAS>[^/]+</F-ALIAS>/request_token HTTP/\d\.\d" 403 `}}}
	scan := &config.Filter{Name: "pexip-aliasscan", FailRegex: []config.Regex{{Pattern: `"POST /api/client/v2/conferences/<F-ALIAS>[^/]+</F-ALIAS>/request_token HTTP/\d\.\d" 404 `}}}
	other := &config.Filter{Name: "nginx-403", FailRegex: pin.FailRegex}
	jail := func(name string, f *config.Filter, logs ...string) *config.Jail {
		j := &config.Jail{Name: name, Filter: f, Backend: "auto"}
		for _, l := range logs {
			j.LogPaths = append(j.LogPaths, config.LogPath{Path: l})
		}
		return j
	}
	tests := []struct {
		name  string
		jails []*config.Jail
		want  string
	}{
		{"one", []*config.Jail{jail("a", pin, "x")}, "a"},
		{"shared log", []*config.Jail{jail("a", pin, "x"), jail("b", pin, "y", "x")}, "a b"},
		{"separate logs", []*config.Jail{jail("a", pin, "x"), jail("b", pin, "y")}, "a | b"},
		{"bridged", []*config.Jail{jail("a", pin, "x"), jail("b", pin, "y"), jail("c", pin, "y", "x")}, "a b c"},
		{"journal", []*config.Jail{jail("a", pin), jail("b", pin)}, "a b"},
		{"not PINs", []*config.Jail{jail("a", scan, "x"), jail("b", other, "x"), jail("c", pin, "x")}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var groups []string
			for _, g := range pinJailGroups(tt.jails) {
				var names []string
				for _, j := range g {
					names = append(names, j.Name)
				}
				groups = append(groups, strings.Join(names, " "))
			}
			if got := strings.Join(groups, " | "); got != tt.want {
				t.Errorf("pinJailGroups() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApproxDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		d    time.Duration
		want string
	}{
		{4 * time.Second, "4.00 seconds"},
		{89 * time.Second, "89.0 seconds"},
		{90 * time.Second, "1.50 minutes"},
		{5 * time.Hour, "5.00 hours"},
		{299_700 * time.Second, "3.47 days"},
		{29_999_700 * time.Second, "347 days"},
		{600 * day, "1.64 years"},
	}
	for _, tt := range tests {
		if got := approxDuration(tt.d.Seconds()); got != tt.want {
			t.Errorf("approxDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestThousandsAndOdds(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 5_000: "5,000", 50_000_000: "50,000,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for p, want := range map[float64]string{5e-4: "a 1 in 2,000 chance", 6e-4: "about a 1 in 1,667 chance"} {
		if got := odds(p); got != want {
			t.Errorf("odds(%v) = %q, want %q", p, got, want)
		}
	}
}

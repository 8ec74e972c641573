package config

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseNameParams(t *testing.T) {
	tests := []struct {
		in     string
		name   string
		params map[string]string
	}{
		{"sshd", "sshd", map[string]string{}},
		{"sshd[mode=aggressive]", "sshd", map[string]string{"mode": "aggressive"}},
		{`iptables[port="80,443", protocol=tcp]`, "iptables", map[string]string{"port": "80,443", "protocol": "tcp"}},
		{`a[x='q, r', y= spaced ]`, "a", map[string]string{"x": "q, r", "y": "spaced"}},
		{"a[x=1][x=2, y=3]", "a", map[string]string{"x": "2", "y": "3"}},
		{"a[x=1] [y=2]  ", "a", map[string]string{"x": "1", "y": "2"}},
		{"systemd[journalflags=1, journalpath=/run/log]", "systemd", map[string]string{"journalflags": "1", "journalpath": "/run/log"}},
		{"a[x=1,]", "a", map[string]string{"x": "1"}},
		{"a[]", "a", map[string]string{}},
		{"a[x=line1\nline2]", "a", map[string]string{"x": "line1\nline2"}},
		{`a[x= "quoted"]`, "a", map[string]string{"x": `"quoted"`}},
	}
	for _, tt := range tests {
		name, params, err := ParseNameParams(tt.in)
		if err != nil || name != tt.name || !maps.Equal(params, tt.params) {
			t.Errorf("ParseNameParams(%q) = %q, %v, %v; want %q, %v", tt.in, name, params, err, tt.name, tt.params)
		}
	}
	for _, bad := range []string{"", "[x=1]", "a[x=1", "a[x=1]b", `a["x"=1]`, "a[x = 1]", `a[x="1" , y=2]`, "a[x=1]]"} {
		if name, params, err := ParseNameParams(bad); err == nil {
			t.Errorf("ParseNameParams(%q) = %q, %v; want an error", bad, name, params)
		}
	}
}

func TestSplitActions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"iptables", []string{"iptables"}},
		{"a\nb[x=1]", []string{"a", "b[x=1]"}},
		{"a[x=1,\n  y=2]\n b", []string{"a[x=1,\n  y=2]", "b"}},
		{`a[x="s p a c e s"] b`, []string{`a[x="s p a c e s"]`, "b"}},
		{"a b", []string{"a", "b"}},
		{"a[x y] z", []string{"a[x", "y]", "z"}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := splitActions(tt.in)
		for i := range got {
			got[i] = strings.TrimSpace(got[i])
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitActions(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// pyOptions prints fail2ban's extractOptions and splitWithOptions results.
const pyOptions = `
import json, sys
from fail2ban.helpers import extractOptions, splitWithOptions
out = []
for s in json.load(sys.stdin):
    r = {"split": splitWithOptions(s)}
    try:
        name, opts = extractOptions(s)
        r["name"] = name
        r["opts"] = [[k, v] for k, v in opts.items()]
    except ValueError as e:
        r["err"] = str(e)
    out.append(r)
json.dump(out, sys.stdout)
`

// TestParamsMatchFail2ban compares ParseNameParams and splitActions with
// fail2ban's extractOptions and splitWithOptions on generated input.
func TestParamsMatchFail2ban(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "sshd", "x", "-", ".", "_", "=", "[", "]", "][", "] [", ",", " ", "  ", "\n", "\n  ",
		`"`, `'`, `"q,r"`, `'s t'`, "1", "é", "\u00a0", "\t", "port", "=80", "[port=80]", "[x=1, y=2]", "%"}
	inputs := []string{"", "sshd", "sshd[mode=aggressive]", "a[x=1]\nb[y=2]", "a[x=1,\n y=2] b"}
	for range 4000 {
		var b strings.Builder
		for n := 1 + rng.IntN(8); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		inputs = append(inputs, b.String())
	}
	var want []struct {
		Split []string    `json:"split"`
		Name  string      `json:"name"`
		Opts  [][2]string `json:"opts"`
		Err   string      `json:"err"`
	}
	runFail2banPython(t, pyOptions, inputs, &want)
	failures := 0
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		if failures++; failures > 20 {
			t.Fatal("too many differences")
		}
	}
	for i, in := range inputs {
		w := want[i]
		split, err := splitActions(in)
		if err != nil || !slices.Equal(split, w.Split) && !(len(split) == 0 && len(w.Split) == 0) {
			fail("splitActions(%q) = %q, %v; fail2ban gives %q", in, split, err, w.Split)
		}
		name, params, err := extractOptions(in)
		if (err != nil) != (w.Err != "") {
			fail("extractOptions(%q) error %v; fail2ban gives %q", in, err, w.Err)
			continue
		}
		if err != nil {
			continue
		}
		var got [][2]string
		for _, k := range params.keys {
			got = append(got, [2]string{k, params.m[k]})
		}
		if name != w.Name || fmt.Sprint(got) != fmt.Sprint(w.Opts) {
			fail("extractOptions(%q) = %q, %q; fail2ban gives %q, %q", in, name, got, w.Name, w.Opts)
		}
	}
}

func FuzzParseNameParams(f *testing.F) {
	for _, s := range []string{"sshd", "sshd[mode=aggressive]", `a[x="1,2", y='3'][z=4]`, "a[x=1,\n y=2]", "a[", "a[x=1]b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, params, err := ParseNameParams(s)
		if err != nil {
			return
		}
		if name == "" || strings.Contains(name, "[") {
			t.Errorf("ParseNameParams(%q) gave name %q", s, name)
		}
		for k := range params {
			if k == "" || strings.ContainsAny(k, "=[], ") {
				t.Errorf("ParseNameParams(%q) gave key %q", s, k)
			}
		}
		if _, err := splitActions(s); err != nil {
			t.Errorf("splitActions(%q): %v", s, err)
		}
	})
}

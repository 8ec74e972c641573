package filter

import (
	"fmt"
	"strings"
	"testing"
)

func clausesString(cs []clause) string {
	var parts []string
	for _, c := range cs {
		var alts []string
		for _, l := range c {
			alts = append(alts, string(l))
		}
		parts = append(parts, strings.Join(alts, "|"))
	}
	return strings.Join(parts, " & ")
}

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		name, pattern, want string
	}{
		{"concat", `^<HOST> - \S+ "POST /api/x" 403$`, ` "POST /api/x" 403 &  - `},
		{"alternation of literals", `^(?:Failed|Invalid) user <HOST>`, ` user  & Failed|Invalid`},
		{"optional part is not required", `^ab(?:cdef)? <HOST>`, `ab`},
		{"star is not required", `^(?:long literal)*<HOST>`, ``},
		{"plus keeps its literal", `^(?:long literal)+<HOST>`, `long literal`},
		{"case-insensitive letters dropped", `^(?i:denied) by <HOST>`, ` by `},
		{"case-insensitive digits kept", `^(?i:403) <HOST>`, `403 `},
		{"alternation with empty branch", `^(?:abc|) <HOST>`, ``},
		{"alternation of clauses", `^(?:x.*foo|y.*bar) <HOST>`, `foo|bar`},
		{"newline splits", `^abc<SKIPLINES>defg <HOST>`, `defg  & abc`},
		{"dollar adds nothing", `xyz$`, `xyz`},
		{"lookahead relaxed", `^(?!foo)bar <HOST>`, `bar `},
		{"backreference relaxed", `^(?P<a>\w+)--(?P=a) from <HOST>`, ` from  & --`},
		{"conditional relaxed", `^(?P<c>a)?(?(c)xyz|uvw) by <HOST>`, ` by `},
		{"repeat", `^(?:ab){2} <HOST>`, `abab `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := compile(tt.pattern, compileOptions{useDNS: "no", timeout: defaultRegexTimeout})
			if err != nil {
				t.Fatal(err)
			}
			if got := clausesString(r.clauses); got != tt.want {
				t.Errorf("clauses of %q = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestRelax(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a(?!b)c`, `ac`},
		{`a(?<=[)]b)c`, `ac`},
		{`(?>ab)`, `(?:ab)`},
		{`(?P<a>x)\k<a>`, `(?P<a>x)(?s:.*)`},
		{`(x)\12`, `(x)(?s:.*)`},
		{`(?(c)a|b)`, `(?:a|b|)`},
		{`(?(c)a(?=x))`, `(?:a|)`},
		{`[(?=]`, `[(?=]`},
	}
	for _, tt := range tests {
		if got := relax(tt.in); got != tt.want {
			t.Errorf("relax(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrefilter(t *testing.T) {
	compileAll := func(pats ...string) []*regex {
		var rs []*regex
		for _, p := range pats {
			r, _, err := compile(p, compileOptions{useDNS: "no", timeout: defaultRegexTimeout})
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	fail := compileAll(`^<HOST> "POST /x" 403$`, `^Failed password for .* from <HOST>$`)
	pref := compileAll(`^\S+ sshd\[\d+\]: (?P<content>.+)$`)[0]
	tests := []struct {
		name       string
		pref       *regex
		line       string
		start, end int // the date cut out
		want       bool
	}{
		{"first regex literals", nil, `1.2.3.4 "POST /x" 403`, 0, 0, true},
		{"second regex", nil, `Failed password for root from 1.2.3.4`, 0, 0, true},
		{"one literal of two", nil, `1.2.3.4 "POST /x" 200`, 0, 0, false},
		{"none", nil, `hello`, 0, 0, false},
		{"prefregex literal missing", pref, `Failed password for root from 1.2.3.4`, 0, 0, false},
		{"prefregex literal present", pref, `h sshd[1]: Failed password for root from 1.2.3.4`, 0, 0, true},
		{"literal joined by the cut date", nil, `1.2.3.4 "POST /[date]x" 403`, 15, 21, true},
		{"literal cut by the date", nil, `1.2.3.4 "POST /x" 403`, 14, 15, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPrefilter(tt.pref, fail, nil)
			if got := p.candidateCut([]byte(tt.line), tt.start, tt.end); got != tt.want {
				t.Errorf("candidateCut(%q, %d, %d) = %v, want %v (%s)", tt.line, tt.start, tt.end, got, tt.want, describe(p))
			}
		})
	}
	if p := newPrefilter(nil, compileAll(`^<HOST>`), nil); p != nil {
		t.Errorf("prefilter for a regex without literals: %s", describe(p))
	}
}

func describe(p *prefilter) string {
	needsString := func(ns []need) string {
		var parts []string
		for _, n := range ns {
			var alts []string
			for _, nd := range n {
				alts = append(alts, string(nd.text))
			}
			parts = append(parts, strings.Join(alts, "|"))
		}
		return strings.Join(parts, " & ")
	}
	s := "pref: " + needsString(p.pref) + "; common: " + needsString(p.common)
	for i, ns := range p.fail {
		s += fmt.Sprintf("; fail %d: %s", i, needsString(ns))
	}
	return s
}

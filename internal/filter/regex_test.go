package filter

import (
	"strings"
	"testing"
)

func TestExpandTags(t *testing.T) {
	tests := []struct {
		name, in, useDNS, want string
	}{
		{"host", `from <HOST>$`, "warn", `from ` + reHost + `$`},
		{"host without dns", `from <HOST>$`, "no", `from ` + reAddr + `$`},
		{"addr ignores usedns", `<ADDR>`, "yes", reAddr},
		{"ip tags", `<IP4> <IP6> <F-IP4/>`, "warn", reIP4 + " " + reIP6 + " " + reIP4},
		{"subnet and cidr", `<SUBNET> <ADDR>/<CIDR>`, "warn", reSubnet + " " + reAddr + "/" + reCIDR},
		{"fid and port", `<F-ID/>:<F-PORT/>`, "warn", `(?P<fid>\S+):(?P<fport>\w+)`},
		{"custom", `user <F-USER>\S+</F-USER>`, "warn", `user (?P<user>\S+)`},
		{"custom id maps to fid", `<F-ID>\S+</F-ID>`, "warn", `(?P<fid>\S+)`},
		{"custom with digits and dash", `<F-ALT_USER_1>x</F-ALT_USER_1>`, "warn", `(?P<alt_user_1>x)`},
		{"close without open stays", `a</F-USER>b`, "warn", `a</F-USER>b`},
		{"close repeats", `<F-X>a</F-X>b</F-X>`, "warn", `(?P<x>a)b)`},
		{"lower-case custom is no tag", `<F-user>`, "warn", `<F-user>`},
		{"unknown tag stays", `<foo> <F-USER/>`, "warn", `<foo> <F-USER/>`},
		{"named group untouched", `(?P<name>x)`, "warn", `(?P<name>x)`},
		{"skiplines numbered", `a<SKIPLINES>b<SKIPLINES>c`, "warn", `a\n(?P<skiplines0>(?:(?:.*\n)*?))b\n(?P<skiplines1>(?:(?:.*\n)*?))c`},
		{"lone brackets", `<<>> < HOST>`, "warn", `<<>> < HOST>`},
		{"no tags", `plain text`, "warn", `plain text`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expandTags(tt.in, tt.useDNS); got != tt.want {
				t.Errorf("expandTags(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLocalFlags(t *testing.T) {
	tests := []struct{ in, want string }{
		{`((?i)abc)`, `(?i:abc)`},
		{`(?:(?i)abc)`, `(?i:abc)`},
		{`x((?im)a|b)y`, `x(?im:a|b)y`},
		{`\((?i)abc)`, `\((?i)abc)`},
		{`(?i)abc`, `(?i)abc`},
		{`((?P<x>a))`, `((?P<x>a))`},
	}
	for _, tt := range tests {
		if got := localFlags(tt.in); got != tt.want {
			t.Errorf("localFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		multiline bool
		want      string
		backtrack bool
		names     []string
	}{
		{name: "dollar", in: `a$`, want: `a(?:\n?\z)`},
		{name: "dollar multiline", in: `a$`, multiline: true, want: `a$`},
		{name: "escaped dollar", in: `a\$`, want: `a\$`},
		{name: "dollar in class", in: `[$]`, want: `[$]`},
		{name: "end of string", in: `a\Z`, want: `a\z`},
		{name: "open lower bound", in: `\d{,3}`, want: `\d{0,3}`},
		{name: "open bounds", in: `a{,}`, want: `a{0,}`},
		{name: "plain repeats", in: `a{2} b{2,} c{1,2} d{} e{x}`, want: `a{2} b{2,} c{1,2} d{} e{x}`},
		{name: "named group", in: `(?P<user>\S+)`, want: `(?P<user>\S+)`, names: []string{"user"}},
		{name: "backreference", in: `(?P<a>x)(?P=a)`, want: `(?P<a>x)\k<a>`, backtrack: true, names: []string{"a"}},
		{name: "numbered backreference", in: `(x)\1`, want: `(x)\1`, backtrack: true},
		{name: "octal escape", in: `\101`, want: `\101`},
		{name: "comment", in: `a(?#note)b`, want: `ab`},
		{name: "lookahead", in: `a(?!b)`, want: `a(?!b)`, backtrack: true},
		{name: "lookbehind", in: `(?<=a)b`, want: `(?<=a)b`, backtrack: true},
		{name: "conditional", in: `(?P<c>x)?(?(c)y|z)`, want: `(?P<c>x)?(?(c)y|z)`, backtrack: true, names: []string{"c"}},
		{name: "unicode flag dropped", in: `(?u)a(?iu:b)(?a)c`, want: `a(?i:b)c`},
		{name: "flags kept", in: `(?i)a(?s:.)`, want: `(?i)a(?s:.)`},
		{name: "bracket in class", in: `[[:alpha:]]`, want: `[\[:alpha:]]`},
		{name: "leading bracket in class", in: `[]a] [^]a]`, want: `[\]a] [^\]a]`},
		{name: "backspace in class", in: `[\b]`, want: `[\x08]`},
		{name: "octal in class", in: `[\0\101]`, want: `[\x{0}\x{41}]`},
		{name: "unicode escapes", in: `\u00e9[\u00e8]\U0001F600`, want: `\x{00e9}[\x{00e8}]\x{0001F600}`},
		{name: "escaped non-ascii", in: `\é`, want: `é`},
		{name: "escaped punctuation", in: `\- \: \/ \"`, want: `\- \: \/ \"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := translate(tt.in, tt.multiline)
			if err != nil {
				t.Fatal(err)
			}
			if got.text != tt.want || got.backtrack != tt.backtrack || strings.Join(got.names, ",") != strings.Join(tt.names, ",") {
				t.Errorf("translate(%q) = %q backtrack=%v names=%v, want %q %v %v", tt.in, got.text, got.backtrack, got.names, tt.want, tt.backtrack, tt.names)
			}
		})
	}
}

func TestTranslateErrors(t *testing.T) {
	for _, in := range []string{`(?P<a>x)(?P<a>y)`, `<HOST> <HOST>`, `(?P<a`, `(?P=a`, `(?#a`} {
		if _, err := translate(expandTags(in, "warn"), false); err == nil {
			t.Errorf("translate(%q): no error", in)
		}
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		pattern  string
		fellBack bool
		wantErr  string
	}{
		{pattern: `^<HOST>$`},
		{pattern: `^(?:(?!x).)*<HOST>`, fellBack: true},
		{pattern: `^(?P<a>\w)(?P=a) <HOST>`, fellBack: true},
		{pattern: `a{2000} <HOST>`, fellBack: true},
		{pattern: ` `, wantErr: "empty regex"},
		{pattern: `(<HOST>`, wantErr: "missing closing )"},
		{pattern: `<HOST> <ADDR>`, wantErr: "redefinition"},
	}
	for _, tt := range tests {
		r, fellBack, err := compile(tt.pattern, compileOptions{useDNS: "warn", timeout: defaultRegexTimeout})
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("compile(%q) error %v, want %q", tt.pattern, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("compile(%q): %v", tt.pattern, err)
		case fellBack != tt.fellBack || (r.bt != nil) != tt.fellBack:
			t.Errorf("compile(%q): fell back %v, want %v", tt.pattern, fellBack, tt.fellBack)
		}
	}
}

func TestComplexName(t *testing.T) {
	tests := []struct {
		group, field string
		ok           bool
	}{
		{"alt_user", "user", true},
		{"alt_user_1", "user", true},
		{"alt_user1", "user1", true},
		{"tuple_id", "fid", true},
		{"tuple_id_2", "fid", true},
		{"tuple_port_10", "fport", true},
		{"alt_", "", false},
		{"user", "", false},
		{"alt_a_b_1", "a_b", true},
	}
	for _, tt := range tests {
		g, ok := complexName(tt.group)
		if ok != tt.ok || g.field != tt.field {
			t.Errorf("complexName(%q) = %q %v, want %q %v", tt.group, g.field, ok, tt.field, tt.ok)
		}
	}
}

// TestPythonSemantics checks matches that depend on translating Python's
// regex semantics, on both engines. The buffer is a line plus the final
// "\n" fail2ban adds.
func TestPythonSemantics(t *testing.T) {
	tests := []struct {
		name      string
		pattern   string
		multiline bool
		buf       string
		match     bool
		group     string // "name=value" expected
	}{
		{name: "dollar before final newline", pattern: `^a (?P<x>\S+)$`, buf: "a b\n", match: true, group: "x=b"},
		{name: "dollar not before inner newline", pattern: `^a$`, buf: "a\nb\n", match: false},
		{name: "greedy class takes final newline", pattern: `: (?P<x>[^:]+)$`, buf: "u: bob\n", match: true, group: "x=bob\n"},
		{name: "space before end", pattern: `x\s$`, buf: "x\n", match: true},
		{name: "multiline dollar", pattern: `^a$\nb$`, multiline: true, buf: "a\nb\n", match: true},
		{name: "caret only at start", pattern: `b^`, buf: "ab\n", match: false},
		{name: "open lower bound", pattern: `^\d{,3}x`, buf: "12x\n", match: true},
		{name: "open lower bound is not literal", pattern: `^\d{,3}x`, buf: "{,3}x\n", match: false},
		{name: "backtracking dollar", pattern: `^a(?!c)(?P<x>\S+)$`, buf: "ab\n", match: true, group: "x=b"},
		{name: "backtracking conditional", pattern: `^(?P<q>")?(?P<x>\w+)(?(q)")$`, buf: "\"ab\"\n", match: true, group: "x=ab"},
		{name: "backreference", pattern: `^(?P<a>\w+) (?P=a)$`, buf: "xy xy\n", match: true, group: "a=xy"},
		{name: "backreference mismatch", pattern: `^(?P<a>\w+) (?P=a)$`, buf: "xy xz\n", match: false},
		{name: "global flag in group", pattern: `^((?i)abc) (?P<x>d)`, buf: "ABC d\n", match: true, group: "x=d"},
		{name: "unicode in class", pattern: `^(?P<x>[é]+)$`, buf: "éé\n", match: true, group: "x=éé"},
		{name: "non-ascii group offsets on backtracking engine", pattern: `^é(?=.)(?P<x>\S+)`, buf: "éñb\n", match: true, group: "x=ñb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := compile(tt.pattern, compileOptions{useDNS: "warn", multiline: tt.multiline, timeout: defaultRegexTimeout})
			if err != nil {
				t.Fatal(err)
			}
			var m matcher
			ok, err := m.match(r, []byte(tt.buf))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.match {
				t.Fatalf("match %q on %q = %v, want %v", tt.pattern, tt.buf, ok, tt.match)
			}
			if tt.group == "" {
				return
			}
			name, want, _ := strings.Cut(tt.group, "=")
			for i, n := range r.names {
				if n == name {
					if got, _ := m.group([]byte(tt.buf), i); got != want {
						t.Errorf("group %s = %q, want %q", name, got, want)
					}
					return
				}
			}
			t.Errorf("no group %s", name)
		})
	}
}

package shellcmd

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/testenv"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		command string
		tags    map[string]string
		script  string
		args    []string
	}{
		{
			name:    "no tags",
			command: "iptables -w -N f2b-sshd",
			script:  "iptables -w -N f2b-sshd",
		},
		{
			name:    "unquoted",
			command: "iptables -I f2b-sshd 1 -s <ip> -j REJECT",
			tags:    map[string]string{"ip": "192.0.2.1"},
			script:  "f2bV_ip=${1}\niptables -I f2b-sshd 1 -s \"${f2bV_ip}\" -j REJECT",
			args:    []string{"192.0.2.1"},
		},
		{
			name:    "double quotes",
			command: `printf %b "Banned <ip> after <failures> attempts\n"`,
			tags:    map[string]string{"ip": "192.0.2.1", "failures": "5"},
			script:  "f2bV_ip=${1} f2bV_failures=${2}\nprintf %b \"Banned ${f2bV_ip} after ${f2bV_failures} attempts\\n\"",
			args:    []string{"192.0.2.1", "5"},
		},
		{
			name:    "single quotes",
			command: `if [ '<restored>' = '1' ]; then exit 0; fi`,
			tags:    map[string]string{"restored": "0"},
			script:  "f2bV_restored=${1}\nif [ ''\"${f2bV_restored}\"'' = '1' ]; then exit 0; fi",
			args:    []string{"0"},
		},
		{
			name:    "repeated tag is one argument",
			command: "echo <ip> <ip>",
			tags:    map[string]string{"ip": "::1"},
			script:  "f2bV_ip=${1}\necho \"${f2bV_ip}\" \"${f2bV_ip}\"",
			args:    []string{"::1"},
		},
		{
			name:    "names with non-word characters",
			command: "echo <ip-rev> <jail.banned> <ip_rev>",
			tags:    map[string]string{"ip-rev": "1.2.0.192.in-addr.arpa.", "jail.banned": "3", "ip_rev": "x"},
			script:  "f2bV_ip_rev=${1} f2bV_jail_banned=${2} f2bV_ip_rev_2=${3}\necho \"${f2bV_ip_rev}\" \"${f2bV_jail_banned}\" \"${f2bV_ip_rev_2}\"",
			args:    []string{"1.2.0.192.in-addr.arpa.", "3", "x"},
		},
		{
			name:    "field tags",
			command: "echo <F-USER> <F-ID> <F-MISSING>",
			tags:    map[string]string{"F-user": "bob", "F-fid": "42"},
			script:  "f2bV_F_USER=${1} f2bV_F_ID=${2} f2bV_F_MISSING=${3}\necho \"${f2bV_F_USER}\" \"${f2bV_F_ID}\" \"${f2bV_F_MISSING}\"",
			args:    []string{"bob", "42", ""},
		},
		{
			name:    "unknown tags and builtins",
			command: "cat <STDIN><br>echo<sp>a < b > c <<sender>>",
			script:  "cat <STDIN>\necho a < b > c <<sender>>",
		},
		{
			name:    "command substitution and backquotes",
			command: "x=$(echo '<ip>' <ip>) y=`echo <ip>` z=\"$(echo <ip>)\"",
			tags:    map[string]string{"ip": "v"},
			script:  "f2bV_ip=${1}\nx=$(echo ''\"${f2bV_ip}\"'' \"${f2bV_ip}\") y=`echo \"${f2bV_ip}\"` z=\"$(echo \"${f2bV_ip}\")\"",
			args:    []string{"v"},
		},
		{
			name:    "here-documents",
			command: "cat <<EOF\nip '<ip>'\nEOF\ncat <<'X'\n<ip>\nX\necho <ip>",
			tags:    map[string]string{"ip": "v"},
			script:  "f2bV_ip=${1}\ncat <<EOF\nip '${f2bV_ip}'\nEOF\ncat <<'X'\n${f2bV_ip}\nX\necho \"${f2bV_ip}\"",
			args:    []string{"v"},
		},
		{
			name:    "comment and escapes",
			command: "echo \\'<ip> # it's <ip>\necho \"\\\"<ip>\"",
			tags:    map[string]string{"ip": "v"},
			script:  "f2bV_ip=${1}\necho \\'\"${f2bV_ip}\" # it's ${f2bV_ip}\necho \"\\\"${f2bV_ip}\"",
			args:    []string{"v"},
		},
		{
			name:    "arithmetic",
			command: "echo $(( <bantime> * 2 )) '<ip>'",
			tags:    map[string]string{"bantime": "600", "ip": "v"},
			script:  "f2bV_bantime=${1} f2bV_ip=${2}\necho $(( ${f2bV_bantime} * 2 )) ''\"${f2bV_ip}\"''",
			args:    []string{"600", "v"},
		},
		{
			name:    "NUL bytes dropped",
			command: "echo <matches>",
			tags:    map[string]string{"matches": "a\x00b"},
			script:  "f2bV_matches=${1}\necho \"${f2bV_matches}\"",
			args:    []string{"ab"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, args := Build(tt.command, tt.tags)
			if script != tt.script {
				t.Errorf("script:\n%s\nwant:\n%s", script, tt.script)
			}
			if !slices.Equal(args, tt.args) {
				t.Errorf("args %q, want %q", args, tt.args)
			}
		})
	}
}

func TestBuildCutsLongValues(t *testing.T) {
	long := strings.Repeat("é", maxArgLen) // 2 bytes each
	_, args := Build("echo <matches>", map[string]string{"matches": long})
	if len(args[0]) > maxArgLen || !strings.HasPrefix(long, args[0]) || len(args[0])%2 != 0 {
		t.Fatalf("cut to %d bytes", len(args[0]))
	}
}

func TestExpand(t *testing.T) {
	host := Hostnames{FQDN: "rp1.example.org", Short: "rp1"}
	tests := []struct {
		name    string
		command string
		params  map[string]string
		want    string
		err     bool
	}{
		{
			name:    "recursive parameters",
			command: "<iptables> -I <chain> -p <protocol> -j f2b-<name>",
			params:  map[string]string{"iptables": "iptables <lockingopt>", "lockingopt": "-w", "chain": "INPUT", "protocol": "tcp", "name": "sshd"},
			want:    "iptables -w -I INPUT -p tcp -j f2b-sshd",
		},
		{
			name:    "dynamic tags stay",
			command: "<iptables> -s <ip> -j <blocktype> <F-USER>",
			params:  map[string]string{"iptables": "iptables", "blocktype": "REJECT --reject-with icmp-port-unreachable"},
			want:    "iptables -s <ip> -j REJECT --reject-with icmp-port-unreachable <F-USER>",
		},
		{
			name:    "static values are pasted verbatim",
			command: "<actionflush>",
			params:  map[string]string{"actionflush": "iptables -F f2b-<name>; echo $((1+1)) | cat"},
			want:    "iptables -F f2b-<name>; echo $((1+1)) | cat",
		},
		{
			name:    "builtins",
			command: "echo <fq-hostname><sp><sh-hostname><br>done",
			want:    "echo rp1.example.org rp1\ndone",
		},
		{
			name:    "a parameter overrides a builtin",
			command: "<sp>",
			params:  map[string]string{"sp": "_"},
			want:    "_",
		},
		{
			name:    "self reference",
			command: "<a>",
			params:  map[string]string{"a": "x<a>"},
			err:     true,
		},
		{
			name:    "mutual reference",
			command: "<a>",
			params:  map[string]string{"a": "<b>", "b": "<a>"},
			err:     true,
		},
		{
			name:    "unused self reference is harmless",
			command: "echo ok",
			params:  map[string]string{"a": "<a>"},
			want:    "echo ok",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.command, tt.params, host)
			if (err != nil) != tt.err {
				t.Fatalf("Expand error %v, want error %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Expand = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplace(t *testing.T) {
	got := Replace("<ip>-<F-USER>-<F-NONE>-<other><sp>x", map[string]string{"ip": "192.0.2.1", "F-user": "a;b"})
	if want := "192.0.2.1-a;b--<other> x"; got != want {
		t.Fatalf("Replace = %q, want %q", got, want)
	}
}

type fakeCNAME struct {
	name string
	err  error
}

func (f fakeCNAME) LookupCNAME(context.Context, string) (string, error) { return f.name, f.err }

func TestLookupHostnames(t *testing.T) {
	hostname := func() (string, error) { return "rp1", nil }
	tests := []struct {
		name string
		r    CNAMEResolver
		want Hostnames
	}{
		{"canonical name", fakeCNAME{name: "rp1.example.org."}, Hostnames{FQDN: "rp1.example.org", Short: "rp1"}},
		{"lookup fails", fakeCNAME{err: errors.New("no such host")}, Hostnames{FQDN: "rp1", Short: "rp1"}},
		{"no resolver", nil, Hostnames{FQDN: "rp1", Short: "rp1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookupHostnames(context.Background(), hostname, tt.r)
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := LookupHostnames(context.Background(), func() (string, error) { return "", errors.New("boom") }, nil); err == nil {
		t.Fatal("a failing hostname must fail")
	}
}

// hostile values, each trying to run `touch MARKER`.
func hostileValues(marker string) []string {
	return []string{
		"1.2.3.4; touch " + marker,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"x\ntouch " + marker,
		"x\r\ntouch " + marker + "\n",
		"'; touch " + marker + "; '",
		`"; touch ` + marker + `; "`,
		`\"; touch ` + marker + `; \"`,
		"'\"$(touch " + marker + ")\"'",
		"${x:=$(touch " + marker + ")}",
		"EOF\ntouch " + marker + "\nEOF",
		"X\ntouch " + marker,
		"* ? [a] ~ {a,b} | & > " + marker,
		"-n\techo\t$((1+1))",
		"",
	}
}

// injectionTemplates put <v> in every kind of place. Each prints the value
// in brackets; want gives the output for value v.
var injectionTemplates = []struct {
	tmpl string
	want func(v string) string
}{
	{`printf '[%s]\n' <v>`, bracket},
	{`printf '[%s]\n' "<v>"`, bracket},
	{`printf '[%s]\n' '<v>'`, bracket},
	{`printf '[%s]\n' x<v>x`, func(v string) string { return bracket("x" + v + "x") }},
	{`x='<v>'; printf '[%s]\n' "$x"`, bracket},
	{`printf '[%s]\n' "${unset:-<v>}"`, bracket},
	{"# a comment with <v>\nprintf '[%s]\\n' <v>", bracket},
	// Command substitution drops trailing newlines.
	{"printf '[%s]\\n' \"$(printf '%s' <v>)\"", trimmedBracket},
	{"printf '[%s]\\n' \"`printf '%s' \"<v>\"`\"", trimmedBracket},
	{"cat <<EOF\n[<v>]\nEOF", bracket},
	{"cat <<-EOF\n\t[<v>]\n\tEOF", bracket},
}

func bracket(v string) string        { return "[" + v + "]\n" }
func trimmedBracket(v string) string { return bracket(strings.TrimRight(v, "\n")) }

// TestBuildBlocksInjection runs hostile values through every template with
// the real /bin/sh: none may run its command, and each must come out intact.
func TestBuildBlocksInjection(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	for _, tc := range injectionTemplates {
		for _, v := range hostileValues(marker) {
			script, args := Build(tc.tmpl, map[string]string{"v": v})
			res, err := Run(context.Background(), script, args, 10*time.Second)
			if err != nil {
				t.Fatalf("template %q value %q: %v", tc.tmpl, v, err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("template %q value %q: the value ran a command\nscript:\n%s", tc.tmpl, v, script)
			}
			if want := tc.want(v); res.ExitCode != 0 || string(res.Output) != want {
				t.Errorf("template %q value %q: exit %d output %q, want %q\nscript:\n%s", tc.tmpl, v, res.ExitCode, res.Output, want, script)
			}
		}
	}
}

// TestShippedActionHelper runs fail2ban's own helpers-common.conf guard,
// which puts <restored> in single quotes, read from the installed package.
func TestShippedActionHelper(t *testing.T) {
	const path = "/etc/fail2ban/action.d/helpers-common.conf"
	testenv.RequireFile(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var guard string
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "_bypass_if_restored = "); ok {
			guard = strings.TrimSpace(v)
		}
	}
	if !strings.Contains(guard, "'<restored>'") {
		t.Skipf("%s: _bypass_if_restored no longer quotes <restored>: %q", path, guard)
	}
	for restored, want := range map[string]string{"0": "banned\n", "1": ""} {
		script, args := Build(guard+" echo banned", map[string]string{"restored": restored})
		res, err := Run(context.Background(), script, args, 10*time.Second)
		if err != nil || string(res.Output) != want {
			t.Fatalf("restored=%s: %q %v, want %q", restored, res.Output, err, want)
		}
	}
}

// FuzzBuild checks Build's central promise: the script does not depend on the
// values, only on the command and on which tags are present; and the values
// reach the arguments intact.
func FuzzBuild(f *testing.F) {
	for _, tc := range injectionTemplates {
		f.Add(tc.tmpl, "1.2.3.4; touch /tmp/x", "$(id)")
	}
	f.Add("cat <<'E'\n<v>\nE\n<w>", "a\nE\nb", "'")
	f.Add("echo <v><br><F-USER> '<w>' \"<v>\" `<w>` $(<v>) ${x:-<w>}", "\x00", "\\")
	f.Fuzz(func(t *testing.T, command, v, w string) {
		s1, a1 := Build(command, map[string]string{"v": v, "w": w, "F-user": v})
		s2, a2 := Build(command, map[string]string{"v": "x", "w": "y", "F-user": "z"})
		if s1 != s2 {
			t.Fatalf("script depends on values:\n%q\n%q", s1, s2)
		}
		if len(a1) != len(a2) {
			t.Fatalf("argument count depends on values: %d, %d", len(a1), len(a2))
		}
		for _, a := range a1 {
			// "" is an absent <F-NAME> field.
			if a != argValue(v) && a != argValue(w) && a != "" {
				t.Fatalf("argument %q is neither value", a)
			}
		}
	})
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":   "1.2.0.192.",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.",
	} {
		if got := ReverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("ReverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

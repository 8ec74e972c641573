package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/shellcmd"
	"github.com/pinjail/pinjail/internal/testenv"
)

// fail2banCommands builds fail2ban's own server-side actions from the
// command stream of fail2ban-client -d (on stdin, one Python literal a
// line) and prints, for each, the commands as its CommandAction expands
// them for each family (_getOperation: static tags, and <family>).
const fail2banCommands = `
import ast, json, sys
from fail2ban.server.action import CommandAction
from fail2ban.server.ipdns import DNSUtils

actions, order = {}, []
for line in sys.stdin:
    if not line.startswith("["):
        continue
    c = ast.literal_eval(line)
    if c[0] == "set" and len(c) == 4 and c[2] == "addaction":
        actions[(c[1], c[3])] = CommandAction(None, c[3])
        order.append((c[1], c[3]))
    elif c[0] == "multi-set" and c[2] == "action":
        for k, v in c[4]:
            setattr(actions[(c[1], c[3])], k, v)
    elif c[0] == "set" and len(c) == 6 and c[2] == "action":
        setattr(actions[(c[1], c[3])], c[4], c[5])

ops = ["actionstart", "actionstop", "actioncheck", "actionban", "actionunban", "actionflush", "actionrepair"]
out = {"fqdn": DNSUtils.getHostname(fqdn=True), "short": DNSUtils.getHostname(fqdn=False), "actions": []}
for jail, name in order:
    a = actions[(jail, name)]
    res = {"jail": jail, "name": name, "ondemand": bool(a._startOnDemand),
           "norestored": bool(getattr(a, "norestored", False)), "commands": {}, "error": "",
           # A file without [Definition] (an include such as helpers-common)
           # sets every command to None, which fail2ban would run as "<actionban>".
           "nodefinition": all(getattr(a, op) is None for op in ops)}
    try:
        for fam in (["inet4", "inet6"] if a._hasCondSection else [""]):
            for op in ops:
                res["commands"][fam + "/" + op] = a._getOperation("<%s>" % op, fam)
    except ValueError as e:
        res["error"] = str(e)
    out["actions"].append(res)
json.dump(out, sys.stdout)
`

type fail2banAction struct {
	Jail, Name           string
	OnDemand, Norestored bool
	NoDefinition         bool
	Commands             map[string]string
	Error                string
}

// TestMatchesFail2ban gives every action of the installed fail2ban a jail
// of its own and checks that each command pinjail would run is, before
// the per-ban values, the one fail2ban would run, for each family.
func TestMatchesFail2ban(t *testing.T) {
	const python = "/usr/bin/python3"
	testenv.RequireFile(t, python)
	testenv.RequireFile(t, "/usr/bin/fail2ban-client")
	testenv.RequireFile(t, "/usr/lib/python3/dist-packages/fail2ban/server/action.py")
	files, err := filepath.Glob("/etc/fail2ban/action.d/*.conf")
	if err != nil || len(files) == 0 {
		testenv.Skip(t, "no actions in /etc/fail2ban/action.d: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if err := os.CopyFS(dir, os.DirFS("/etc/fail2ban")); err != nil {
		t.Fatal(err)
	}
	logpath := filepath.Join(filepath.Dir(dir), "test.log")
	writeFile(t, logpath, "", 0o644)
	var local strings.Builder
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		fmt.Fprintf(&local, "[pj-%s]\nenabled = true\nfilter = sshd\nbackend = polling\nlogpath = %s\nport = 443,8443\naction = %s\n\n", name, logpath, name)
	}
	writeFile(t, filepath.Join(dir, "jail.local"), local.String(), 0o644)

	stream, err := exec.Command("/usr/bin/fail2ban-client", "-c", dir, "-d").Output()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v", err)
	}
	cmd := exec.Command(python, "-c", fail2banCommands)
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", python, err, stderr.Bytes())
	}
	var want struct {
		FQDN, Short string
		Actions     []fail2banAction
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(dir, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Hostnames: shellcmd.Hostnames{FQDN: want.FQDN, Short: want.Short}}
	compared := 0
	for _, w := range want.Actions {
		if !strings.HasPrefix(w.Jail, "pj-") || w.NoDefinition {
			continue
		}
		j := cfg.Jail(w.Jail)
		if j == nil || j.Err != nil {
			t.Errorf("%s: fail2ban reads it, pinjail does not: %+v", w.Jail, j)
			continue
		}
		i := slices.IndexFunc(j.Actions, func(a *config.Action) bool { return a.Name == w.Name })
		if i < 0 {
			t.Errorf("%s: no action %s", w.Jail, w.Name)
			continue
		}
		if j.Actions[i].Builtin {
			continue // pinjail's own nftables
		}
		r, err := New(j, j.Actions[i], opts)
		if w.Error != "" {
			if err == nil {
				t.Errorf("%s: fail2ban fails (%s), pinjail does not", w.Name, w.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			continue
		}
		if r.onDemand != w.OnDemand || r.norestored != w.Norestored {
			t.Errorf("%s: on demand %v, norestored %v; fail2ban %v, %v", w.Name, r.onDemand, r.norestored, w.OnDemand, w.Norestored)
		}
		for key, wantCmd := range w.Commands {
			family, op, _ := strings.Cut(key, "/")
			got := r.scripts[family][op]
			if family != "" {
				got = strings.ReplaceAll(got, "<family>", family)
			}
			if got != wantCmd {
				t.Errorf("%s %s:\n got %q\nwant %q", w.Name, key, got, wantCmd)
			}
		}
		compared++
	}
	if compared < len(files)/2 {
		t.Errorf("compared %d actions of %d", compared, len(files))
	}
	t.Logf("%d actions expand as in fail2ban", compared)
}

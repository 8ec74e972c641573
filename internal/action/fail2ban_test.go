package action

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/testenv"
)

// stockJail is the jail the tests add to a copy of the installed fail2ban
// configuration: the stock iptables-multiport ban action through
// jail.conf's %(action_)s, and sendmail-whois-lines with the mailer
// replaced.
const stockJail = `[pinjail-test]
enabled   = true
filter    = sshd
backend   = polling
logpath   = %s
port      = 443,8443
banaction = iptables-multiport
action    = %%(action_)s
            sendmail-whois-lines[sender="fail2ban@example.org", dest="ops@example.org", logpath="%%(logpath)s", mailcmd="%s"]
`

// mailer stands in for sendmail: it appends each mail to the mailbox.
const mailer = `#!/bin/sh
cat >> '%s'
printf '\n--- end of mail ---\n' >> '%s'
`

type stock struct {
	dir     string
	logpath string
	mailbox string
	jail    *config.Jail
}

// loadStock loads a copy of /etc/fail2ban with stockJail added.
func loadStock(t *testing.T) *stock {
	t.Helper()
	for _, f := range []string{"jail.conf", "action.d/iptables-multiport.conf", "action.d/sendmail-whois-lines.conf"} {
		testenv.RequireFile(t, "/etc/fail2ban/"+f)
	}
	dir := t.TempDir()
	s := &stock{
		dir:     dir,
		logpath: filepath.Join(dir, "auth.log"),
		mailbox: filepath.Join(dir, "mailbox"),
	}
	conf := filepath.Join(dir, "fail2ban")
	if err := os.CopyFS(conf, os.DirFS("/etc/fail2ban")); err != nil {
		t.Fatal(err)
	}
	mailcmd := filepath.Join(dir, "sendmail")
	writeFile(t, mailcmd, fmt.Sprintf(mailer, s.mailbox, s.mailbox), 0o755)
	writeFile(t, filepath.Join(conf, "jail.local"), fmt.Sprintf(stockJail, s.logpath, mailcmd), 0o644)
	writeFile(t, s.logpath, "", 0o644)
	cfg, err := config.Load(conf, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.jail = cfg.Jail("pinjail-test")
	if s.jail == nil || s.jail.Err != nil {
		t.Fatalf("jail pinjail-test: %+v", s.jail)
	}
	return s
}

// runner builds the runner of the stock action called name.
func (s *stock) runner(t *testing.T, name string) *Runner {
	t.Helper()
	for _, a := range s.jail.Actions {
		if a.Name == name {
			r, err := New(s.jail, a, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("jail has no action %s", name)
	return nil
}

func writeFile(t *testing.T, name, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// TestStockIptablesCommands checks the expanded commands of the installed
// iptables-multiport: the jail's ports, and iptables or ip6tables and the
// matching reject type by family, with only the per-ban <ip> left.
func TestStockIptablesCommands(t *testing.T) {
	s := loadStock(t)
	r := s.runner(t, "iptables-multiport")
	if !r.onDemand {
		t.Error("iptables-multiport does not start on demand")
	}
	for _, tt := range []struct {
		family, tool, reject string
	}{
		{inet4, "iptables -w ", "icmp-port-unreachable"},
		{inet6, "ip6tables -w ", "icmp6-port-unreachable"},
	} {
		cmds := r.scripts[tt.family]
		for _, name := range []string{cmdStart, cmdStop, cmdCheck, cmdBan, cmdUnban, cmdFlush} {
			cmd := cmds[name]
			if cmd == "" {
				t.Errorf("%s %s: missing", tt.family, name)
				continue
			}
			rest := strings.ReplaceAll(cmd, "<ip>", "")
			if strings.Contains(rest, "<") {
				t.Errorf("%s %s: tags left: %s", tt.family, name, cmd)
			}
			if !strings.Contains(cmd, tt.tool) || strings.Contains(cmd, "ip6tables") != (tt.family == inet6) {
				t.Errorf("%s %s: not run with %q: %s", tt.family, name, tt.tool, cmd)
			}
			if !strings.Contains(cmd, "f2b-pinjail-test") {
				t.Errorf("%s %s: chain not named after the jail: %s", tt.family, name, cmd)
			}
		}
		for _, name := range []string{cmdStart, cmdStop, cmdCheck} {
			if !strings.Contains(cmds[name], "--dports 443,8443") || !strings.Contains(cmds[name], "INPUT") {
				t.Errorf("%s %s: not on the jail's ports in INPUT: %s", tt.family, name, cmds[name])
			}
		}
		for _, name := range []string{cmdBan, cmdUnban} {
			if !strings.Contains(cmds[name], "-s <ip>") || !strings.Contains(cmds[name], tt.reject) {
				t.Errorf("%s %s: want -s <ip> and %s: %s", tt.family, name, tt.reject, cmds[name])
			}
		}
	}
}

// TestStockIptablesInNetns runs the installed iptables-multiport for real,
// inside a network namespace of its own, and follows the rules it makes.
func TestStockIptablesInNetns(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	testenv.RequireCommand(t, "iptables")
	testenv.RequireCommand(t, "ip6tables")
	s := loadStock(t)
	r := s.runner(t, "iptables-multiport")
	ns := newNetns(t)

	v4 := Ban{ID: "192.0.2.7", Addr: netip.MustParseAddr("192.0.2.7"), BanTime: 10 * time.Minute}
	v6 := Ban{ID: "2001:db8::7", Addr: netip.MustParseAddr("2001:db8::7"), BanTime: 10 * time.Minute}
	const (
		jump4 = "-A INPUT -p tcp -m multiport --dports 443,8443 -j f2b-pinjail-test"
		ban4  = "-A f2b-pinjail-test -s 192.0.2.7/32 -j REJECT --reject-with icmp-port-unreachable"
		ban6  = "-A f2b-pinjail-test -s 2001:db8::7/128 -j REJECT --reject-with icmp6-port-unreachable"
		chain = "-N f2b-pinjail-test"
	)
	ctx := t.Context()
	defer ns.enter(t)()
	must(t, r.Start(ctx))
	// On demand: nothing until the first ban.
	ns.rules(t, "iptables", nil, []string{chain})
	must(t, r.Ban(ctx, v4))
	ns.rules(t, "iptables", []string{chain, jump4, ban4}, nil)
	ns.rules(t, "ip6tables", nil, []string{chain})
	must(t, r.Ban(ctx, v6))
	ns.rules(t, "ip6tables", []string{chain, jump4, ban6}, nil)
	must(t, r.Unban(ctx, v4))
	ns.rules(t, "iptables", []string{chain, jump4}, []string{ban4})
	must(t, r.Flush(ctx, []Ban{v6}))
	ns.rules(t, "ip6tables", []string{chain}, []string{ban6})
	must(t, r.Stop(ctx))
	ns.rules(t, "iptables", nil, []string{chain, jump4})
	ns.rules(t, "ip6tables", nil, []string{chain, jump4})
}

// TestStockSendmail runs the installed sendmail-whois-lines with a stand-in
// for sendmail and for whois, which is either there or failing, so that no
// test reaches the network.
func TestStockSendmail(t *testing.T) {
	for _, tt := range []struct {
		name  string
		whois string // the stand-in's script
		want  string
	}{
		{"whois", "#!/bin/sh\necho \"whois record of $1\"\n", "whois record of 192.0.2.7"},
		{"no whois", "#!/bin/sh\nexit 127\n", "missing whois program"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := loadStock(t)
			bin := filepath.Join(s.dir, "bin")
			must(t, os.Mkdir(bin, 0o755))
			writeFile(t, filepath.Join(bin, "whois"), tt.whois, 0o755)
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			canary := filepath.Join(s.dir, "canary")
			matches := []string{
				"Jan  1 00:00:01 rp sshd[1]: Failed password for root from 192.0.2.7 port 22 ssh2",
				"Jan  1 00:00:02 rp sshd[1]: Invalid user $(touch " + canary + ") from 192.0.2.7 port 22",
			}
			other := "Jan  1 00:00:03 rp sshd[1]: Failed password for root from 192.0.2.70 port 22 ssh2"
			writeFile(t, s.logpath, matches[0]+"\n"+other+"\n"+matches[1]+"\n", 0o644)

			r := s.runner(t, "sendmail-whois-lines")
			ctx := t.Context()
			b := Ban{ID: "192.0.2.7", Addr: netip.MustParseAddr("192.0.2.7"), BanTime: 10 * time.Minute, Failures: 3, Matches: matches}
			must(t, r.Start(ctx))
			must(t, r.Ban(ctx, b))
			restored := b
			restored.Restored = true
			must(t, r.Ban(ctx, restored))
			must(t, r.Stop(ctx))

			data, err := os.ReadFile(s.mailbox)
			if err != nil {
				t.Fatal(err)
			}
			mails := strings.Split(strings.TrimSuffix(string(data), "\n--- end of mail ---\n"), "\n--- end of mail ---\n")
			if len(mails) != 3 {
				t.Fatalf("%d mails, want started, banned (the restored ban sends none) and stopped:\n%s", len(mails), data)
			}
			for i, want := range []string{"pinjail-test: started on rp.example.org", "pinjail-test: banned 192.0.2.7 from rp.example.org", "pinjail-test: stopped on rp.example.org"} {
				if !strings.Contains(mails[i], "Subject: [Fail2Ban] "+want+"\n") {
					t.Errorf("mail %d has not the subject %q:\n%s", i, want, mails[i])
				}
				for _, h := range []string{"From: Fail2Ban <fail2ban@example.org>\n", "To: ops@example.org\n"} {
					if !strings.Contains(mails[i], h) {
						t.Errorf("mail %d lacks %q:\n%s", i, h, mails[i])
					}
				}
			}
			body := mails[1]
			for _, want := range append([]string{"3 attempts against pinjail-test", tt.want}, matches...) {
				if !strings.Contains(body, want) {
					t.Errorf("ban mail lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, other) {
				t.Errorf("ban mail holds another address's line:\n%s", body)
			}
			if _, err := os.Stat(canary); err == nil {
				t.Error("a log line was run")
			}
		})
	}
}

// testNetns is a network namespace that exists for one test only, so that
// no test ever touches the host's firewall.
type testNetns struct {
	name   string
	handle netns.NsHandle
}

func newNetns(t *testing.T) *testNetns {
	t.Helper()
	name := fmt.Sprintf("pj-action-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &testNetns{name: name, handle: h}
}

// enter switches the test's goroutine, locked to its OS thread, into n:
// the commands it starts run there, as children inherit the thread's
// namespace. The returned function switches back; if that fails, the
// thread stays locked and dies with the goroutine.
func (n *testNetns) enter(t *testing.T) (leave func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	leave = func() {
		defer orig.Close()
		if err := netns.Set(orig); err != nil {
			t.Errorf("restoring the namespace: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}
	if err := netns.Set(n.handle); err != nil {
		leave()
		t.Fatal(err)
	}
	if cur, err := netns.Get(); err != nil || !cur.Equal(n.handle) {
		leave()
		t.Fatalf("not in namespace %s: %v", n.name, err)
	}
	return leave
}

// rules checks the rules that tool -S lists in n: every one of have is
// there and none of lack.
func (n *testNetns) rules(t *testing.T, tool string, have, lack []string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.name, tool, "-w", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -S: %v: %s", tool, err, out)
	}
	lines := strings.Split(string(out), "\n")
	for _, r := range have {
		if !slices.Contains(lines, r) {
			t.Errorf("%s: no rule %q in:\n%s", tool, r, out)
		}
	}
	for _, r := range lack {
		if slices.Contains(lines, r) {
			t.Errorf("%s: rule %q still there:\n%s", tool, r, out)
		}
	}
}

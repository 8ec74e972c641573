package nft

import (
	"context"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/enforce"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func commit(t *testing.T, e *Enforcer) {
	t.Helper()
	if err := e.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, e *Enforcer, spec enforce.Spec) {
	t.Helper()
	if err := e.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

// TestRulesetGolden compares `nft list ruleset` after Start with files
// under testdata/ruleset.
func TestRulesetGolden(t *testing.T) {
	tests := []struct {
		name string
		spec enforce.Spec
	}{
		{"sshd", enforce.Spec{Jail: "sshd", Ports: "ssh"}},
		{"web-reject", enforce.Spec{Jail: "pexip.pin-web", Ports: "http,https,8000:8010", Protocols: []string{"tcp", "udp"}, Block: "reject"}},
		{"one-range-udp", enforce.Spec{Jail: "sip", Ports: "5060:5061", Protocols: []string{"udp"}}},
		{"allports", enforce.Spec{Jail: "recidive", Ports: "0:65535", Protocols: []string{"tcp,udp,sctp"}}},
		{"all-protocols-reject", enforce.Spec{Jail: "recidive", Protocols: []string{"all"}, Block: "reject"}},
		{"sanitized-name", enforce.Spec{Jail: "9 odd/name", Ports: "443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNS(t)
			e := ns.newEnforcer(t, Options{})
			start(t, e, tt.spec)
			got := ns.nft(t, "list", "ruleset")
			golden := filepath.Join("testdata", "ruleset", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("ruleset differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}

func TestStartLayout(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{Table: "pjtest"})
	spec := enforce.Spec{Jail: "web", Ports: "443"}
	start(t, e, spec)
	// Starting again is idempotent and replaces the rules.
	start(t, e, spec)

	rs := ns.ruleset(t)
	if !slices.Equal(rs.tables, []string{"inet pjtest"}) {
		t.Errorf("tables = %v, want [inet pjtest]", rs.tables)
	}
	want := jsonChain{Table: "pjtest", Name: "input", Type: "filter", Hook: "input", Policy: "accept", Prio: -1}
	if len(rs.chains) != 1 || rs.chains[0] != want {
		t.Errorf("chains = %+v, want [%+v]", rs.chains, want)
	}
	sets := map[string]struct {
		typ   string
		flags []string
	}{
		"web-v4":    {"ipv4_addr", []string{"timeout"}},
		"web-v4net": {"ipv4_addr", []string{"interval", "timeout"}},
		"web-v6":    {"ipv6_addr", []string{"timeout"}},
		"web-v6net": {"ipv6_addr", []string{"interval", "timeout"}},
	}
	if len(rs.sets) != len(sets) {
		t.Errorf("got %d sets, want %d", len(rs.sets), len(sets))
	}
	for name, w := range sets {
		s, ok := rs.sets[name]
		if !ok || s.Type != w.typ || !slices.Equal(s.Flags, w.flags) {
			t.Errorf("set %s = %+v, want type %s flags %v", name, s, w.typ, w.flags)
		}
	}
	if n := rs.rulesOf("pinjail:web"); n != 4 || len(rs.rules) != 4 {
		t.Errorf("got %d rules, %d of jail web; want 4", len(rs.rules), n)
	}
}

func TestBans(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web", Ports: "443"})

	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.7/32"), Timeout: 10 * time.Minute})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.9/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("::ffff:192.0.2.10/128"), Timeout: time.Hour})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("198.51.100.77/24"), Timeout: time.Hour})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("2001:db8::1/128"), Timeout: time.Minute})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("2001:db8:1::/64")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("255.255.255.0/24"), Timeout: time.Hour})
	commit(t, e)

	want := map[string]map[string]int{ // set → element → timeout in seconds
		"web-v4":    {"192.0.2.7": 600, "192.0.2.9": 0, "192.0.2.10": 3600},
		"web-v4net": {"198.51.100.0/24": 3600, "255.255.255.0/24": 3600},
		"web-v6":    {"2001:db8::1": 60},
		"web-v6net": {"2001:db8:1::/64": 0},
	}
	checkElems(t, ns, want)

	// Re-adding with a longer timeout renews the element; deleting removes.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.7/32"), Timeout: 30 * time.Minute})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("198.51.100.0/24"), Timeout: 2 * time.Hour})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("2001:db8:1::/64"), Timeout: 5 * time.Minute})
	e.Delete("web", mustPrefix("192.0.2.9/32"))
	e.Delete("web", mustPrefix("2001:db8::1/128"))
	e.Delete("web", mustPrefix("255.255.255.0/24"))
	// Deleting what is not there is harmless.
	e.Delete("web", mustPrefix("203.0.113.1/32"))
	e.Delete("web", mustPrefix("203.0.113.0/24"))
	commit(t, e)
	want = map[string]map[string]int{
		"web-v4":    {"192.0.2.7": 1800, "192.0.2.10": 3600},
		"web-v4net": {"198.51.100.0/24": 7200},
		"web-v6":    {},
		"web-v6net": {"2001:db8:1::/64": 300},
	}
	checkElems(t, ns, want)

	// A later change to the same prefix in one Commit wins.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("203.0.113.5/32"), Timeout: time.Minute})
	e.Delete("web", mustPrefix("203.0.113.5/32"))
	e.Delete("web", mustPrefix("192.0.2.10/32"))
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.10/32"), Timeout: 2 * time.Minute})
	commit(t, e)
	want["web-v4"] = map[string]int{"192.0.2.7": 1800, "192.0.2.10": 120}
	checkElems(t, ns, want)

	if err := e.Flush(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	checkElems(t, ns, map[string]map[string]int{"web-v4": {}, "web-v4net": {}, "web-v6": {}, "web-v6net": {}})
}

// checkElems compares the sets' elements and timeouts with want.
func checkElems(t *testing.T, ns *testNS, want map[string]map[string]int) {
	t.Helper()
	rs := ns.ruleset(t)
	for set, elems := range want {
		got := rs.sets[set].elems()
		if len(got) != len(elems) {
			t.Errorf("set %s has %v, want %v", set, got, elems)
		}
		for value, timeout := range elems {
			g, ok := got[value]
			switch {
			case !ok:
				t.Errorf("set %s lacks %s", set, value)
			case g.Timeout != timeout:
				t.Errorf("set %s: %s has timeout %ds, want %ds", set, value, g.Timeout, timeout)
			case timeout == 0 && g.Expires != 0:
				t.Errorf("set %s: permanent %s expires in %ds", set, value, g.Expires)
			}
		}
	}
}

func TestCommitErrors(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web"})

	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.0.0/24"), Timeout: time.Hour})
	e.Add(enforce.Ban{Jail: "nope", Prefix: mustPrefix("10.0.0.1/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: netip.Prefix{}})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.9.9.9/32")})
	err := e.Commit(context.Background())
	var ce *enforce.CommitError
	if !errors.As(err, &ce) || len(ce.Failed) != 2 {
		t.Fatalf("Commit = %v, want a CommitError with 2 failures", err)
	}
	if !errors.Is(err, enforce.ErrNotStarted) || !errors.Is(err, enforce.ErrInvalidPrefix) {
		t.Errorf("Commit = %v, want ErrNotStarted and ErrInvalidPrefix", err)
	}
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"10.9.9.9": 0}, "web-v4net": {"10.0.0.0/24": 3600}})

	// A prefix inside a banned one is refused; the rest of the batch goes.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.0.128/25"), Timeout: time.Hour})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.7.0.0/16"), Timeout: time.Hour})
	err = e.Commit(context.Background())
	if !errors.Is(err, enforce.ErrOverlap) || !errors.As(err, &ce) || len(ce.Failed) != 1 || ce.Failed[0].Prefix != mustPrefix("10.0.0.128/25") {
		t.Fatalf("Commit = %v, want ErrOverlap for 10.0.0.128/25 only", err)
	}
	// A wider prefix replaces the narrower ones inside it.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.0.0/8"), Timeout: 2 * time.Hour})
	commit(t, e)
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"10.9.9.9": 0}, "web-v4net": {"10.0.0.0/8": 7200}})
	// Its beliefs follow: the narrower ones can be banned after an unban.
	e.Delete("web", mustPrefix("10.0.0.0/8"))
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.0.0/24")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.1.0/24")})
	commit(t, e)
	checkElems(t, ns, map[string]map[string]int{"web-v4net": {"10.0.0.0/24": 0, "10.0.1.0/24": 0}})
}

func TestKernelRefusal(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{MaxBatchElements: 2})
	start(t, e, enforce.Spec{Jail: "web"})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.1/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.2/32")})
	commit(t, e)

	// Someone adds an interval behind pinjail's back; a ban overlapping
	// it makes the kernel refuse that transaction, and the transactions
	// after it are not sent. The earlier one stands.
	ns.nft(t, "add", "element", "inet", "pinjail", "web-v4net", "{ 10.0.0.0/8 }")
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.3/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.4/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.1.0.0/16")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.5/32")})
	err := e.Commit(context.Background())
	var ce *enforce.CommitError
	if !errors.As(err, &ce) || len(ce.Failed) != 2 {
		t.Fatalf("Commit = %v, want 2 failed changes", err)
	}
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"192.0.2.1": 0, "192.0.2.2": 0, "192.0.2.3": 0, "192.0.2.4": 0}})

	// The refused changes were forgotten: staging them again (after the
	// intruder is gone) works.
	ns.nft(t, "flush", "set", "inet", "pinjail", "web-v4net")
	for _, f := range ce.Failed {
		e.Add(f.Ban)
	}
	commit(t, e)
	checkElems(t, ns, map[string]map[string]int{"web-v4net": {"10.1.0.0/16": 0}})
}

// TestWithoutDestroy runs the paths for kernels before 6.3, which fail a
// whole batch that deletes a missing element.
func TestWithoutDestroy(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	e.probed, e.canDestroy = true, false
	start(t, e, enforce.Spec{Jail: "web"})

	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.1/32"), Timeout: time.Minute})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.2/32")})
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("10.0.0.0/24")})
	commit(t, e)

	// Renewal deletes and adds in one batch.
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.1/32"), Timeout: time.Hour})
	commit(t, e)
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"192.0.2.1": 3600, "192.0.2.2": 0}})

	// Elements removed from outside are skipped on the retry, and the
	// rest of the batch is applied.
	ns.nft(t, "delete", "element", "inet", "pinjail", "web-v4", "{ 192.0.2.2 }")
	ns.nft(t, "delete", "element", "inet", "pinjail", "web-v4net", "{ 10.0.0.0/24 }")
	e.Delete("web", mustPrefix("192.0.2.2/32"))
	e.Delete("web", mustPrefix("10.0.0.0/24"))
	e.Delete("web", mustPrefix("192.0.2.1/32"))
	e.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.3/32")})
	commit(t, e)
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"192.0.2.3": 0}, "web-v4net": {}})

	// Unbanning what is not believed present sends nothing.
	e.Delete("web", mustPrefix("198.51.100.1/32"))
	commit(t, e)
}

func TestStop(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	ctx := context.Background()
	start(t, e, enforce.Spec{Jail: "a"})
	start(t, e, enforce.Spec{Jail: "b", Block: "reject"})
	e.Add(enforce.Ban{Jail: "a", Prefix: mustPrefix("192.0.2.1/32")})
	e.Add(enforce.Ban{Jail: "b", Prefix: mustPrefix("192.0.2.1/32")})
	commit(t, e)

	e.Add(enforce.Ban{Jail: "a", Prefix: mustPrefix("192.0.2.2/32")})
	if err := e.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	rs := ns.ruleset(t)
	for name := range rs.sets {
		if name[0] != 'b' {
			t.Errorf("set %s left after Stop", name)
		}
	}
	if len(rs.sets) != 4 || rs.rulesOf("pinjail:a") != 0 || rs.rulesOf("pinjail:b") != 4 {
		t.Errorf("after Stop(a): %d sets, %d rules of a, %d of b; want 4, 0, 4", len(rs.sets), rs.rulesOf("pinjail:a"), rs.rulesOf("pinjail:b"))
	}
	// The change staged for a was discarded with it.
	if err := e.Commit(ctx); err != nil {
		t.Fatalf("Commit after Stop = %v, want nil", err)
	}

	if err := e.Stop(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if rs := ns.ruleset(t); len(rs.tables) != 0 {
		t.Errorf("tables after stopping every jail: %v", rs.tables)
	}
	// Stopping again, or a jail never started, is not an error.
	if err := e.Stop(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}

// TestRestart checks that a new Enforcer, as after a pinjail restart,
// keeps the kernel's bans and cleans up a jail it did not start.
func TestRestart(t *testing.T) {
	ns := newNS(t)
	ctx := context.Background()
	first := ns.newEnforcer(t, Options{})
	start(t, first, enforce.Spec{Jail: "web"})
	start(t, first, enforce.Spec{Jail: "old"})
	first.Add(enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.1/32"), Timeout: time.Hour})
	commit(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := ns.newEnforcer(t, Options{})
	start(t, second, enforce.Spec{Jail: "web"})
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"192.0.2.1": 3600}})
	if err := second.Stop(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	rs := ns.ruleset(t)
	if len(rs.sets) != 4 || rs.rulesOf("pinjail:old") != 0 || rs.rulesOf("pinjail:web") != 4 {
		t.Errorf("after stopping the old jail: %d sets, rules %+v", len(rs.sets), rs.rules)
	}
}

func TestStartErrors(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	ctx := context.Background()
	for _, spec := range []enforce.Spec{
		{},
		{Jail: "x", Block: "tarpit"},
		{Jail: "x", Ports: "no-such-service"},
		{Jail: "x", Ports: "80", Protocols: []string{"all"}},
	} {
		if err := e.Start(ctx, spec); err == nil {
			t.Errorf("Start(%+v) = nil, want an error", spec)
		}
	}
	if rs := ns.ruleset(t); len(rs.tables) != 0 {
		t.Errorf("failed starts left tables %v", rs.tables)
	}
	if err := e.Flush(ctx, "x"); !errors.Is(err, enforce.ErrNotStarted) {
		t.Errorf("Flush of a jail not started = %v, want ErrNotStarted", err)
	}
	if _, err := New(Options{Table: "bad table"}); err == nil {
		t.Error("New accepted a table name with a space")
	}
}

func TestCommitAfterRulesetLoss(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web"})
	r := records{"web": {{Jail: "web", Prefix: mustPrefix("192.0.2.1/32")}}}
	r.apply(t, e)

	ns.nft(t, "flush ruleset")
	ban := enforce.Ban{Jail: "web", Prefix: mustPrefix("192.0.2.2/32"), Timeout: time.Hour}
	e.Add(ban)
	if err := e.Commit(context.Background()); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Commit after nft flush ruleset = %v, want ENOENT", err)
	}
	r["web"] = append(r["web"], ban)
	if n := reconcile(t, e, r); n != 2 {
		t.Errorf("Reconcile restored %d, want 2", n)
	}
	checkElems(t, ns, map[string]map[string]int{"web-v4": {"192.0.2.1": 0, "192.0.2.2": 3600}})
}

func TestConcurrentUse(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	start(t, e, enforce.Spec{Jail: "web"})
	const workers, bans = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range bans {
				e.Add(enforce.Ban{Jail: "web", Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)}), 32)})
				if i%100 == 99 {
					if err := e.Commit(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	commit(t, e)
	if got := len(ns.ruleset(t).sets["web-v4"].Elem); got != workers*bans {
		t.Errorf("web-v4 holds %d elements, want %d", got, workers*bans)
	}
}

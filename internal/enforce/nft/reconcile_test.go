package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/enforce"
)

// records is the caller's view of the bans, which Reconcile restores.
type records map[string][]enforce.Ban

func (r records) want(jail string) []enforce.Ban { return r[jail] }

// apply stages and commits every recorded ban.
func (r records) apply(t *testing.T, e *Enforcer) {
	t.Helper()
	for _, bans := range r {
		for _, b := range bans {
			e.Add(b)
		}
	}
	commit(t, e)
}

func reconcile(t *testing.T, e *Enforcer, r records) int {
	t.Helper()
	n, err := e.Reconcile(context.Background(), r.want)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sampleRecords() records {
	return records{
		"web": {
			{Jail: "web", Prefix: mustPrefix("192.0.2.1/32"), Timeout: time.Hour},
			{Jail: "web", Prefix: mustPrefix("192.0.2.2/32")},
			{Jail: "web", Prefix: mustPrefix("198.51.100.0/24"), Timeout: time.Hour},
			{Jail: "web", Prefix: mustPrefix("2001:db8::7/128"), Timeout: time.Hour},
			{Jail: "web", Prefix: mustPrefix("2001:db8:1::/64")},
		},
		"sip": {
			{Jail: "sip", Prefix: mustPrefix("203.0.113.9/32"), Timeout: time.Hour},
		},
	}
}

var sampleElems = map[string]map[string]int{
	"web-v4":    {"192.0.2.1": 3600, "192.0.2.2": 0},
	"web-v4net": {"198.51.100.0/24": 3600},
	"web-v6":    {"2001:db8::7": 3600},
	"web-v6net": {"2001:db8:1::/64": 0},
	"sip-v4":    {"203.0.113.9": 3600},
}

func setUpReconcile(t *testing.T, opts Options) (*testNS, *Enforcer, records) {
	ns := newNS(t)
	e := ns.newEnforcer(t, opts)
	start(t, e, enforce.Spec{Jail: "sip", Ports: "5060,5061", Protocols: []string{"tcp", "udp"}, Block: "reject"})
	start(t, e, enforce.Spec{Jail: "web", Ports: "443"})
	r := sampleRecords()
	r.apply(t, e)
	if n := reconcile(t, e, r); n != 0 {
		t.Fatalf("Reconcile of an intact ruleset restored %d", n)
	}
	return ns, e, r
}

func TestReconcileRestores(t *testing.T) {
	nft := func(cmds ...string) func(*testing.T, *testNS) {
		return func(t *testing.T, ns *testNS) {
			for _, cmd := range cmds {
				ns.nft(t, cmd)
			}
		}
	}
	tests := []struct {
		name     string
		tamper   func(*testing.T, *testNS)
		restored int
	}{
		{"flush ruleset", nft("flush ruleset"), 6},
		{"delete table", nft("delete table inet pinjail"), 6},
		{"flush chain", nft("flush chain inet pinjail input"), 0},
		{"delete chain", nft("flush chain inet pinjail input", "delete chain inet pinjail input"), 0},
		{"delete rule", func(t *testing.T, ns *testNS) {
			for _, r := range ns.ruleset(t).rules {
				if r.Comment == "pinjail:sip" {
					ns.nft(t, fmt.Sprintf("delete rule inet pinjail input handle %d", r.Handle))
					return
				}
			}
			t.Fatal("no rule of jail sip")
		}, 0},
		{"delete set", nft("flush chain inet pinjail input", "delete set inet pinjail web-v6net"), 1},
		{"delete elements", nft("delete element inet pinjail web-v4 { 192.0.2.2 }", "delete element inet pinjail web-v6net { 2001:db8:1::/64 }"), 2},
		{"flush set", nft("flush set inet pinjail web-v4"), 2},
		{"change timeout", nft("delete element inet pinjail web-v4 { 192.0.2.2 }", "add element inet pinjail web-v4 { 192.0.2.2 timeout 1m }"), 1},
		{"add unwanted", nft("add element inet pinjail web-v4 { 192.0.2.99 }", "add element inet pinjail sip-v4net { 10.0.0.0/8 }", "add element inet pinjail sip-v4net { 172.16.0.0-172.16.0.9 }"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, e, r := setUpReconcile(t, Options{})
			before := ns.nft(t, "list", "ruleset")
			tt.tamper(t, ns)
			if n := reconcile(t, e, r); n != tt.restored {
				t.Errorf("Reconcile restored %d, want %d", n, tt.restored)
			}
			checkElems(t, ns, sampleElems)
			if got := ns.nft(t, "list", "ruleset"); !sameRuleset(got, before) {
				t.Errorf("ruleset after Reconcile:\n%s\nwant, in any order:\n%s", got, before)
			}
			if n := reconcile(t, e, r); n != 0 {
				t.Errorf("second Reconcile restored %d, want 0", n)
			}
		})
	}
}

// sameRuleset compares two `nft list ruleset` outputs line by line in any
// order, ignoring expiry times: Reconcile appends rebuilt rules and sets at
// the end.
func sameRuleset(a, b string) bool {
	lines := func(s string) []string {
		l := strings.Split(expires.ReplaceAllString(s, ""), "\n")
		slices.Sort(l)
		return l
	}
	return slices.Equal(lines(a), lines(b))
}

var expires = regexp.MustCompile(` expires [0-9hms]+`)

// TestReconcileSampling covers sets above ReconcileDumpLimit, which are
// probed with lookups and refilled as a whole.
func TestReconcileSampling(t *testing.T) {
	ns := newNS(t)
	// As many samples as elements: every one is looked up, in chunks.
	e := ns.newEnforcer(t, Options{ReconcileDumpLimit: 10, ReconcileSamples: 200})
	start(t, e, enforce.Spec{Jail: "web"})
	r := records{}
	for i := range 200 {
		r["web"] = append(r["web"],
			enforce.Ban{Jail: "web", Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 32), Timeout: time.Hour},
			enforce.Ban{Jail: "web", Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i)}), 64)},
		)
	}
	r.apply(t, e)
	if n := reconcile(t, e, r); n != 0 {
		t.Fatalf("Reconcile of intact sets restored %d", n)
	}

	ns.nft(t, "flush set inet pinjail web-v4")
	ns.nft(t, "delete element inet pinjail web-v6net { 2001:db8:7::/64 }")
	if n := reconcile(t, e, r); n != 400 {
		t.Errorf("Reconcile restored %d, want 400", n)
	}
	rs := ns.ruleset(t)
	if got := len(rs.sets["web-v4"].Elem); got != 200 {
		t.Errorf("web-v4 has %d elements, want 200", got)
	}
	if _, ok := rs.sets["web-v6net"].elems()["2001:db8:7::/64"]; !ok {
		t.Error("web-v6net lacks 2001:db8:7::/64")
	}
}

// TestReconcileBeliefs checks that Reconcile's records become the beliefs
// Commit works from, such as after a restart.
func TestReconcileBeliefs(t *testing.T) {
	ns := newNS(t)
	first := ns.newEnforcer(t, Options{})
	start(t, first, enforce.Spec{Jail: "web"})
	r := records{"web": {
		{Jail: "web", Prefix: mustPrefix("10.0.0.0/16"), Timeout: time.Hour},
		// Inside the /16: not installed, the /16 covers it.
		{Jail: "web", Prefix: mustPrefix("10.0.3.0/24"), Timeout: time.Hour},
	}}
	for _, b := range r["web"] {
		first.Add(b)
	}
	if err := first.Commit(context.Background()); !errors.Is(err, enforce.ErrOverlap) {
		t.Fatalf("Commit = %v, want ErrOverlap for the /24", err)
	}
	first.Close()

	second := ns.newEnforcer(t, Options{})
	second.probed, second.canDestroy = true, false
	start(t, second, enforce.Spec{Jail: "web"})
	if n := reconcile(t, second, r); n != 0 {
		t.Errorf("Reconcile restored %d, want 0", n)
	}
	// Without destroy, only believed elements are deleted: the /16 is.
	second.Delete("web", mustPrefix("10.0.0.0/16"))
	commit(t, second)
	checkElems(t, ns, map[string]map[string]int{"web-v4net": {}})
}

func TestReconcileNothingStarted(t *testing.T) {
	ns := newNS(t)
	e := ns.newEnforcer(t, Options{})
	n, err := e.Reconcile(context.Background(), func(jail string) []enforce.Ban {
		t.Errorf("want(%q) called without started jails", jail)
		return nil
	})
	if n != 0 || err != nil {
		t.Errorf("Reconcile = %d, %v; want 0, nil", n, err)
	}
	if got := ns.ruleset(t); len(got.tables) != 0 {
		t.Errorf("Reconcile without jails created %v", got.tables)
	}
}

package nft

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/pinjail/pinjail/internal/testenv"
)

// testNS is a network namespace that exists for one test only, so that no
// test ever touches the host's firewall.
type testNS struct{ *testenv.NetNS }

// newNS creates a namespace with loopback up and deletes it when t ends.
func newNS(t testing.TB) *testNS {
	t.Helper()
	testenv.RequireCommand(t, "nft")
	return &testNS{testenv.NewNetNS(t, "pj-test")}
}

// newEnforcer returns an Enforcer working in n, closed when t ends.
func (n *testNS) newEnforcer(t testing.TB, opts Options) *Enforcer {
	t.Helper()
	opts.NetNS = n.Fd()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// nft runs the nft tool inside n and returns its output.
func (n *testNS) nft(t testing.TB, args ...string) string {
	t.Helper()
	return testenv.Run(t, "ip", append([]string{"netns", "exec", n.Name, "nft"}, args...)...)
}

// ruleset returns `nft -j list ruleset` of n, parsed.
func (n *testNS) ruleset(t testing.TB) ruleset {
	t.Helper()
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(n.nft(t, "-j", "list", "ruleset")), &doc); err != nil {
		t.Fatal(err)
	}
	rs := ruleset{sets: make(map[string]jsonSet)}
	for _, obj := range doc.Nftables {
		var err error
		switch {
		case obj["table"] != nil:
			var tbl struct{ Family, Name string }
			err = json.Unmarshal(obj["table"], &tbl)
			rs.tables = append(rs.tables, tbl.Family+" "+tbl.Name)
		case obj["chain"] != nil:
			var c jsonChain
			err = json.Unmarshal(obj["chain"], &c)
			rs.chains = append(rs.chains, c)
		case obj["set"] != nil:
			var s jsonSet
			err = json.Unmarshal(obj["set"], &s)
			rs.sets[s.Name] = s
		case obj["rule"] != nil:
			var r jsonRule
			err = json.Unmarshal(obj["rule"], &r)
			rs.rules = append(rs.rules, r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

type ruleset struct {
	tables []string
	chains []jsonChain
	sets   map[string]jsonSet
	rules  []jsonRule
}

type jsonChain struct {
	Table, Name, Type, Hook, Policy string
	Prio                            int
}

type jsonRule struct {
	Chain, Comment string
	Handle         int
}

type jsonSet struct {
	Name, Type string
	Flags      []string
	Elem       []jsonElem
}

// jsonElem is a set element as nft prints it: an address, a prefix, or
// either wrapped with a timeout.
type jsonElem struct {
	Value            string // "192.0.2.1" or "10.0.0.0/24"
	Timeout, Expires int    // seconds; 0 when permanent
}

func (e *jsonElem) UnmarshalJSON(b []byte) error {
	var wrapped struct {
		Elem *struct {
			Val              json.RawMessage
			Timeout, Expires int
		}
	}
	if err := json.Unmarshal(b, &wrapped); err == nil && wrapped.Elem != nil {
		e.Timeout, e.Expires = wrapped.Elem.Timeout, wrapped.Elem.Expires
		b = wrapped.Elem.Val
	}
	var addr string
	if err := json.Unmarshal(b, &addr); err == nil {
		e.Value = addr
		return nil
	}
	var prefix struct {
		Prefix struct {
			Addr string
			Len  int
		}
	}
	if err := json.Unmarshal(b, &prefix); err != nil {
		return err
	}
	e.Value = fmt.Sprintf("%s/%d", prefix.Prefix.Addr, prefix.Prefix.Len)
	return nil
}

// elems returns the set's elements by value.
func (s jsonSet) elems() map[string]jsonElem {
	m := make(map[string]jsonElem)
	for _, e := range s.Elem {
		m[e.Value] = e
	}
	return m
}

// rulesOf counts the rules with the given comment.
func (rs ruleset) rulesOf(comment string) int {
	n := 0
	for _, r := range rs.rules {
		if r.Comment == comment {
			n++
		}
	}
	return n
}

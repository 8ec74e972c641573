package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pinjail/pinjail/internal/testenv"
)

// netNS is a network namespace that exists for one test only.
type netNS struct{ *testenv.NetNS }

// newNetNS creates a namespace with loopback up and deletes it when t ends.
func newNetNS(t testing.TB, role string) *netNS {
	t.Helper()
	return &netNS{testenv.NewNetNS(t, "pj-e2e-"+role)}
}

// nft runs the nft tool inside n.
func (n *netNS) nft(args ...string) (string, error) {
	out, err := n.Command("nft", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft %s in %s: %w: %s", strings.Join(args, " "), n.Name, err, out)
	}
	return string(out), nil
}

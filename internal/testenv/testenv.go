// Package testenv lets tests that need real system components (root,
// network namespaces, nftables, nginx, redis-server, the fail2ban package)
// skip on a developer machine that lacks them, and fail in CI, where
// PINJAIL_TEST_STRICT=1 turns every such skip into a failure.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing components must fail tests instead of
// skipping them.
func Strict() bool { return os.Getenv("PINJAIL_TEST_STRICT") == "1" }

// Skip skips t with the reason, or fails it in strict mode.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("PINJAIL_TEST_STRICT=1 but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot skips or fails t unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root")
	}
}

// RequireCommand skips or fails t unless the named program is on PATH, and
// returns its path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "needs %s on PATH (apt-get install it)", name)
	}
	return p
}

// RequireFile skips or fails t unless path exists.
func RequireFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Skip(t, "needs %s: %v", path, err)
	}
}

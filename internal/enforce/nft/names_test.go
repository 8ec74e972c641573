package nft

import (
	"strings"
	"testing"
)

func TestSetBase(t *testing.T) {
	tests := []struct{ jail, want string }{
		// Plain nft words are kept, so operators recognise their jails.
		{"sshd", "sshd"},
		{"nginx-http-auth", "nginx-http-auth"},
		{"pexip.pin", "pexip.pin"},
		{"_x", "_x"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		// Anything else is sanitized and made unique with a hash.
		{"pexip pin", "pexip_pin-f2c96058"},
		{"a b", "a_b-10a3f9f2"},
		{"a/b", "a_b-3a8e75c1"},
		{"9lives", "_9lives-e2f29fc7"},
		{"-x", "_-x-4bcd60c0"},
		{"é", "__-1e9de8c1"},
		{strings.Repeat("a", 65), strings.Repeat("a", 55) + "-2dd603ec"},
	}
	for _, tt := range tests {
		got := setBase(tt.jail)
		if got != tt.want {
			t.Errorf("setBase(%q) = %q, want %q", tt.jail, got, tt.want)
		}
		if !isIdentifier(got) || len(got) > maxBaseLen {
			t.Errorf("setBase(%q) = %q, not a valid nft name of at most %d bytes", tt.jail, got, maxBaseLen)
		}
	}
}

// FuzzSetBase checks that any jail name maps to a valid, bounded nft name,
// kept as is exactly when it already is one.
func FuzzSetBase(f *testing.F) {
	for _, s := range []string{"sshd", "pexip pin", "9lives", "", "é", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, jail string) {
		got := setBase(jail)
		if !isIdentifier(got) || len(got) > maxBaseLen {
			t.Fatalf("setBase(%q) = %q, not a valid nft name of at most %d bytes", jail, got, maxBaseLen)
		}
		if (got == jail) != (isIdentifier(jail) && len(jail) <= maxBaseLen) {
			t.Fatalf("setBase(%q) = %q", jail, got)
		}
		if setBase(jail) != got {
			t.Fatalf("setBase(%q) is not deterministic", jail)
		}
	})
}

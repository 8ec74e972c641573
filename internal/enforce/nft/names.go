package nft

import (
	"fmt"
	"hash/fnv"
)

// maxBaseLen bounds the part of set names derived from a jail name, so that
// names and rule comments stay readable and within nft's limits (255 bytes
// for a name, 128 for a comment as the nft tool prints it).
const maxBaseLen = 64

// setBase returns the prefix of a jail's set names. A jail name that is
// already a valid nft identifier is used as is, so that operators find
// "sshd-v4" for jail sshd. Any other name is sanitized and suffixed with a
// hash of the original, which keeps different jails apart even when they
// sanitize to the same text; the name stays stable across restarts, which
// lets pinjail find its sets again.
func setBase(jail string) string {
	if len(jail) <= maxBaseLen && isIdentifier(jail) {
		return jail
	}
	h := fnv.New32a()
	h.Write([]byte(jail))
	suffix := fmt.Sprintf("-%08x", h.Sum32())

	b := make([]byte, 0, maxBaseLen)
	for i := 0; i < len(jail) && len(b) < maxBaseLen-len(suffix); i++ {
		c := jail[i]
		if !isIdentByte(c) {
			c = '_'
		}
		if len(b) == 0 && !isIdentStart(c) {
			b = append(b, '_')
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		b = append(b, '_')
	}
	return string(b[:min(len(b), maxBaseLen-len(suffix))]) + suffix
}

// isIdentifier reports whether s is a word the nft tool reads as a name:
// a letter or underscore, then letters, digits, '_', '.' and '-'.
func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentByte(c byte) bool {
	return isIdentStart(c) || '0' <= c && c <= '9' || c == '.' || c == '-'
}

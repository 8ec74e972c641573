package main

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

// benchAlias is the conference every generated guess goes to.
const benchAlias = "meet.bench%40example.com"

// guessLog appends wrong-PIN lines to a log file the way nginx does: opened
// for appending, each flush written with as few writes as the buffer
// allows.
type guessLog struct {
	f *os.File
	w *rplog.Writer
}

func openGuessLog(path string) (*guessLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return newGuessLog(f), nil
}

// newGuessLog appends to f, which must be open for appending.
func newGuessLog(f *os.File) *guessLog {
	return &guessLog{f: f, w: rplog.NewWriter(f, 1)}
}

// guess queues one wrong PIN from addr at t.
func (g *guessLog) guess(addr netip.Addr, t time.Time) error {
	return g.w.Guess(addr, benchAlias, t)
}

// flush writes the queued lines.
func (g *guessLog) flush() error {
	if err := g.w.Flush(); err != nil {
		return fmt.Errorf("append to %s: %w", g.f.Name(), err)
	}
	return nil
}

// burst appends one guess from each of n addresses from first on, in
// batches, as fast as it can.
func (g *guessLog) burst(first netip.Addr, n int) error {
	const batch = 8192
	now := time.Now()
	for i := range n {
		if err := g.guess(addrAt(first, i), now); err != nil {
			return err
		}
		if (i+1)%batch == 0 || i == n-1 {
			if err := g.flush(); err != nil {
				return err
			}
			now = time.Now()
		}
	}
	return nil
}

func (g *guessLog) close() error { return g.f.Close() }

// addrAt returns the IPv4 address i after first.
func addrAt(first netip.Addr, i int) netip.Addr {
	b := first.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// parseIPv4 parses a flag's IPv4 address.
func parseIPv4(flagName, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("-%s %q: want an IPv4 address", flagName, s)
	}
	return a, nil
}

// checkRange reports n addresses from first on that would wrap past
// 255.255.255.255.
func checkRange(first netip.Addr, n int) error {
	b := first.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	if v+uint64(n) > 1<<32 {
		return fmt.Errorf("%d addresses from %v on run past 255.255.255.255", n, first)
	}
	return nil
}

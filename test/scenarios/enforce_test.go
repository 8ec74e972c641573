package scenarios

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
)

// enforce copies the log at src to dst without the lines the firewall would
// have kept out: those of an address under a ban, from the second after the
// ban on. A scripted attacker goes on sending whatever happens to it; on a
// reverse proxy that enforces pinjail's bans its requests during a ban
// never reach nginx, so they are never logged, and no jail can count them.
// The jails run here exactly as in a replay, one line after the other, so
// that a ban takes effect from the next line on. enforce returns the bans
// and how many lines of each address it left out.
func enforce(ctx context.Context, cfg *config.Config, src, dst string) ([]ban, map[netip.Addr]int, error) {
	var jails []*jail.Jail
	for _, jc := range cfg.Enabled() {
		j, err := jail.New(jc, jail.Options{})
		if err != nil {
			return nil, nil, err
		}
		jails = append(jails, j)
	}
	in, err := os.Open(src)
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, nil, err
	}
	defer out.Close()
	w := bufio.NewWriter(out)

	var bans []ban
	var firewall banSet
	emit := func(ev jail.Event) {
		if ev.Kind == jail.Ban {
			b := banFromEvent(ev)
			bans = append(bans, b)
			firewall.add(b)
		}
	}
	dropped := map[netip.Addr]int{}
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		m := requestLine.FindSubmatch(line)
		if m == nil {
			return nil, nil, fmt.Errorf("%s:%d: not a pexapplog line: %q", src, n, line)
		}
		addr, err := netip.ParseAddr(string(m[1]))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", src, n, err)
		}
		t, err := time.Parse(logTime, string(m[2]))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", src, n, err)
		}
		if firewall.blocks(addr, t) {
			dropped[addr]++
			continue
		}
		w.Write(line)
		w.WriteByte('\n')
		for _, j := range jails {
			j.Line(ctx, line, t, emit)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	for _, j := range jails {
		j.Finish(ctx, emit)
	}
	if err := w.Flush(); err != nil {
		return nil, nil, err
	}
	return bans, dropped, out.Close()
}

// banSet finds the bans that block an address, by the prefixes they block.
type banSet struct {
	byPrefix map[netip.Prefix][]ban
	// bits are the prefix lengths of the bans, few in practice.
	bits []int
}

func (s *banSet) add(b ban) {
	if s.byPrefix == nil {
		s.byPrefix = map[netip.Prefix][]ban{}
	}
	s.byPrefix[b.prefix] = append(s.byPrefix[b.prefix], b)
	for _, n := range s.bits {
		if n == b.prefix.Bits() {
			return
		}
	}
	s.bits = append(s.bits, b.prefix.Bits())
}

// blocks reports whether a ban keeps addr out at t.
func (s *banSet) blocks(addr netip.Addr, t time.Time) bool {
	for _, n := range s.bits {
		if n > addr.BitLen() {
			continue
		}
		p, err := addr.Prefix(n)
		if err != nil {
			continue
		}
		for _, b := range s.byPrefix[p] {
			if b.covers(addr, t) {
				return true
			}
		}
	}
	return false
}

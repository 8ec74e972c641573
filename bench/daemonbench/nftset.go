package main

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// setWatch looks addresses up in one named set of an inet table in the
// network namespace of the process. Lookups are point queries over one
// lasting netlink socket (tens of microseconds each), never dumps, whose
// cost grows with the set. The set may not exist yet: fail2ban creates its
// set at its first ban, and a restarted pinjail recreates a deleted table.
type setWatch struct {
	conn  *nftables.Conn
	table *nftables.Table
	name  string
	set   *nftables.Set // nil until found
}

func openSetWatch(table, set string) (*setWatch, error) {
	if table == "" || set == "" {
		return nil, errors.New("-table and -set are required")
	}
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return &setWatch{conn: c, table: &nftables.Table{Name: table, Family: nftables.TableFamilyINet}, name: set}, nil
}

func (s *setWatch) close() { s.conn.CloseLasting() }

// String names the set as nft does.
func (s *setWatch) String() string { return "inet " + s.table.Name + " " + s.name }

// resolve finds the set, reporting false while it does not exist.
func (s *setWatch) resolve() (bool, error) {
	if s.set != nil {
		return true, nil
	}
	set, err := s.conn.GetSetByName(s.table, s.name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("set %s: %w", s, err)
	}
	s.set = set
	return true, nil
}

// has reports whether the set holds addr.
func (s *setWatch) has(addr netip.Addr) (bool, error) {
	if ok, err := s.resolve(); !ok {
		return false, err
	}
	_, err := s.conn.FindSetElements(s.set, []nftables.SetElement{{Key: addr.AsSlice()}})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		// The element is missing, or the whole set went away (a flushed
		// table): look the set up again next time.
		if ok, rerr := s.lookupAgain(); !ok || rerr != nil {
			return false, rerr
		}
		return false, nil
	default:
		return false, fmt.Errorf("look up %v in set %s: %w", addr, s, err)
	}
}

// lookupAgain forgets the set and finds it again.
func (s *setWatch) lookupAgain() (bool, error) {
	s.set = nil
	return s.resolve()
}

// waitFor polls until the set holds every address of addrs and returns
// when it first saw the last of them. poll is the pause between lookups,
// short enough for sub-millisecond resolution yet leaving the CPU to the
// daemon on a small machine.
func (s *setWatch) waitFor(addrs []netip.Addr, deadline time.Time, poll time.Duration) (time.Time, error) {
	for _, a := range addrs {
		for {
			ok, err := s.has(a)
			if err != nil {
				return time.Time{}, err
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return time.Time{}, fmt.Errorf("%v not in set %s before the deadline", a, s)
			}
			time.Sleep(poll)
		}
	}
	return time.Now(), nil
}

// count dumps the set and returns how many addresses it holds. A dump of
// 100,000 elements takes about a second, so it is only for checking after
// the timing.
func (s *setWatch) count() (int, error) {
	if ok, err := s.resolve(); !ok {
		return 0, err
	}
	els, err := s.conn.GetSetElements(s.set)
	if err != nil {
		return 0, fmt.Errorf("dump set %s: %w", s, err)
	}
	n := 0
	for _, el := range els {
		if !el.IntervalEnd {
			n++
		}
	}
	return n, nil
}

// waitCount dumps the set until it holds at least n addresses and returns
// when it saw that.
func (s *setWatch) waitCount(n int, deadline time.Time, poll time.Duration) (time.Time, error) {
	for {
		got, err := s.count()
		switch {
		case errors.Is(err, unix.ENOENT):
			s.set = nil // the table went away; look the set up again
		case err != nil:
			return time.Time{}, err
		case got >= n:
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("set %s holds %d addresses at the deadline, want %d", s, got, n)
		}
		time.Sleep(poll)
	}
}

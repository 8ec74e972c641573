package main

import (
	"flag"
	"fmt"
	"net/netip"
	"time"
)

// runBans appends one wrong PIN from each of n new addresses, as fast as it
// can, to a jail that bans at the first failure, and times the daemon
// until the last address is in the set. Bans are made in log order, so the
// last address comes last.
func runBans(args []string) error {
	fs := flag.NewFlagSet("bans", flag.ContinueOnError)
	logPath := fs.String("log", "", "log file the daemon follows")
	table := fs.String("table", "pinjail", "inet table of the set")
	set := fs.String("set", "pexiprp-v4", "set the bans go to")
	n := fs.Int("n", 100_000, "addresses to ban")
	firstFlag := fs.String("first", "172.16.0.1", "first address; the others follow it")
	timeout := fs.Duration("timeout", 5*time.Minute, "longest wait")
	verify := fs.Bool("verify", true, "dump the set afterwards and check that it holds every address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	first, err := parseIPv4("first", *firstFlag)
	if err != nil {
		return err
	}
	if *logPath == "" || *n < 1 {
		return fmt.Errorf("want -log and -n of at least 1")
	}
	if err := checkRange(first, *n); err != nil {
		return err
	}
	watch, err := openSetWatch(*table, *set)
	if err != nil {
		return err
	}
	defer watch.close()
	last := addrAt(first, *n-1)
	for _, a := range []netip.Addr{first, last} {
		if ok, err := watch.has(a); err != nil || ok {
			return fmt.Errorf("%v already in set %s (err %v); start from an empty set", a, watch, err)
		}
	}
	log, err := openGuessLog(*logPath)
	if err != nil {
		return err
	}
	defer log.close()

	began := time.Now()
	if err := log.burst(first, *n); err != nil {
		return err
	}
	written := time.Since(began)
	done, err := watch.waitFor([]netip.Addr{last, first}, began.Add(*timeout), time.Millisecond)
	if err != nil {
		return err
	}
	secs := done.Sub(began).Seconds()
	count := -1
	if *verify {
		if count, err = watch.count(); err != nil {
			return err
		}
		if count < *n {
			return fmt.Errorf("set %s holds %d addresses, want at least %d", watch, count, *n)
		}
	}
	figures(
		"bans", *n,
		"seconds", secs,
		"bans_per_s", float64(*n)/secs,
		"write_seconds", written.Seconds(),
		"in_set", count,
	)
	return nil
}

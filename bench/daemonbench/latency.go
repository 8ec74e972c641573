package main

import (
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// runLatency appends one wrong PIN at a time, each from a new address, and
// times how long the daemon takes to put the address in the set. The jail
// must ban at the first failure (maxretry = 1). The clock starts just
// before the write of the line and stops at the first lookup that finds
// the address, so the figure covers the daemon noticing the write, reading
// and matching the line, deciding the ban and committing it to the kernel.
func runLatency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	logPath := fs.String("log", "", "log file the daemon follows")
	table := fs.String("table", "pinjail", "inet table of the set")
	set := fs.String("set", "pexiprp-v4", "set the bans go to")
	n := fs.Int("n", 100, "bans to time")
	warmup := fs.Int("warmup", 2, "bans made first and not timed (the first ban may set up the firewall)")
	gap := fs.Duration("gap", 20*time.Millisecond, "pause after each ban, so that bans do not queue behind each other")
	timeout := fs.Duration("timeout", 10*time.Second, "longest wait for one ban")
	poll := fs.Duration("poll", 100*time.Microsecond, "pause between set lookups")
	firstFlag := fs.String("first", "198.18.0.1", "address of the first guesser; the others follow it")
	samples := fs.String("samples", "", "file to write every latency to, in milliseconds, one a line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *logPath == "" || *n < 1 || *warmup < 0 {
		return fmt.Errorf("want -log and -n of at least 1")
	}
	first, err := parseIPv4("first", *firstFlag)
	if err != nil {
		return err
	}
	log, err := openGuessLog(*logPath)
	if err != nil {
		return err
	}
	defer log.close()
	watch, err := openSetWatch(*table, *set)
	if err != nil {
		return err
	}
	defer watch.close()

	lat := make([]time.Duration, 0, *n)
	for i := range *warmup + *n {
		a := addrAt(first, i)
		if ok, err := watch.has(a); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%v is in set %s before its failure was logged; start from an empty set", a, watch)
		}
		if err := log.guess(a, time.Now()); err != nil {
			return err
		}
		began := time.Now()
		if err := log.flush(); err != nil {
			return err
		}
		seen, err := watch.waitFor([]netip.Addr{a}, began.Add(*timeout), *poll)
		if err != nil {
			return fmt.Errorf("ban %d: %w", i+1, err)
		}
		if i >= *warmup {
			lat = append(lat, seen.Sub(began))
		}
		time.Sleep(*gap)
	}
	if *samples != "" {
		var b strings.Builder
		for _, d := range lat {
			fmt.Fprintf(&b, "%.3f\n", ms(d))
		}
		if err := os.WriteFile(*samples, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	slices.Sort(lat)
	figures(
		"n", len(lat),
		"min_ms", ms(lat[0]),
		"p50_ms", ms(percentile(lat, 50)),
		"p90_ms", ms(percentile(lat, 90)),
		"p99_ms", ms(percentile(lat, 99)),
		"max_ms", ms(lat[len(lat)-1]),
		"mean_ms", ms(sum/time.Duration(len(lat))),
	)
	return nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

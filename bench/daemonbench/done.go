package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// errDeadline reports a daemon that had not read its input by the
// deadline.
var errDeadline = errors.New("deadline passed")

// doneWatch tells when a daemon has read every line appended to its log.
// pinjail counts the lines it read in its metrics. fail2ban reports no such
// figure, so for it the input is followed by a sentinel: wrong PINs from an
// address the input does not hold, as many as the jail's maxretry. The
// daemon reads a file in order, so once the sentinel address is in the set
// it has read everything before it; the ban itself costs it milliseconds.
type doneWatch struct {
	metricsURL, jails        *string
	sentinel                 *int
	sentinelAddr, table, set *string

	met  *metricsClient
	base map[string]float64

	watch *setWatch
	addr  netip.Addr
}

// doneFlags registers the flags that choose how a doneWatch watches.
func doneFlags(fs *flag.FlagSet) *doneWatch {
	return &doneWatch{
		metricsURL:   fs.String("metrics", "", "pinjail's metrics URL (http://127.0.0.1:PORT/metrics)"),
		jails:        fs.String("jails", "", "with -metrics: comma-separated jails that must read every line; all that report when empty"),
		sentinel:     fs.Int("sentinel", 0, "instead of -metrics: wrong PINs of the sentinel address after the input (the jail's maxretry)"),
		sentinelAddr: fs.String("sentinel-addr", "198.19.255.254", "with -sentinel: the sentinel address"),
		table:        fs.String("table", "f2b-table", "with -sentinel: inet table of the set"),
		set:          fs.String("set", "addr-set-pexiprp", "with -sentinel: set the sentinel is banned into"),
	}
}

// open checks the flags and notes where the daemon stands.
func (w *doneWatch) open() error {
	if (*w.metricsURL == "") == (*w.sentinel == 0) {
		return errors.New("want either -metrics or -sentinel")
	}
	if *w.metricsURL != "" {
		w.met = newMetricsClient(*w.metricsURL)
		var err error
		w.base, err = w.met.byJail("pinjail_lines_total")
		return err
	}
	a, err := parseIPv4("sentinel-addr", *w.sentinelAddr)
	if err != nil {
		return err
	}
	w.addr = a
	if w.watch, err = openSetWatch(*w.table, *w.set); err != nil {
		return err
	}
	if ok, err := w.watch.has(a); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("sentinel %v already in set %s; start from an empty set", a, w.watch)
	}
	return nil
}

func (w *doneWatch) close() {
	if w.watch != nil {
		w.watch.close()
	}
}

// wait appends the sentinel, if any, to log and waits until the daemon has
// read lines lines more than when open was called. It returns when it saw
// that. At the deadline it returns errDeadline and, with -metrics, the
// lines read so far (-1 when unknown).
func (w *doneWatch) wait(log *os.File, lines int, deadline time.Time, poll time.Duration) (time.Time, float64, error) {
	if w.met == nil {
		g := newGuessLog(log)
		for range *w.sentinel {
			if err := g.guess(w.addr, time.Now()); err != nil {
				return time.Time{}, -1, err
			}
		}
		if err := g.flush(); err != nil {
			return time.Time{}, -1, err
		}
		done, err := w.watch.waitFor([]netip.Addr{w.addr}, deadline, poll)
		if err != nil {
			if time.Now().After(deadline) {
				err = fmt.Errorf("%w: %w", errDeadline, err)
			}
			return time.Time{}, -1, err
		}
		return done, float64(lines), nil
	}
	jails := splitList(*w.jails)
	for {
		read, err := w.met.linesRead(jails, w.base)
		if err != nil {
			return time.Time{}, -1, err
		}
		if read >= float64(lines) {
			return time.Now(), read, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, read, fmt.Errorf("%w: %.0f of %d lines read", errDeadline, read, lines)
		}
		time.Sleep(poll)
	}
}

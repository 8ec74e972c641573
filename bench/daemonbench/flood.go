package main

import (
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"
)

// runFlood appends one wrong PIN from each of n distinct addresses, as
// fast as it can, to a jail that does not ban them (each fails once, below
// maxretry), and samples the daemon's resident memory meanwhile: before
// the flood, its peak, when the last line was read, and -settle later. A
// daemon that has not read the flood by -timeout is reported as such
// (complete=false), with the lines it had read, rather than as an error:
// falling behind under a flood is a result too.
func runFlood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	logPath := fs.String("log", "", "log file the daemon follows")
	pid := fs.Int("pid", 0, "the daemon's process ID")
	n := fs.Int("n", 1_000_000, "distinct failing addresses")
	firstFlag := fs.String("first", "10.0.0.1", "first address; the others follow it")
	settle := fs.Duration("settle", 3*time.Second, "wait after the last line is read before the last sample")
	timeout := fs.Duration("timeout", 5*time.Minute, "longest wait for the daemon to read the flood")
	done := doneFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	first, err := parseIPv4("first", *firstFlag)
	if err != nil {
		return err
	}
	if *logPath == "" || *pid <= 0 || *n < 1 {
		return fmt.Errorf("want -log, -pid and -n of at least 1")
	}
	if err := checkRange(first, *n); err != nil {
		return err
	}
	before, _, err := rss(*pid)
	if err != nil {
		return err
	}
	cpuBefore, err := cpuTime(*pid)
	if err != nil {
		return err
	}
	if err := done.open(); err != nil {
		return err
	}
	defer done.close()

	// The sampler keeps the highest RSS it saw; VmHWM, the kernel's own
	// peak, covers what happens between samples.
	var (
		mu      sync.Mutex
		sampled int64
	)
	stopSampling, sampling := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampling)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if cur, _, err := rss(*pid); err == nil {
				mu.Lock()
				sampled = max(sampled, cur)
				mu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	defer func() {
		close(stopSampling)
		<-sampling
	}()

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
	finished, read, err := done.wait(log.f, *n, began.Add(*timeout), 100*time.Millisecond)
	complete := err == nil
	if errors.Is(err, errDeadline) {
		finished = time.Now()
	} else if err != nil {
		return err
	}
	secs := finished.Sub(began).Seconds()
	cpuAfter, err := cpuTime(*pid)
	if err != nil {
		return err
	}
	atEnd, _, err := rss(*pid)
	if err != nil {
		return err
	}
	tracked := -1.0
	if done.met != nil {
		ids, err := done.met.byJail("pinjail_tracked_ids")
		if err != nil {
			return err
		}
		tracked = 0
		for _, v := range ids {
			tracked += v
		}
	}
	settled, hwm := atEnd, int64(0)
	if complete {
		time.Sleep(*settle)
		if settled, hwm, err = rss(*pid); err != nil {
			return err
		}
	}
	mu.Lock()
	peak := max(sampled, hwm, atEnd)
	mu.Unlock()
	rate := -1.0 // unknown: a sentinel that never came
	if read >= 0 {
		rate = read / secs
	}
	figures(
		"addresses", *n,
		"complete", complete,
		"lines_read", int64(read),
		"seconds", secs,
		"lines_per_s", rate,
		"cpu_seconds", (cpuAfter - cpuBefore).Seconds(),
		"write_seconds", written.Seconds(),
		"rss_before_mib", mib(before),
		"rss_peak_mib", mib(peak),
		"rss_end_mib", mib(atEnd),
		"rss_settled_mib", mib(settled),
		"tracked", int64(tracked),
	)
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// runRestore starts the daemon (the arguments after the flags) and times
// it from the start until the set holds the n bans of its database again,
// which the bench has made with `bans` and then removed from the kernel.
// It looks up the first, middle and last address: pinjail restores a
// jail's bans in one transaction, which the kernel applies whole, so all of
// them present means the transaction is in. A dump then checks the count.
// fail2ban restores bans one at a time in no particular order; with
// -count the set is dumped until it holds them all, which costs little for
// the few thousand bans fail2ban is measured with.
// The daemon is stopped (SIGTERM) afterwards.
func runRestore(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	table := fs.String("table", "pinjail", "inet table of the set")
	set := fs.String("set", "pexiprp-v4", "set the bans go to")
	n := fs.Int("n", 100_000, "bans the database holds")
	firstFlag := fs.String("first", "172.16.0.1", "first banned address; the others follow it")
	timeout := fs.Duration("timeout", time.Minute, "longest wait")
	output := fs.String("output", "", "file for the daemon's standard output and error; discarded when empty")
	byCount := fs.Bool("count", false, "wait until a dump of the set holds -n addresses, instead of looking up three")
	if err := fs.Parse(args); err != nil {
		return err
	}
	first, err := parseIPv4("first", *firstFlag)
	if err != nil {
		return err
	}
	if *n < 1 || fs.NArg() == 0 {
		return fmt.Errorf("want -n of at least 1 and the daemon's command line after the flags")
	}
	if err := checkRange(first, *n); err != nil {
		return err
	}
	watch, err := openSetWatch(*table, *set)
	if err != nil {
		return err
	}
	defer watch.close()
	probes := []netip.Addr{first, addrAt(first, *n/2), addrAt(first, *n-1)}
	if ok, err := watch.has(probes[2]); err != nil || ok {
		return fmt.Errorf("%v already in set %s (err %v); remove the table first", probes[2], watch, err)
	}

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			return errors.New("daemon did not stop within 30 s of SIGTERM; killed")
		}
	}
	var done time.Time
	if *byCount {
		done, err = watch.waitCount(*n, began.Add(*timeout), 5*time.Millisecond)
	} else {
		done, err = watch.waitFor(probes, began.Add(*timeout), 500*time.Microsecond)
	}
	if err != nil {
		stop()
		return err
	}
	secs := done.Sub(began).Seconds()
	count, err := watch.count()
	if err != nil {
		stop()
		return err
	}
	if err := stop(); err != nil {
		return fmt.Errorf("stopping the daemon: %w", err)
	}
	if count < *n {
		return fmt.Errorf("set %s holds %d addresses after the restore, want at least %d", watch, count, *n)
	}
	figures(
		"bans", *n,
		"seconds", secs,
		"bans_per_s", float64(*n)/secs,
		"in_set", count,
	)
	return nil
}

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"time"
)

// runIngest appends a prepared log to the file the daemon follows, in
// chunks as fast as the file system takes them, and times the daemon
// reading all of it: from the first write until the daemon has read the
// last line (see doneWatch). With -pid it also reports the CPU time the
// daemon used meanwhile, which a busy machine disturbs less than the
// wall-clock time.
func runIngest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	src := fs.String("src", "", "the log to append (from rpgen)")
	logPath := fs.String("log", "", "log file the daemon follows")
	pid := fs.Int("pid", 0, "the daemon's process ID, for its CPU time; 0 for none")
	chunk := fs.Int("chunk", 1<<20, "bytes per write")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest wait")
	poll := fs.Duration("poll", 20*time.Millisecond, "pause between progress checks")
	done := doneFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" || *logPath == "" || *chunk < 1 {
		return fmt.Errorf("want -src, -log and a positive -chunk")
	}
	data, err := os.ReadFile(*src)
	if err != nil {
		return err
	}
	lines := bytes.Count(data, []byte{'\n'})
	out, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := done.open(); err != nil {
		return err
	}
	defer done.close()
	var cpuBefore time.Duration
	if *pid > 0 {
		if cpuBefore, err = cpuTime(*pid); err != nil {
			return err
		}
	}

	began := time.Now()
	for rest := data; len(rest) > 0; {
		n := min(*chunk, len(rest))
		if _, err := out.Write(rest[:n]); err != nil {
			return fmt.Errorf("append to %s: %w", *logPath, err)
		}
		rest = rest[n:]
	}
	written := time.Since(began)
	finished, _, err := done.wait(out, lines, began.Add(*timeout), *poll)
	if err != nil {
		return err
	}
	secs := finished.Sub(began).Seconds()
	cpu := -1.0
	if *pid > 0 {
		after, err := cpuTime(*pid)
		if err != nil {
			return err
		}
		cpu = (after - cpuBefore).Seconds()
	}
	figures(
		"lines", lines,
		"bytes", len(data),
		"seconds", secs,
		"lines_per_s", float64(lines)/secs,
		"cpu_seconds", cpu,
		"write_seconds", written.Seconds(),
	)
	return nil
}

// Command daemonbench measures a running log-watching daemon from the
// outside, for bench/daemon.sh: it appends Pexip reverse proxy log lines
// (written by internal/rplog) to the file the daemon follows, and watches
// what the daemon does through the kernel's nftables sets (over netlink),
// the daemon's Prometheus metrics and /proc. It works the same against
// `pinjail run` and fail2ban-server, so both are measured with one ruler.
//
//	daemonbench latency -log FILE -table pinjail -set pexiprp-v4
//	daemonbench ingest  -src FILE -log FILE -metrics URL
//	daemonbench ingest  -src FILE -log FILE -table f2b-table -set addr-set-pexiprp -sentinel 5
//	daemonbench bans    -log FILE -n 100000 -table pinjail -set pexiprp-v4
//	daemonbench restore -n 100000 -table pinjail -set pexiprp-v4 -- pinjail run ...
//	daemonbench flood   -log FILE -n 1000000 -pid PID -metrics URL
//
// Run it in the daemon's network namespace (ip netns exec), where its sets
// and its metrics listener are. Each subcommand prints its figures as one
// line of key=value pairs on standard output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	run     func(args []string) error
	summary string
}

var commands = map[string]command{
	"latency": {runLatency, "time from a failure line appended to the log to its address in the set"},
	"ingest":  {runIngest, "lines per second read while a file is appended to as fast as possible"},
	"bans":    {runBans, "bans per second when every line of a burst bans a new address"},
	"restore": {runRestore, "time from the daemon's start until its bans are back in the set"},
	"flood":   {runFlood, "memory of the daemon under a flood of distinct failing addresses"},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "daemonbench: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "daemonbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: daemonbench COMMAND [flags]; COMMAND -h lists its flags")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
}

// figures prints key=value pairs on one line; values that are float64 get
// three decimals.
func figures(kv ...any) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := kv[i+1].(type) {
		case float64:
			fmt.Fprintf(&b, "%s=%.3f", kv[i], v)
		default:
			fmt.Fprintf(&b, "%s=%v", kv[i], v)
		}
	}
	fmt.Println(b.String())
}

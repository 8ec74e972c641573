// Command rpgen writes a synthetic access log of a Pexip Infinity reverse
// proxy: web app and SDK joins, calls, registrations, PIN guessers and alias
// scanners, in the proxy's nginx format. The same flags give the same bytes.
//
//	rpgen -n 1000000 -seed 1 -o /tmp/rp.log
//
// -legitimate leaves the attackers out, and -until ends the log at a time
// rather than after -n lines (-n 0 -until ... for no line limit): the
// background of a scenario, in which no address should ever be banned.
//
//	rpgen -legitimate -n 0 -until 2024-05-14T10:00:00Z -rate 20 -o /tmp/bg.log
//
// On standard error it reports how many lines each kind of filter must
// match, so that benchmarks can check a filter's match count against it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rpgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rpgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lines := fs.Int("n", 1000000, "number of lines")
	seed := fs.Uint64("seed", 1, "seed of the random traffic")
	out := fs.String("o", "-", "output file, - for standard output")
	start := fs.String("start", "2024-05-14T09:00:00Z", "time of the first line, RFC 3339; the log keeps its offset")
	rate := fs.Float64("rate", rplog.DefaultRate, "mean lines per second of log time")
	until := fs.String("until", "", "end the log at this time, RFC 3339; with -n 0, no line limit")
	legitimate := fs.Bool("legitimate", false, "leave out the attackers: PIN and registration guessers, alias scanners")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	opts := rplog.TrafficOptions{Start: t0, Lines: *lines, Rate: *rate, LegitimateOnly: *legitimate}
	if *until != "" {
		if opts.Until, err = time.Parse(time.RFC3339, *until); err != nil {
			return fmt.Errorf("-until: %w", err)
		}
	} else if *lines == 0 {
		return fmt.Errorf("-n 0 needs -until")
	}

	var c rplog.Counts
	if *out == "-" {
		if c, err = generate(stdout, *seed, opts); err != nil {
			return err
		}
	} else {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		c, err = generate(f, *seed, opts)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "rpgen: %d lines: %d PIN failures (pexiprp matches), %d registration failures, %d unknown aliases\n",
		c.Lines, c.PINFailures, c.RegistrationFailures, c.UnknownAliases)
	return nil
}

func generate(dst io.Writer, seed uint64, opts rplog.TrafficOptions) (rplog.Counts, error) {
	w := rplog.NewWriter(dst, seed)
	if err := w.Traffic(opts); err != nil {
		return rplog.Counts{}, err
	}
	if err := w.Flush(); err != nil {
		return rplog.Counts{}, err
	}
	return w.Counts(), nil
}

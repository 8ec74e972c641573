package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/filtertest"
)

func newRegexCmd(g *globals) *cobra.Command {
	var (
		opts        filtertest.Options
		datePattern string
		maxLines    int
		useDNS      string
		jsonOut     bool
	)
	cmd := &cobra.Command{
		Use:   "regex LOG FILTER [IGNOREREGEX]",
		Short: "Test a filter against a log, like fail2ban-regex",
		Long: `Run FILTER over LOG and report the hits of every regular expression and
date template, in fail2ban-regex's layout.

LOG is a file, "-" for standard input, or a literal log line.
FILTER is a filter file, a filter name from the configuration directory (with
optional parameters, e.g. "sshd[mode=aggressive]"), or a literal regex.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.dir(cmd)
			if err != nil {
				return err
			}
			spec, desc, probs, err := filtertest.LoadFilter(dir, args[1], g.configOptions())
			for _, p := range probs {
				fmt.Fprintln(os.Stderr, p)
			}
			if err != nil {
				return &exitError{code: 255, err: err}
			}
			ignore := ""
			if len(args) == 3 {
				ignore = args[2]
				spec.IgnoreRegex = filtertest.LiteralIgnore(ignore)
			}
			if datePattern != "" {
				spec.DatePattern = datePattern
			}
			if maxLines > 0 {
				spec.MaxLines = maxLines
			}
			f, err := filter.New(spec, filter.Options{UseDNS: useDNS, CheckAllRegex: true, Logger: g.logger()})
			if err != nil {
				return &exitError{code: 255, err: err}
			}
			for _, w := range f.Warnings() {
				fmt.Fprintln(os.Stderr, "warning:", w)
			}

			in, name, closeFn, err := openLog(args[0])
			if err != nil {
				return &exitError{code: 255, err: err}
			}
			defer closeFn()

			var hit func(filtertest.Hit) error
			if jsonOut {
				hit = filtertest.JSONWriter(cmd.OutOrStdout())
			}
			rep, err := filtertest.Run(in, f, opts, hit)
			if err != nil {
				return &exitError{code: 255, err: fmt.Errorf("%s: %w", name, err)}
			}
			if jsonOut {
				return nil
			}
			dp := spec.DatePattern
			if dp == "" {
				dp = "{DEFAULT} : Default Detectors"
			}
			return rep.WriteText(cmd.OutOrStdout(), filtertest.Header{
				Filter: desc, Ignore: ignore, MaxLines: spec.MaxLines, DatePattern: dp, Log: name,
			}, f, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "list every regex, and the address and time of each match")
	fl.BoolVar(&opts.PrintAllMatched, "print-all-matched", false, "list every matched line")
	fl.BoolVar(&opts.PrintAllMissed, "print-all-missed", false, "list every missed line")
	fl.BoolVar(&opts.PrintAllIgnored, "print-all-ignored", false, "list every ignored line")
	fl.StringVarP(&datePattern, "datepattern", "d", "", "date pattern, overriding the filter's (plain %, not %%)")
	fl.IntVarP(&maxLines, "maxlines", "L", 0, "lines of the multi-line buffer, overriding the filter's")
	fl.StringVar(&useDNS, "usedns", "", "yes, warn, no or raw: how hostnames are turned into addresses")
	fl.BoolVar(&jsonOut, "json", false, "print one JSON object per match (line, time, host, fields) instead of the report")
	return cmd
}

// openLog opens the LOG argument: a file, "-" for stdin, or else the text
// itself as a one-line log.
func openLog(arg string) (io.Reader, string, func(), error) {
	if arg == "-" {
		return os.Stdin, "<stdin>", func() {}, nil
	}
	f, err := os.Open(arg)
	if err == nil {
		return f, arg, func() { f.Close() }, nil
	}
	if os.IsNotExist(err) && (strings.ContainsAny(arg, " \t") || !strings.Contains(arg, "/")) {
		return strings.NewReader(arg), "<log line>", func() {}, nil
	}
	return nil, "", nil, err
}

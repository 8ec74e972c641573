package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
)

func newCheckCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Test the configuration, like fail2ban-client -t",
		Long: `Read the configuration, build every enabled jail's filter and actions, and
print each jail with its filter, log paths and effective settings, then every
problem with its file and line. Exits non-zero when there is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return &exitError{code: 255, err: err}
			}
			// Compile the filters here: the configuration only holds their
			// text, and a regex that cannot be built disables its jail.
			for _, j := range cfg.Enabled() {
				if _, err := filter.New(j.Filter, filter.Options{UseDNS: j.UseDNS}); err != nil {
					j.Err = err
					cfg.Problems = append(cfg.Problems, config.Problem{
						Severity: config.SeverityError, File: j.Filter.File, Jail: j.Name, Msg: err.Error(),
					})
				}
			}
			w := cmd.OutOrStdout()
			writeCheck(w, cfg, all)
			if cfg.HasErrors() {
				fmt.Fprintln(w, "ERROR: test configuration failed")
				return &exitError{code: 255, err: errors.New("configuration has errors")}
			}
			fmt.Fprintln(w, "OK: configuration test is successful")
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also list disabled jails")
	return cmd
}

func writeCheck(w io.Writer, cfg *config.Config, all bool) {
	dir := cfg.Dir
	if dir == "" {
		dir = "(built-in defaults only)"
	}
	fmt.Fprintf(w, "Configuration: %s\n", dir)
	var enabled, disabled []string
	for _, j := range cfg.Jails {
		if j.Enabled {
			enabled = append(enabled, j.Name)
		} else {
			disabled = append(disabled, j.Name)
		}
	}
	fmt.Fprintf(w, "Jails: %d enabled (%s), %d disabled\n", len(enabled), strings.Join(enabled, ", "), len(disabled))
	if len(disabled) > 0 && !all {
		fmt.Fprintf(w, "Disabled (details with --all): %s\n", strings.Join(disabled, ", "))
	}
	fmt.Fprintln(w)
	for _, j := range cfg.Jails {
		if !j.Enabled && !all {
			continue
		}
		writeJail(w, j)
	}
	if len(cfg.Problems) > 0 {
		fmt.Fprintln(w, "Problems:")
		probs := append([]config.Problem(nil), cfg.Problems...)
		sort.SliceStable(probs, func(a, b int) bool { return probs[a].Severity > probs[b].Severity })
		for _, p := range probs {
			fmt.Fprintf(w, "  %s\n", p)
		}
		fmt.Fprintln(w)
	}
}

func writeJail(w io.Writer, j *config.Jail) {
	state := "enabled"
	switch {
	case j.Err != nil:
		state = "DISABLED BY ERROR: " + j.Err.Error()
	case !j.Enabled:
		state = "disabled"
	}
	fmt.Fprintf(w, "[%s] %s\n", j.Name, state)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	if f := j.Filter; f != nil {
		name := f.Name
		if f.Mode != "" && f.Mode != "normal" {
			name += " (mode " + f.Mode + ")"
		}
		row("filter", name+"  "+f.File)
		row("failregex", fmt.Sprintf("%d", len(f.FailRegex)))
		if f.DatePattern != "" {
			row("datepattern", f.DatePattern)
		}
		if f.MaxLines > 1 {
			row("maxlines", fmt.Sprint(f.MaxLines))
		}
	}
	if strings.HasPrefix(j.Backend, "systemd") {
		row("backend", j.Backend)
	} else {
		for i, lp := range j.LogPaths {
			k := ""
			if i == 0 {
				k = "logpath"
			}
			row(k, lp.Path+logPathState(lp))
		}
		row("backend", j.Backend)
	}
	row("maxretry", fmt.Sprint(j.MaxRetry))
	row("findtime", seconds(j.FindTime))
	row("bantime", seconds(j.BanTime))
	if j.Increment.Enabled {
		inc := "on"
		if j.Increment.MaxTime > 0 {
			inc += ", maxtime " + seconds(j.Increment.MaxTime)
		}
		row("bantime.increment", inc)
	}
	if j.Port != "" || j.Protocol != "" {
		row("port", j.Port+"/"+j.Protocol)
	}
	if len(j.IgnoreIP) > 0 || j.IgnoreSelf {
		ig := strings.Join(j.IgnoreIP, " ")
		if j.IgnoreSelf {
			ig = strings.TrimSpace(ig + " (and this host's addresses)")
		}
		row("ignoreip", ig)
	}
	row("usedns", j.UseDNS)
	for i, a := range j.Actions {
		k := ""
		if i == 0 {
			k = "action"
		}
		kind := "shell, " + a.File
		if a.Builtin {
			kind = "built-in"
		}
		row(k, a.ActName+"  ("+kind+")")
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// logPathState notes a log path whose glob matches nothing yet: pinjail
// waits for it to appear, where fail2ban would refuse to start.
func logPathState(lp config.LogPath) string {
	s := ""
	if lp.Tail {
		s = " (tail)"
	}
	if m, err := filepath.Glob(lp.Path); err != nil || len(m) == 0 {
		s += " (no such file yet)"
	}
	return s
}

func seconds(d time.Duration) string {
	if d == config.Permanent {
		return "-1 (permanent)"
	}
	return fmt.Sprintf("%d (%s)", int64(d/time.Second), d)
}

package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/guessing"
)

func newCheckCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Test the configuration, like fail2ban-client -t",
		Long: `Read the configuration, build every enabled jail's filter and actions, and
print each jail with its filter, log paths and effective settings, then every
problem with its file and line. Exits non-zero when there is an error.

For the jails that count wrong conference PINs, it also prints how long one
address needs to find a random 4-, 6- and 8-digit PIN, guessing once a second
while not banned and sending the PIN with its first request: for each jail
alone, and for the jails that read the same logs together.`,
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
	for _, group := range pinJailGroups(cfg.Enabled()) {
		if len(group) < 2 {
			continue
		}
		names := make([]string, len(group))
		for i, j := range group {
			names[i] = j.Name
		}
		last := len(names) - 1
		fmt.Fprintf(w, "PIN brute force, %s and %s together (%s):\n", strings.Join(names[:last], ", "), names[last], bruteForceAttacker)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		writeBruteForce(tw, "  ", group)
		tw.Flush()
		fmt.Fprintln(w)
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
	if p := j.Pexip; p.Joins {
		row("join accounting", fmt.Sprintf("403s held %v for the join's 200, up to %d per address and room", p.JoinWindow, p.JoinHold))
	}
	if p := j.Pexip; p.RoomBudget > 0 {
		rb := fmt.Sprintf("%d unexplained 403s in %v from all addresses → under attack for %v", p.RoomBudget, p.RoomWindow, p.RoomAttack)
		if p.AttackWebhook != "" {
			rb += ", webhook " + p.AttackWebhook
		}
		row("room budget", rb)
	}
	if j.IPv4Prefix > 0 && j.IPv4Prefix < 32 || j.IPv6Prefix > 0 && j.IPv6Prefix < 128 {
		row("counted per", fmt.Sprintf("IPv4 /%d, IPv6 /%d", j.IPv4Prefix, j.IPv6Prefix))
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
	if j.Enabled && j.Err == nil && countsPINs(j) {
		row("PIN brute force", bruteForceAttacker+":")
		writeBruteForce(tw, "  \t", []*config.Jail{j})
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// The attacker of the brute-force estimates: one address sending the PIN
// with its first request_token, the fastest way to guess through a jail,
// once a second.
const (
	bruteForceAttacker = "one address, 1 guess/s while not banned"
	guessInterval      = time.Second
)

// writeBruteForce writes one row per PIN length with the time one address
// needs to find a random PIN through jails, every line after prefix.
func writeBruteForce(w io.Writer, prefix string, jails []*config.Jail) {
	// Pexip accepts 4 to 10 digits and recommends 6 or more.
	for _, digits := range []int{4, 6, 8} {
		e, err := guessing.Expected(jails, digits, guessing.Attacker{Interval: guessInterval})
		var s string
		switch {
		case err != nil:
			s = err.Error()
		case e.Never:
			s = fmt.Sprintf("never: banned for good after %s, %s", plural(e.Guesses, "guess", "guesses"), odds(e.Chance(digits)))
		case e.Beyond:
			s = fmt.Sprintf("%s guesses, more than %d years", thousands(e.Guesses), guessing.HorizonYears)
		default:
			s = fmt.Sprintf("%s guesses, about %s", thousands(e.Guesses), approxDuration(e.Seconds))
		}
		fmt.Fprintf(w, "%s%d digits\t%s\n", prefix, digits, s)
	}
}

// countsPINs reports whether a jail counts wrong conference PINs: its
// filter is a Pexip one whose failures are 403s of a conference's
// request_token. The registration and alias-scan jails watch the same
// endpoint family but guess passwords and room names, not PINs.
func countsPINs(j *config.Jail) bool {
	if j.Filter == nil || !strings.HasPrefix(j.Filter.Name, "pexip") {
		return false
	}
	for _, re := range j.Filter.FailRegex {
		p := re.Pattern
		if strings.Contains(p, "conferences/") && strings.Contains(p, "request_token") && strings.Contains(p, "403") {
			return true
		}
	}
	return false
}

// pinJailGroups returns the jails that count PINs, grouped by the logs they
// read, in the jails' order: jails that share a log see the same guesses,
// and an attacker must get past them all.
func pinJailGroups(jails []*config.Jail) [][]*config.Jail {
	var pin []*config.Jail
	for _, j := range jails {
		if countsPINs(j) {
			pin = append(pin, j)
		}
	}
	// Union-find over shared logs.
	parent := make([]int, len(pin))
	root := func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	reader := make(map[string]int) // a log's first reader
	for i, j := range pin {
		parent[i] = i
		for _, src := range jailLogs(j) {
			if k, ok := reader[src]; ok {
				parent[root(i)] = root(k)
			} else {
				reader[src] = i
			}
		}
	}
	var groups [][]*config.Jail
	index := make(map[int]int) // root to group
	for i, j := range pin {
		r := root(i)
		g, ok := index[r]
		if !ok {
			g = len(groups)
			index[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], j)
	}
	return groups
}

// jailLogs names what a jail reads: its log paths, or its journal.
func jailLogs(j *config.Jail) []string {
	if strings.HasPrefix(j.Backend, "systemd") || len(j.LogPaths) == 0 {
		return []string{"journal"}
	}
	out := make([]string, len(j.LogPaths))
	for i, lp := range j.LogPaths {
		out[i] = lp.Path
	}
	return out
}

// approxDuration writes seconds in the largest unit that keeps the number
// at least 1.5 (up to years), to three significant digits.
func approxDuration(seconds float64) string {
	const (
		minute = 60
		hour   = 60 * minute
		day    = 24 * hour
		year   = 365.25 * day
	)
	v, unit := seconds, "seconds"
	switch {
	case seconds >= 1.5*year:
		v, unit = seconds/year, "years"
	case seconds >= 1.5*day:
		v, unit = seconds/day, "days"
	case seconds >= 1.5*hour:
		v, unit = seconds/hour, "hours"
	case seconds >= 1.5*minute:
		v, unit = seconds/minute, "minutes"
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// thousands writes n, not negative, with commas between groups of three
// digits.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// odds writes a probability as "a 1 in N chance".
func odds(p float64) string {
	n := 1 / p
	s := "a 1 in " + thousands(int64(math.Round(n))) + " chance"
	if math.Abs(n-math.Round(n)) > 1e-9*n {
		s = "about " + s
	}
	return s
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

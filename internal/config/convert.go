package config

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/ini"
)

// convertJail fills the typed fields of j from its option values (its
// filter's are overrideFilter's). It returns every problem found, placed at
// the offending option.
func convertJail(j *Jail, st *store, v jailValues) []error {
	var errs []error
	bad := func(opt string, err error) {
		pos := v.pos(opt, j.Pos)
		if _, read := v.from[opt]; !read {
			// pinjail's own options are not among the values read.
			if s, ok := st.byName[j.Name].get(opt); ok {
				pos = s.pos
			} else if s, ok := st.defaults.get(opt); ok {
				pos = s.pos
			}
		}
		errs = append(errs, valueErr(setting{pos: pos}, fmt.Errorf("%s: %w", opt, err)))
	}
	get := func(opt string) (string, bool) { return v.raw.get(opt) }

	for _, k := range st.allOptions(j.Name) {
		if strings.HasPrefix(k, knownTag) || k == "__name__" {
			continue
		}
		if s, err := st.get(j.Name, k, nil); err == nil {
			j.Options[k] = s
		}
	}

	if s, ok := get("backend"); ok {
		name, params, err := extractOptions(s)
		name = strings.ToLower(name)
		switch {
		case err != nil:
			bad("backend", err)
		case !slices.Contains(backends, name):
			bad("backend", fmt.Errorf("unknown backend %q, must be one of %s", name, strings.Join(backends, ", ")))
		default:
			j.Backend = name
			if params.len() > 0 {
				j.BackendOptions = params.toMap()
			}
		}
	}
	// fail2ban tests the backend as written, before lower-casing it.
	backend, _ := get("backend")
	if s, ok := get("logpath"); ok && !strings.HasPrefix(backend, "systemd") {
		for _, entry := range strings.Split(s, "\n") {
			if entry == "" {
				continue
			}
			lp := LogPath{Path: entry}
			if i := strings.LastIndexByte(entry, ' '); i >= 0 {
				lp.Path = entry[:i]
				switch mode := strings.ToLower(entry[i+1:]); mode {
				case "head":
				case "tail":
					lp.Tail = true
				default:
					bad("logpath", fmt.Errorf("%q: the word after the last space must be head or tail, not %q (a path with spaces needs an explicit head or tail)", entry, entry[i+1:]))
					continue
				}
			}
			j.LogPaths = append(j.LogPaths, lp)
		}
	}
	if s, ok := get("logencoding"); ok {
		j.LogEncoding = s
	}
	j.LogTimezone, _ = get("logtimezone")

	intOpt := func(opt string, dst *int, min int) {
		s, ok := get(opt)
		if !ok {
			return
		}
		n, err := pyInt(s)
		if err == nil && n < min {
			err = fmt.Errorf("%d is below %d", n, min)
		}
		if err != nil {
			bad(opt, err)
			return
		}
		*dst = n
	}
	intOpt("maxretry", &j.MaxRetry, 1)
	j.MaxMatches = j.MaxRetry
	intOpt("maxmatches", &j.MaxMatches, 0)

	durOpt := func(opt string, dst *time.Duration, check func(time.Duration) error) {
		s, ok := get(opt)
		if !ok {
			return
		}
		d, err := ParseDuration(s)
		if err == nil && check != nil {
			err = check(d)
		}
		if err != nil {
			bad(opt, err)
			return
		}
		*dst = d
	}
	nonNegative := func(d time.Duration) error {
		if d < 0 {
			return fmt.Errorf("%v is negative", d)
		}
		return nil
	}
	durOpt("findtime", &j.FindTime, nonNegative)
	durOpt("bantime", &j.BanTime, func(d time.Duration) error {
		if d != Permanent && d < 0 {
			return fmt.Errorf("%v is negative; only -1 (for ever) may be", d)
		}
		return nil
	})
	if j.BanTime != Permanent {
		// The server keeps ban times in whole seconds.
		j.BanTime = j.BanTime.Truncate(time.Second)
	}

	inc := &j.Increment
	if s, ok := get("bantime.increment"); ok {
		inc.Enabled = asBool(s)
	}
	if s, ok := get("bantime.factor"); ok && s != "" {
		if _, err := evalArith(s); err != nil {
			bad("bantime.factor", err)
		} else {
			inc.Factor = s
		}
	}
	inc.Formula, _ = get("bantime.formula")
	if s, ok := get("bantime.multipliers"); ok {
		for _, f := range strings.Fields(s) {
			m, err := strconv.ParseFloat(f, 64)
			if err != nil || m < 0 || math.IsInf(m, 0) || math.IsNaN(m) {
				bad("bantime.multipliers", fmt.Errorf("%q is not a number of times", f))
				break
			}
			inc.Multipliers = append(inc.Multipliers, m)
		}
	}
	if s, _ := get("bantime.maxtime"); s != "" {
		durOpt("bantime.maxtime", &inc.MaxTime, nonNegative)
	}
	if s, _ := get("bantime.rndtime"); s != "" {
		durOpt("bantime.rndtime", &inc.RndTime, nonNegative)
	}
	if s, ok := get("bantime.overalljails"); ok {
		inc.OverallJails = asBool(s)
	}

	if s, ok := get("ignoreip"); ok {
		j.IgnoreIP = splitWords(s)
	}
	if s, ok := get("ignoreself"); ok {
		j.IgnoreSelf = asBool(s)
	}
	j.IgnoreCommand, _ = get("ignorecommand")
	j.Port = j.Options["port"]
	j.Protocol = j.Options["protocol"]

	convertPinjail(j, bad)
	return errs
}

// convertPinjail fills the fields of pinjail's own options, which fail2ban
// would ignore.
func convertPinjail(j *Jail, bad func(opt string, err error)) {
	intOpt := func(opt string, dst *int, lo, hi int) {
		s, ok := j.Options[opt]
		if !ok || s == "" {
			return
		}
		n, err := pyInt(s)
		if err != nil || n < lo || n > hi {
			bad(opt, fmt.Errorf("%q is not a whole number from %d to %d", s, lo, hi))
			return
		}
		*dst = n
	}
	durOpt := func(opt string, dst *time.Duration) {
		s, ok := j.Options[opt]
		if !ok || s == "" {
			return
		}
		d, err := ParseDuration(s)
		if err == nil && d <= 0 {
			err = fmt.Errorf("%q is not a positive duration", s)
		}
		if err != nil {
			bad(opt, err)
			return
		}
		*dst = d
	}
	intOpt("maxtracked", &j.MaxTrackedIDs, 1, math.MaxInt32)
	j.IPv4Prefix, j.IPv6Prefix = 32, 128
	intOpt("ipv4prefix", &j.IPv4Prefix, 8, 32)
	intOpt("ipv6prefix", &j.IPv6Prefix, 16, 128)

	p := &j.Pexip
	*p = DefaultPexip()
	durOpt("joinwindow", &p.JoinWindow)
	intOpt("joinhold", &p.JoinHold, 1, 1000)
	intOpt("roombudget", &p.RoomBudget, 0, math.MaxInt32)
	durOpt("roomwindow", &p.RoomWindow)
	durOpt("roomattack", &p.RoomAttack)
	if s := j.Options["attackwebhook"]; s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("attackwebhook", fmt.Errorf("%q is not an http or https URL", s))
		} else {
			p.AttackWebhook = s
		}
	}
}

// overrideFilter applies the jail's filter options to its filter in the
// order fail2ban's command stream applies them: failregex, ignoreregex and
// journalmatch add to the filter's; datepattern replaces it; usedns,
// maxlines and prefregex replace it only when the filter's value did not
// come from its parameters or [Init], since fail2ban sends those after the
// jail's.
func (l *loader) overrideFilter(j *Jail, v jailValues, filterValues *dict, known map[string]Position) []error {
	f := j.Filter
	from := func(opt string) setting {
		s := v.from[opt]
		if s.pos.File == "" {
			s.pos = j.Pos
		}
		return s
	}
	var errs []error
	if s, ok := v.raw.get("failregex"); ok {
		f.FailRegex = append(f.FailRegex, regexLines(s, from("failregex"), known)...)
	}
	if s, ok := v.raw.get("ignoreregex"); ok {
		f.IgnoreRegex = append(f.IgnoreRegex, regexLines(s, from("ignoreregex"), known)...)
	}
	if s, ok := v.raw.get("journalmatch"); ok {
		f.JournalMatch = append(f.JournalMatch, nonEmptyLines(s)...)
	}
	if s, ok := v.raw.get("datepattern"); ok {
		f.DatePattern = s
	}
	if s, ok := v.raw.get("usedns"); ok && !filterValues.has("usedns") {
		f.UseDNS = s
	}
	if s, ok := v.raw.get("prefregex"); ok && !filterValues.has("prefregex") {
		f.PrefRegex = prefRegex(s, from("prefregex"))
	}
	if s, ok := v.raw.get("maxlines"); ok && !filterValues.has("maxlines") {
		n, err := maxLines(s, from("maxlines"))
		if err != nil {
			errs = append(errs, err)
		} else {
			f.MaxLines = n
		}
	}
	if f.UseDNS != "" {
		j.UseDNS = strings.ToLower(f.UseDNS)
	}
	if !slices.Contains([]string{"yes", "warn", "no", "raw"}, j.UseDNS) {
		s := from("usedns")
		l.problem(Problem{Severity: SeverityWarning, File: s.pos.File, Line: s.pos.Line, Jail: j.Name,
			Msg: fmt.Sprintf("usedns %q is none of yes, warn, no, raw: using no", j.UseDNS)})
		j.UseDNS = "no"
	}
	f.UseDNS = j.UseDNS
	return errs
}

// asBool is fail2ban's _as_bool.
func asBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}

// pyInt parses an integer as Python's int() of a string does: blanks
// around, an optional sign, and digits with single underscores between.
func pyInt(s string) (int, error) {
	t := strings.TrimFunc(s, ini.IsSpace)
	digits := strings.TrimLeft(t, "+-")
	ok := len(t)-len(digits) <= 1 && digits != "" && digits[0] != '_' && digits[len(digits)-1] != '_' && !strings.Contains(digits, "__")
	n, err := strconv.Atoi(strings.ReplaceAll(t, "_", ""))
	if !ok || err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

// splitWords is fail2ban's splitwords: words separated by spaces, commas
// and newlines.
func splitWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' }) {
		if w = strings.TrimFunc(w, ini.IsSpace); w != "" {
			out = append(out, w)
		}
	}
	return out
}

package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/ini"
)

// jailOpts is JailReader._configOpts in its order, followed by the
// filter's: the jail options fail2ban reads and sends to the server. They
// are also the jail values that filters and actions see as <tag>s.
var jailOpts = append([]optSpec{
	{"enabled", kindBool},
	{"backend", kindString},
	{"maxretry", kindInt},
	{"maxmatches", kindInt},
	{"findtime", kindString},
	{"bantime", kindString},
	{"bantime.increment", kindBool},
	{"bantime.factor", kindString},
	{"bantime.formula", kindString},
	{"bantime.multipliers", kindString},
	{"bantime.maxtime", kindString},
	{"bantime.rndtime", kindString},
	{"bantime.overalljails", kindBool},
	{"ignorecommand", kindString},
	{"ignoreself", kindBool},
	{"ignoreip", kindString},
	{"ignorecache", kindString},
	{"filter", kindString},
	{"logtimezone", kindString},
	{"logencoding", kindString},
	{"logpath", kindString},
	{"action", kindString},
}, filterOpts...)

// jailFirstOpts is JailReader._configOpts1st: what is read before the
// filter, whose values the jail may then refer to as %(known/opt)s.
var jailFirstOpts = []optSpec{{"enabled", kindBool}, {"backend", kindString}, {"filter", kindString}}

// jailOptDefaults are JailReader's values for options set nowhere.
var jailOptDefaults = map[string]string{"enabled": "false", "backend": "auto", "filter": "", "action": ""}

// pinjailOpts are the jail options pinjail adds to fail2ban's.
var pinjailOpts = []string{
	"maxtracked", "ipv4prefix", "ipv6prefix", "blocktype",
	"joinwindow", "joinhold", "roombudget", "roomwindow", "roomattack", "attackwebhook",
}

// Code defaults of fail2ban's server, for options set nowhere.
const (
	defaultMaxRetry   = 3
	defaultFindTime   = 10 * time.Minute
	defaultBanTime    = 10 * time.Minute
	defaultUseDNS     = "warn"
	defaultBackend    = "auto"
	defaultMaxTracked = 1000000
)

// backends are the backend names fail2ban's server accepts.
var backends = []string{"auto", "pyinotify", "gamin", "polling", "systemd"}

// jailValues holds a jail's options as JailReader.getOptions reads them:
// the text after %(name)s interpolation, and where each was written.
type jailValues struct {
	raw  *dict
	from map[string]setting
}

// readJailValues reads the options of specs from section jail. Options that
// cannot be resolved are left out and their errors returned.
func readJailValues(st *store, jail string, specs []optSpec) (jailValues, []error) {
	v := jailValues{raw: newDict(), from: make(map[string]setting)}
	var errs []error
	for _, sp := range specs {
		s, src, err := st.getSetting(jail, sp.name, nil)
		switch {
		case isMissing(err):
			if d, ok := jailOptDefaults[sp.name]; ok {
				v.raw.set(sp.name, d)
			}
		case err != nil:
			errs = append(errs, err)
		default:
			v.raw.set(sp.name, s)
			v.from[sp.name] = src
		}
	}
	return v, errs
}

// pos returns where option opt was written, or else the jail's header.
func (v jailValues) pos(opt string, jail Position) Position {
	if s, ok := v.from[opt]; ok && s.pos.File != "" {
		return s.pos
	}
	return jail
}

// tagVars converts the values as fail2ban's getOptions does before handing
// them to filters and actions: booleans become "True" or "False" and
// integers lose their formatting, as Python's str() of them would.
func (v jailValues) tagVars(specs []optSpec) (*dict, error) {
	out := newDict()
	for _, sp := range specs {
		s, ok := v.raw.get(sp.name)
		if !ok {
			continue
		}
		switch sp.kind {
		case kindBool:
			if asBool(s) {
				s = "True"
			} else {
				s = "False"
			}
		case kindInt:
			n, err := pyInt(s)
			if err != nil {
				return nil, valueErr(v.from[sp.name], fmt.Errorf("%s: %w", sp.name, err))
			}
			s = strconv.Itoa(n)
		}
		out.set(sp.name, s)
	}
	return out, nil
}

// refName matches a %(name)s reference.
var refName = regexp.MustCompile(`%\(([^)]+)\)s`)

// referencedNames returns every name that a %(name)s in the jail files
// refers to, with the option part of %(sec/opt)s as well.
func referencedNames(st *store) map[string]bool {
	refs := make(map[string]bool)
	add := func(s *section) {
		for _, k := range s.keys {
			for _, m := range refName.FindAllStringSubmatch(s.vals[k].value, -1) {
				n := strings.ToLower(m[1])
				refs[n] = true
				if i := strings.IndexByte(n, '/'); i >= 0 {
					refs[n[i+1:]] = true
				}
			}
		}
	}
	add(st.defaults)
	for _, s := range st.sections {
		add(s)
	}
	return refs
}

// checkOptionNames warns about options of the jail section that nothing
// reads: neither fail2ban nor pinjail knows them, and no %(name)s in the
// jail files refers to them. They are most often typing mistakes.
func (l *loader) checkOptionNames(st *store, jail string, refs map[string]bool) {
	for _, k := range st.ownOptions(jail) {
		if refs[k] || slices.Contains(pinjailOpts, k) || slices.ContainsFunc(jailOpts, func(o optSpec) bool { return o.name == k }) {
			continue
		}
		s, _ := st.byName[jail].get(k)
		l.problem(Problem{Severity: SeverityWarning, File: s.pos.File, Line: s.pos.Line, Jail: jail,
			Msg: fmt.Sprintf("unknown option %q: neither a jail option nor used by any %%(%s)s", k, k)})
	}
}

// loadJail reads jail section name as fail2ban's JailReader does, and
// resolves it into a Jail. Problems are recorded; an error also disables
// the jail through Jail.Err.
func (l *loader) loadJail(st *store, name string) *Jail {
	sect := st.byName[name]
	j := newJail(name, sect.pos)
	// pending holds the errors in the jail's own values. They are found
	// before the filter and actions are built, and reported with any
	// error met there, so that one run shows every mistake.
	var pending []error
	fail := func(pos Position, errs ...error) *Jail {
		for _, err := range pending {
			l.problem(errorProblem(SeverityError, name, j.Pos, err))
		}
		for _, err := range errs {
			l.problem(errorProblem(SeverityError, name, pos, err))
		}
		if all := append(pending, errs...); len(all) > 0 {
			j.Err = all[0]
		}
		return j
	}

	first, errs := readJailValues(st, name, jailFirstOpts)
	if len(errs) > 0 {
		return fail(j.Pos, errs...)
	}
	enabled, _ := first.raw.get("enabled")
	j.Enabled = asBool(enabled)
	if !j.Enabled {
		// fail2ban reads no further; pinjail fills in what it can for
		// display, without judging a jail that does not run.
		values, _ := readJailValues(st, name, jailOpts)
		_ = convertJail(j, st, values)
		return j
	}
	firstVars, err := first.tagVars(jailFirstOpts)
	if err != nil {
		return fail(j.Pos, err)
	}

	backend, _ := first.raw.get("backend")
	var fd *definition
	// knownRegex places the filter's regexes, which a jail's
	// %(known/failregex)s copies into its own value.
	knownRegex := make(map[string]Position)
	if spec, _ := first.raw.get("filter"); spec != "" {
		pos := first.pos("filter", j.Pos)
		fname, params, err := extractOptions(spec)
		if err != nil {
			return fail(pos, fmt.Errorf("invalid filter definition %q: %w", spec, err))
		}
		if fd, err = l.filterDefinition(fname, params); err != nil {
			return fail(pos, err)
		}
		fd.autoOptions(backend)
		if err := fd.readOptions(firstVars, true); err != nil {
			return fail(pos, fmt.Errorf("filter %s: %w", fname, err))
		}
		comb, err := fd.combined()
		if err != nil {
			return fail(pos, fmt.Errorf("filter %s: %w", fname, err))
		}
		// The filter's values become the jail's %(known/opt)s.
		for _, k := range comb.keys {
			if !strings.HasPrefix(k, knownTag) && k != "__name__" {
				src, _ := fd.source(k)
				sect.set(knownTag+k, setting{value: comb.m[k], pos: src.pos})
			}
		}
		for _, opt := range []string{"failregex", "ignoreregex"} {
			src, _ := fd.source(opt)
			for _, r := range regexLines(comb.m[opt], src, nil) {
				knownRegex[r.Pattern] = r.Pos
			}
		}
	} else {
		l.problem(Problem{Severity: SeverityWarning, File: j.Pos.File, Line: j.Pos.Line, Jail: name, Msg: "no filter set: the jail never matches anything"})
	}

	values, errs := readJailValues(st, name, jailOpts)
	if len(errs) > 0 {
		return fail(j.Pos, errs...)
	}
	pending = convertJail(j, st, values)
	vars, err := values.tagVars(jailOpts)
	if err != nil {
		if len(pending) > 0 {
			// convertJail has reported the same value.
			return fail(j.Pos)
		}
		return fail(j.Pos, err)
	}
	if fd != nil {
		if err := fd.readOptions(vars, false); err != nil {
			return fail(first.pos("filter", j.Pos), fmt.Errorf("filter %s: %w", fd.name, err))
		}
	}

	actionPos := values.pos("action", j.Pos)
	actionValue, _ := values.raw.get("action")
	entries, err := splitActions(actionValue)
	if err != nil {
		return fail(actionPos, err)
	}
	for _, entry := range entries {
		entry = strings.TrimFunc(entry, ini.IsSpace)
		if entry == "" {
			continue
		}
		aname, params, err := extractOptions(entry)
		if err != nil {
			return fail(actionPos, fmt.Errorf("invalid action definition %q: %w", entry, err))
		}
		a, err := l.loadAction(name, aname, params, vars, actionPos)
		if err != nil {
			return fail(actionPos, err)
		}
		j.Actions = append(j.Actions, a)
	}
	if len(j.Actions) == 0 {
		l.problem(Problem{Severity: SeverityWarning, File: actionPos.File, Line: actionPos.Line, Jail: name, Msg: "no actions defined: failures are counted but nobody is banned"})
	}

	filterValues := newDict()
	if fd != nil {
		if j.Filter, filterValues, err = buildFilter(fd); err != nil {
			return fail(first.pos("filter", j.Pos), fmt.Errorf("filter %s: %w", fd.name, err))
		}
	} else {
		j.Filter = &Filter{MaxLines: 1, LogType: logType(backend)}
	}
	pending = append(pending, l.overrideFilter(j, values, filterValues, knownRegex)...)
	// Join accounting is a mode of the filter, so that both
	// filter = pexiprp[mode=strict] and the jail's mode = strict choose it.
	j.Pexip.Joins = j.Filter.Mode == "joins"
	if len(pending) > 0 {
		return fail(j.Pos)
	}
	return j
}

func newJail(name string, pos Position) *Jail {
	return &Jail{
		Name:          name,
		Pos:           pos,
		Backend:       defaultBackend,
		LogEncoding:   "auto",
		MaxRetry:      defaultMaxRetry,
		MaxMatches:    defaultMaxRetry,
		FindTime:      defaultFindTime,
		BanTime:       defaultBanTime,
		Increment:     Increment{Factor: "1"},
		IgnoreSelf:    true,
		UseDNS:        defaultUseDNS,
		MaxTrackedIDs: defaultMaxTracked,
		Options:       make(map[string]string),
	}
}

func logType(backend string) string {
	if strings.HasPrefix(backend, "systemd") {
		return "journal"
	}
	return "file"
}

package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pinjail/pinjail/internal/ini"
)

// setting is one option value and where it was written.
type setting struct {
	value string
	pos   Position
	lines []int // line of each line of value, when known
}

// lineOf returns the position of line i of the value as written.
func (s setting) lineOf(i int) Position {
	if i >= 0 && i < len(s.lines) {
		return Position{File: s.pos.File, Line: s.lines[i]}
	}
	return s.pos
}

// section is a section merged from several files, options in the order of
// first definition.
type section struct {
	name string
	pos  Position // first header
	keys []string
	vals map[string]setting
}

func newSection(name string, pos Position) *section {
	return &section{name: name, pos: pos, vals: make(map[string]setting)}
}

func (s *section) get(k string) (setting, bool) {
	if s == nil {
		return setting{}, false
	}
	v, ok := s.vals[k]
	return v, ok
}

func (s *section) set(k string, v setting) {
	if _, ok := s.vals[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.vals[k] = v
}

// store is a set of configuration files read into one, as fail2ban's
// SafeConfigParserWithIncludes reads them: each file is parsed on its own,
// then merged option by option into [DEFAULT] and the sections, a later file
// overriding an earlier one. Before an override, the previous value is kept
// in the shadow section "KNOWN/<section>" for %(known/opt)s.
type store struct {
	defaults *section
	sections []*section
	byName   map[string]*section
	files    []string // shown paths of the files read, in order
}

const (
	includesSection = "INCLUDES"
	knownPrefix     = "KNOWN/"
	maxInterpDepth  = 10 // configparser's MAX_INTERPOLATION_DEPTH
)

func newStore() *store {
	return &store{defaults: newSection(ini.DefaultSection, Position{}), byName: make(map[string]*section)}
}

func (st *store) addSection(name string, pos Position) *section {
	s := newSection(name, pos)
	st.sections = append(st.sections, s)
	st.byName[name] = s
	return s
}

// conditionalName matches fail2ban's CONDITIONAL_RE, `^(\w+)(\?.+)$`: a
// section such as "Init?family=inet6" whose options are merged into "Init"
// as "opt?family=inet6".
var conditionalName = regexp.MustCompile(`^([\p{L}\p{N}_]+)(\?(?s:.+))$`)

// merge adds a parsed file.
func (st *store) merge(f *ini.File, shown string) {
	st.files = append(st.files, shown)
	for _, fsec := range f.Sections {
		name, cond := fsec.Name, ""
		if m := conditionalName.FindStringSubmatch(name); m != nil {
			name, cond = m[1], m[2]
		}
		if name == ini.DefaultSection && cond == "" {
			for _, o := range fsec.Options {
				st.defaults.set(o.Name, newSetting(o, shown))
			}
			continue
		}
		target := st.byName[name]
		if target == nil {
			target = st.addSection(name, Position{File: shown, Line: fsec.Line})
		} else {
			known := st.byName[knownPrefix+name]
			if known == nil {
				known = st.addSection(knownPrefix+name, Position{File: shown, Line: fsec.Line})
			}
			for _, o := range fsec.Options {
				if prev, ok := target.get(o.Name + cond); ok {
					known.set(o.Name+cond, prev)
				}
			}
		}
		for _, o := range fsec.Options {
			target.set(o.Name+cond, newSetting(o, shown))
		}
	}
}

func newSetting(o *ini.Option, shown string) setting {
	return setting{value: o.Value, pos: Position{File: shown, Line: o.Line}, lines: o.Lines}
}

// errNoSection and errNoOption are configparser's NoSectionError and
// NoOptionError: lookups that find nothing, which callers often tolerate,
// unlike the interpolation errors.
var (
	errNoSection = errors.New("no such section")
	errNoOption  = errors.New("no such option")
)

// lookup resolves names for one get: configparser's ChainMap of the
// interpolation's own entries (__name__, mapped sec/opt references), the
// caller's vars, the section and [DEFAULT].
type lookup struct {
	own  map[string]setting
	vars *dict
	sect *section
	defs *section
}

func (l *lookup) find(k string) (setting, bool) {
	if v, ok := l.own[k]; ok {
		return v, true
	}
	if v, ok := l.vars.get(k); ok {
		return setting{value: v}, true
	}
	if v, ok := l.sect.get(k); ok {
		return v, true
	}
	return l.defs.get(k)
}

// get returns option opt of section sec with %(name)s references resolved,
// as configparser's get(sec, opt, vars=vars) does: vars, whose names are
// matched case-insensitively, take precedence over the section, and the
// section over [DEFAULT].
func (st *store) get(sec, opt string, vars *dict) (string, error) {
	s, _, err := st.getSetting(sec, opt, vars)
	return s, err
}

// getSetting is get that also returns where the raw value was written.
func (st *store) getSetting(sec, opt string, vars *dict) (string, setting, error) {
	sect := st.byName[sec]
	if sect == nil && sec != ini.DefaultSection {
		return "", setting{}, fmt.Errorf("[%s]: %w", sec, errNoSection)
	}
	opt = strings.ToLower(opt)
	l := &lookup{own: make(map[string]setting), vars: lowerKeys(vars), sect: sect, defs: st.defaults}
	raw, ok := l.find(opt)
	if !ok {
		return "", setting{}, fmt.Errorf("[%s] %s: %w", sec, opt, errNoOption)
	}
	var b strings.Builder
	if err := st.interpolate(&b, sec, opt, raw, raw.value, l, 1); err != nil {
		return "", raw, err
	}
	return b.String(), raw, nil
}

// lowerKeys returns d with its keys lower-cased, as configparser does to the
// vars of a get.
func lowerKeys(d *dict) *dict {
	if d == nil {
		return nil
	}
	for _, k := range d.keys {
		if strings.ToLower(k) != k {
			out := newDict()
			for _, k := range d.keys {
				out.set(strings.ToLower(k), d.m[k])
			}
			return out
		}
	}
	return d
}

// keyRef and sectionRef are configparser's _KEYCRE and fail2ban's
// SECTION_OPTSUBST_CRE.
var (
	keyRef     = regexp.MustCompile(`^%\(([^)]+)\)s`)
	sectionRef = regexp.MustCompile(`%\(([\p{L}\p{N}_\-]+/([^)]+))\)s`)
)

// interpolate is BasicInterpolation._interpolate_some with fail2ban's
// additions: __name__ is the section, and %(sec/opt)s, %(default/opt)s and
// %(known/opt)s read other sections. Referenced values are resolved in the
// context of the section being read, like every other reference.
func (st *store) interpolate(b *strings.Builder, sec, opt string, top setting, rest string, l *lookup, depth int) error {
	if depth > maxInterpDepth {
		return valueErr(top, fmt.Errorf("[%s] %s: %%(...)s references nested more than %d deep (a reference loop?)", sec, opt, maxInterpDepth))
	}
	l.own["__name__"] = setting{value: sec}
	st.mapSectionRefs(sec, rest, l)
	for rest != "" {
		p := strings.IndexByte(rest, '%')
		if p < 0 {
			b.WriteString(rest)
			return nil
		}
		b.WriteString(rest[:p])
		rest = rest[p:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			b.WriteByte('%')
			rest = rest[2:]
		case strings.HasPrefix(rest, "%("):
			m := keyRef.FindStringSubmatchIndex(rest)
			if m == nil {
				return valueErr(top, fmt.Errorf("[%s] %s: bad %%(name)s reference in %q", sec, opt, clip(rest)))
			}
			name := strings.ToLower(rest[m[2]:m[3]])
			rest = rest[m[1]:]
			v, ok := l.find(name)
			if !ok {
				return valueErr(top, fmt.Errorf("[%s] %s: %%(%s)s refers to an option that is not defined", sec, opt, name))
			}
			if !strings.Contains(v.value, "%") {
				b.WriteString(v.value)
				continue
			}
			if err := st.interpolate(b, sec, opt, top, v.value, l, depth+1); err != nil {
				return err
			}
		default:
			return valueErr(top, fmt.Errorf("[%s] %s: '%%' must be followed by '%%' or '(', found %q (write %%%% for a literal %%)", sec, opt, clip(rest)))
		}
	}
	return nil
}

// mapSectionRefs is fail2ban's _map_section_options: it makes the raw
// values of %(sec/opt)s references in rest available under those names.
func (st *store) mapSectionRefs(sec, rest string, l *lookup) {
	if !strings.Contains(rest, "/") || !strings.Contains(rest, "%(") {
		return
	}
	for _, m := range sectionRef.FindAllStringSubmatch(rest, -1) {
		ref, opt := m[1], m[2]
		if _, ok := l.find(ref); ok {
			continue
		}
		from := ref[:len(ref)-len(opt)-1]
		var v setting
		found := false
		switch strings.ToLower(from) {
		case "default":
		case "known":
			v, found = st.byName[knownPrefix+sec].get(opt)
		default:
			other := st.byName[from]
			if other == nil {
				continue
			}
			v, found = other.get(opt)
		}
		if !found {
			if v, found = st.defaults.get(opt); !found {
				continue
			}
		}
		l.own[ref] = v
	}
}

// sectionOption matches fail2ban's SECTION_OPTNAME_CRE: an option name of
// the form "sec/opt".
var sectionOption = regexp.MustCompile(`^([\p{L}\p{N}_\-]+)/([^\s\v\x1c-\x1f\x85\p{Z}>]+)$`)

// getEx is fail2ban's get_ex: like get, but an option named "sec/opt" is
// first looked up as opt in section sec ("known/opt": the shadow of the
// current section, then the section itself; "default/opt": [DEFAULT]).
func (st *store) getEx(sec, opt string, vars *dict) (string, error) {
	if m := sectionOption.FindStringSubmatch(opt); m != nil {
		var tries []string
		switch strings.ToLower(m[1]) {
		case "known":
			tries = []string{knownPrefix + sec, sec}
		case "default":
			tries = []string{ini.DefaultSection}
		default:
			tries = []string{m[1]}
		}
		for _, s := range tries {
			v, err := st.get(s, m[2], nil)
			if err == nil {
				return v, nil
			}
			if !errors.Is(err, errNoSection) && !errors.Is(err, errNoOption) {
				return "", err
			}
		}
	}
	return st.get(sec, opt, vars)
}

// ownOptions returns the names of the options set in section sec itself,
// without those inherited from [DEFAULT].
func (st *store) ownOptions(sec string) []string {
	if s := st.byName[sec]; s != nil {
		return s.keys
	}
	return nil
}

// allOptions returns the names of the options of sec and of [DEFAULT].
func (st *store) allOptions(sec string) []string {
	out := append([]string(nil), st.ownOptions(sec)...)
	for _, k := range st.defaults.keys {
		if _, own := st.byName[sec].get(k); !own {
			out = append(out, k)
		}
	}
	return out
}

// valueError is an error in an option's value, placed where it was written.
type valueError struct {
	pos Position
	err error
}

func (e *valueError) Error() string {
	if e.pos.File == "" {
		return e.err.Error()
	}
	return fmt.Sprintf("%s:%d: %v", e.pos.File, e.pos.Line, e.err)
}

func (e *valueError) Unwrap() error { return e.err }

func valueErr(s setting, err error) error {
	return &valueError{pos: s.pos, err: err}
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

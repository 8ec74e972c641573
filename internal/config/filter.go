package config

import (
	"fmt"
	"strings"
)

// filterDefinition reads filter.d/<name> with its parameters.
func (l *loader) filterDefinition(name string, params *dict) (*definition, error) {
	file, err := l.readNamed("filter.d/" + name)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	if len(file.errs) > 0 {
		return nil, file.errs[0]
	}
	return newDefinition(name, file, filterOpts, params), nil
}

// autoOptions is FilterReader.applyAutoOptions: unless the filter or its
// parameters set logtype, it follows the backend.
func (d *definition) autoOptions(backend string) {
	if v, _ := d.init.get("logtype"); v != "" {
		return
	}
	if _, own := d.file.byName[definitionSection].get("logtype"); own {
		return
	}
	d.init.set("logtype", logType(backend))
}

// buildFilter turns a filter read for a jail into a Filter, with the
// filter's own values (overrideFilter applies the jail's). It also returns
// the filter's resolved options.
func buildFilter(d *definition) (*Filter, *dict, error) {
	comb, err := d.combined()
	if err != nil {
		return nil, nil, err
	}
	f := &Filter{
		Name:     d.name,
		File:     d.file.main,
		Params:   make(map[string]string),
		MaxLines: 1,
	}
	for _, k := range d.init.keys {
		if !strings.HasPrefix(k, knownTag) {
			f.Params[k] = comb.m[k]
		}
	}
	if f.Mode, err = d.resolved(comb, "mode"); err != nil {
		return nil, nil, err
	}
	if f.LogType, err = d.resolved(comb, "logtype"); err != nil {
		return nil, nil, err
	}
	src := func(opt string) setting {
		s, _ := d.source(opt)
		if s.pos.File == "" {
			s.pos.File = d.file.main
		}
		return s
	}
	if v, ok := comb.get("failregex"); ok {
		f.FailRegex = regexLines(v, src("failregex"), nil)
	}
	if v, ok := comb.get("ignoreregex"); ok {
		f.IgnoreRegex = regexLines(v, src("ignoreregex"), nil)
	}
	if v, ok := comb.get("prefregex"); ok {
		f.PrefRegex = prefRegex(v, src("prefregex"))
	}
	if v, ok := comb.get("maxlines"); ok {
		if f.MaxLines, err = maxLines(v, src("maxlines")); err != nil {
			return nil, nil, err
		}
	}
	f.DatePattern, _ = comb.get("datepattern")
	f.UseDNS, _ = comb.get("usedns")
	if v, ok := comb.get("journalmatch"); ok {
		f.JournalMatch = nonEmptyLines(v)
	}
	return f, comb, nil
}

// resolved returns a filter value that may come from the parameters,
// [Init] or [Definition].
func (d *definition) resolved(comb *dict, opt string) (string, error) {
	if v, ok := comb.get(opt); ok {
		return v, nil
	}
	v, _, err := d.lookupTag(opt)
	return v, err
}

// regexLines splits a failregex or ignoreregex value into its regexes, one
// per line. Each is placed at its line as written when it can be told: the
// value has as many lines as written, or the regex is a line written as it
// is, or one of known, the regexes already placed that %(known/...)s copies.
// Otherwise it is placed at the option.
func regexLines(v string, src setting, known map[string]Position) []Regex {
	lines := strings.Split(v, "\n")
	exact := len(lines) == len(src.lines)
	written := make(map[string]Position)
	for i, line := range strings.Split(src.value, "\n") {
		if i < len(src.lines) {
			written[line] = src.lineOf(i)
		}
	}
	var out []Regex
	for i, line := range lines {
		if line == "" {
			continue
		}
		pos := src.pos
		if p, ok := written[line]; ok {
			pos = p
		} else if p, ok := known[line]; ok {
			pos = p
		} else if exact {
			pos = src.lineOf(i)
		}
		out = append(out, Regex{Pattern: line, Pos: pos})
	}
	return out
}

func prefRegex(v string, src setting) *Regex {
	if v == "" {
		return nil
	}
	return &Regex{Pattern: v, Pos: src.pos}
}

func maxLines(v string, src setting) (int, error) {
	n, err := pyInt(v)
	if err == nil && n < 1 {
		err = fmt.Errorf("%d is not a positive line count", n)
	}
	if err != nil {
		return 0, valueErr(src, fmt.Errorf("maxlines: %w", err))
	}
	return n, nil
}

func nonEmptyLines(v string) []string {
	var out []string
	for _, line := range strings.Split(v, "\n") {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

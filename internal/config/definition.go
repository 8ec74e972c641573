package config

import (
	"errors"
	"strings"
)

// optKind is how fail2ban converts an option's text.
type optKind int

const (
	kindString optKind = iota
	kindInt
	kindBool
)

// optSpec is one entry of a fail2ban reader's _configOpts.
type optSpec struct {
	name string
	kind optKind
}

// filterOpts is FilterReader._configOpts, in its order: the [Definition]
// options a filter sends to the server, which a jail may override.
var filterOpts = []optSpec{
	{"usedns", kindString},
	{"prefregex", kindString},
	{"ignoreregex", kindString},
	{"failregex", kindString},
	{"maxlines", kindInt},
	{"datepattern", kindString},
	{"journalmatch", kindString},
}

// actionOpts is ActionReader._configOpts: the [Definition] options of an
// action.
var actionOpts = []optSpec{
	{"actionstart", kindString},
	{"actionstart_on_demand", kindBool},
	{"actionstop", kindString},
	{"actionflush", kindString},
	{"actionreload", kindString},
	{"actioncheck", kindString},
	{"actionrepair", kindString},
	{"actionrepair_on_unban", kindBool},
	{"actionban", kindString},
	{"actionprolong", kindString},
	{"actionreban", kindString},
	{"actionunban", kindString},
	{"norestored", kindBool},
}

const (
	definitionSection = "Definition"
	initSection       = "Init"
	knownTag          = "known/"
)

// definition is a filter or action file as read for one jail: fail2ban's
// DefinitionInitConfigReader. Options come from [Definition], defaults from
// [Init], and the jail's parameters (name[k=v]) override [Init].
type definition struct {
	name  string // "sshd", "iptables-multiport"
	file  *named
	specs []optSpec
	// init is _initOpts: the parameters, then [Init]'s options, each also
	// as "known/<opt>".
	init *dict
	// opts is _opts: the [Definition] options read.
	opts *dict
	// vars is _pOpts: the values that take precedence over the file's own
	// when resolving %(name)s and <tag>: the jail's standard options and
	// the parameters.
	vars *dict
	// comb caches tag lookups in [Definition] (fail2ban's _defCache),
	// across both readings of a jail's filter as fail2ban does.
	comb map[string]tagValue
}

// tagValue is a cached tag lookup: the value, if the tag is defined.
type tagValue struct {
	value string
	ok    bool
}

func newDefinition(name string, file *named, specs []optSpec, params *dict) *definition {
	return &definition{
		name:  name,
		file:  file,
		specs: specs,
		init:  params.clone(),
		opts:  newDict(),
		comb:  make(map[string]tagValue),
	}
}

func isMissing(err error) bool {
	return errors.Is(err, errNoSection) || errors.Is(err, errNoOption)
}

// readOptions is DefinitionInitConfigReader.getOptions. jailVars are the
// jail's options, which the file's %(name)s references see first. With
// all, every [Definition] option is read, not only the known ones.
func (d *definition) readOptions(jailVars *dict, all bool) error {
	vars := jailVars.merge(d.init)
	d.opts = newDict()
	for _, sp := range d.specs {
		if vars.has(sp.name) {
			continue
		}
		v, err := d.file.get(definitionSection, sp.name, vars)
		if isMissing(err) {
			continue
		}
		if err != nil {
			return err
		}
		d.opts.set(sp.name, v)
	}
	d.vars = vars
	if d.file.byName[initSection] != nil {
		for _, opt := range append([]string(nil), d.file.ownOptions(initSection)...) {
			if !strings.HasPrefix(opt, knownTag) {
				v, err := d.file.get(initSection, opt, nil)
				if err != nil {
					return err
				}
				d.init.set(knownTag+opt, v)
			}
			if !d.init.has(opt) {
				v, err := d.file.get(initSection, opt, nil)
				if err != nil {
					return err
				}
				d.init.set(opt, v)
			}
		}
	}
	if all && d.file.byName[definitionSection] != nil {
		for _, opt := range d.file.allOptions(definitionSection) {
			if opt == "__name__" || d.opts.has(opt) {
				continue
			}
			v, err := d.file.get(definitionSection, opt, nil)
			if err != nil {
				return err
			}
			d.opts.set(opt, v)
		}
	}
	return nil
}

// lookupTag is getCombOption: a tag that the options do not define, looked
// up in [Definition] (or "sec/opt" in another section) with the jail's
// values first.
func (d *definition) lookupTag(tag string) (string, bool, error) {
	if c, ok := d.comb[tag]; ok {
		return c.value, c.ok, nil
	}
	v, err := d.file.getEx(definitionSection, tag, d.vars)
	if err != nil && !isMissing(err) {
		return "", false, err
	}
	c := tagValue{value: v, ok: err == nil}
	d.comb[tag] = c
	return c.value, c.ok, nil
}

// combined is getCombined: the options and [Init] values with <tag>
// references substituted. Tags in ignore, and tags that have conditional
// variants ("blocktype" when "blocktype?family=inet6" exists), are left for
// the server to resolve.
func (d *definition) combined(ignore ...string) (*dict, error) {
	all := d.opts.merge(d.init)
	skip := make(map[string]bool)
	for _, t := range ignore {
		skip[t] = true
	}
	for _, k := range all.keys {
		if m := conditionalName.FindStringSubmatch(k); m != nil {
			skip[m[1]] = true
		}
	}
	return substituteTags(all, skip, d.lookupTag)
}

// source returns where the value of a [Definition] option was written, for
// positions in messages; ok is false when it came from a parameter.
func (d *definition) source(opt string) (setting, bool) {
	if d.init.has(opt) {
		return setting{}, false
	}
	if s, ok := d.file.byName[definitionSection].get(opt); ok {
		return s, true
	}
	return d.file.defaults.get(opt)
}

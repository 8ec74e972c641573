package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// builtinActions are pinjail's native actions: they are implemented in Go
// and never read from action.d.
var builtinActions = []string{"nftables", "nftables-multiport", "nftables-allports", "log"}

// actionDynamicTags are the tags an action leaves for the server to fill in
// per ban (CommandAction._escapedTags, timeout and bantime).
var actionDynamicTags = []string{"matches", "ipmatches", "ipjailmatches", "timeout", "bantime"}

// loadAction builds action name of jail with its parameters, as fail2ban's
// ActionReader does. jailVars are the jail's standard options, which the
// action's tags may use.
func (l *loader) loadAction(jail, name string, params *dict, jailVars *dict, pos Position) (*Action, error) {
	if strings.HasSuffix(name, ".py") {
		return nil, fmt.Errorf("action %q: python actions are not supported", name)
	}
	// Each action instance is named after the jail, and its actname is
	// unique within the jail ("iptables-multiport-tcp" for name=jail-tcp).
	n, ok := params.get("name")
	if !ok {
		n = jail
		params.set("name", n)
	}
	actname, ok := params.get("actname")
	if !ok {
		actname = name
		if n != jail {
			if strings.HasPrefix(n, jail) {
				actname += n[len(jail):]
			} else {
				actname += "-" + n
			}
		}
		params.set("actname", actname)
	}
	if slices.Contains(builtinActions, name) {
		return &Action{Name: name, ActName: actname, Pos: pos, Params: params.toMap(), Builtin: true}, nil
	}
	file, err := l.readNamed("action.d/" + name)
	if err != nil {
		return nil, fmt.Errorf("action %q: %w", name, err)
	}
	if len(file.errs) > 0 {
		return nil, file.errs[0]
	}
	d := newDefinition(name, file, actionOpts, params)
	if err := d.readOptions(jailVars, false); err != nil {
		return nil, fmt.Errorf("action %s: %w", name, err)
	}
	comb, err := d.combined(actionDynamicTags...)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", name, err)
	}
	a := &Action{
		Name:     name,
		ActName:  actname,
		File:     file.main,
		Pos:      pos,
		Params:   make(map[string]string),
		Commands: make(map[string]string),
	}
	for _, sp := range actionOpts {
		v, ok := comb.get(sp.name)
		if !ok {
			continue
		}
		if sp.kind == kindBool {
			v = strconv.FormatBool(asBool(v))
		}
		a.Commands[sp.name] = v
	}
	if v, ok := d.init.get("timeout"); ok {
		a.Commands["timeout"] = v
	}
	// The parameters and [Init] values go on as written, tags and all, as
	// fail2ban hands them to its server: the tags left in the commands
	// (<iptables>, <blocktype>) resolve against them per ban, with the
	// family's overrides first.
	for _, k := range d.init.keys {
		if strings.HasPrefix(k, knownTag) || slices.ContainsFunc(actionOpts, func(o optSpec) bool { return o.name == k }) {
			continue
		}
		v := d.init.m[k]
		if m := conditionalName.FindStringSubmatch(k); m != nil && strings.HasPrefix(m[2], "?family=") {
			family := strings.TrimPrefix(m[2], "?family=")
			if a.InitFamily == nil {
				a.InitFamily = make(map[string]map[string]string)
			}
			if a.InitFamily[family] == nil {
				a.InitFamily[family] = make(map[string]string)
			}
			a.InitFamily[family][m[1]] = v
			continue
		}
		a.Params[k] = v
	}
	return a, nil
}

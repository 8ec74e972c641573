// Package config reads a fail2ban configuration directory, with pinjail's
// built-in files beneath it, the way fail2ban 1.0.2's client reads it, and
// resolves every jail into typed values: its filter with all interpolation
// done, its actions, times, addresses and log paths.
//
// The reading follows fail2ban's code rather than its documentation, so
// that a configuration means the same to both: the file order (N.conf,
// N.d/*.conf, N.local, N.d/*.local), [INCLUDES], [DEFAULT] inheritance,
// %(name)s interpolation with %(known/opt)s and %(sec/opt)s, <tag>
// substitution in filters and actions, name[k=v] parameters, and the
// precedence between a jail, its filter and its actions.
//
// Loading never stops at the first problem: every warning and error goes to
// Config.Problems with its file and line, a jail that cannot run gets
// Jail.Err, and the other jails still load.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Options configures loading.
type Options struct {
	// Builtin holds the built-in configuration, laid out like the
	// configuration directory (builtin.FS()); the directory's files hide the
	// built-in files of the same name. Nil means none.
	Builtin fs.FS
	// Logger receives debug messages about the files read; nil discards
	// them.
	Logger *slog.Logger
}

// fail2banVersion is what %(fail2ban_version)s gives: the fail2ban release
// whose configuration semantics pinjail follows.
const fail2banVersion = "1.0.2"

// Load reads the jails of configuration directory dir ("" for the built-in
// configuration alone). It returns an error only when there is nothing to
// read: dir does not exist, or no jail.conf or jail.local is found anywhere.
// Every other problem is in Config.Problems.
func Load(dir string, opts Options) (*Config, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	l := newLoader(dir, opts)
	jails, err := l.readNamed("jail")
	if err != nil {
		return nil, err
	}
	for _, err := range jails.errs {
		l.problem(errorProblem(SeverityError, "", Position{}, err))
	}
	// Like fail2ban, these win over any value the files give them.
	jails.defaults.set("fail2ban_version", setting{value: fail2banVersion})
	jails.defaults.set("fail2ban_confpath", setting{value: strings.TrimRight(dir, "/")})

	refs := referencedNames(jails.store)
	cfg := &Config{Dir: dir}
	for _, s := range jails.sections {
		if s.name == includesSection || strings.HasPrefix(s.name, knownPrefix) {
			continue
		}
		l.checkOptionNames(jails.store, s.name, refs)
		cfg.Jails = append(cfg.Jails, l.loadJail(jails.store, s.name))
	}
	cfg.Problems = l.problems
	return cfg, nil
}

func checkDir(dir string) error {
	if dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("configuration directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("configuration directory %s: not a directory", dir)
	}
	return nil
}

// LoadFilter reads the filter that spec names, such as "sshd" or
// "sshd[mode=aggressive]", from filter.d of dir and the built-in files, as
// fail2ban-regex does. An error wrapping fs.ErrNotExist (see IsNotFound)
// means there is no such filter.
func LoadFilter(dir, spec string, opts Options) (*Filter, []Problem, error) {
	name, params, err := extractOptions(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("filter %q: %w", spec, err)
	}
	return loadFilter(newLoader(dir, opts), name, params, dir)
}

// LoadFilterWith reads filter name with explicit [Init] overrides, as a
// jail's filter = name[k=v, ...] gives them.
func LoadFilterWith(dir, name string, init map[string]string, opts Options) (*Filter, []Problem, error) {
	return loadFilter(newLoader(dir, opts), name, dictOf(init), dir)
}

// LoadFilterFile reads the filter in file path with parameters params, as
// fail2ban-regex reads a filter given as a file. A file in a filter.d
// directory is read as that filter of the configuration directory above it
// (so its .local and filter.d/<name>.d files apply); any other file is read
// alone, with its includes and its .local sibling.
func LoadFilterFile(path string, params map[string]string, opts Options) (*Filter, []Problem, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("filter file: %w", err)
	}
	name := trimExt(filepath.Base(abs))
	if dir := filepath.Dir(abs); filepath.Base(dir) == "filter.d" {
		base := filepath.Dir(dir)
		return loadFilter(newLoader(base, opts), name, dictOf(params), base)
	}
	// A file of its own has nothing to do with the built-in files: its
	// includes are relative to it.
	l := newLoader("", Options{Logger: opts.Logger})
	if !l.tree.isFile(abs) {
		return nil, nil, fmt.Errorf("filter file %s: %w", abs, fs.ErrNotExist)
	}
	file := l.readFiles([]string{abs})
	file.main = abs
	if len(file.errs) > 0 {
		return nil, l.problems, file.errs[0]
	}
	return buildStandaloneFilter(l, newDefinition(name, file, filterOpts, dictOf(params)))
}

func loadFilter(l *loader, name string, params *dict, dir string) (*Filter, []Problem, error) {
	if err := checkDir(dir); err != nil {
		return nil, nil, err
	}
	d, err := l.filterDefinition(name, params)
	if err != nil {
		return nil, l.problems, err
	}
	return buildStandaloneFilter(l, d)
}

// buildStandaloneFilter resolves a filter read outside any jail, as
// fail2ban-regex does: no jail values, and logtype "file".
func buildStandaloneFilter(l *loader, d *definition) (*Filter, []Problem, error) {
	d.autoOptions(defaultBackend)
	if err := d.readOptions(nil, false); err != nil {
		return nil, l.problems, fmt.Errorf("filter %s: %w", d.name, err)
	}
	f, _, err := buildFilter(d)
	if err != nil {
		return nil, l.problems, fmt.Errorf("filter %s: %w", d.name, err)
	}
	return f, l.problems, nil
}

// IsNotFound reports whether err says that a filter or action file, or the
// configuration itself, does not exist.
func IsNotFound(err error) bool { return errors.Is(err, fs.ErrNotExist) }

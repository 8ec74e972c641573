package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/pinjail/pinjail/internal/ini"
)

// loader reads configuration files out of a tree. It parses each file once
// and keeps the problems found.
type loader struct {
	tree     *tree
	log      *slog.Logger
	parsed   map[string]parsed
	problems []Problem
}

type parsed struct {
	file  *ini.File
	shown string
	err   error // read or syntax error; wraps fs.ErrNotExist for a missing file
}

func newLoader(dir string, opts Options) *loader {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &loader{
		tree:   newTree(dir, opts.Builtin),
		log:    log,
		parsed: make(map[string]parsed),
	}
}

func (l *loader) parse(name string) parsed {
	if p, ok := l.parsed[name]; ok {
		return p
	}
	data, shown, err := l.tree.read(name)
	p := parsed{shown: shown, err: err}
	if err == nil {
		p.file, p.err = ini.Parse(shown, data)
	}
	l.parsed[name] = p
	return p
}

// named is a logical configuration name read into a store.
type named struct {
	*store
	// main is the path shown for the name's own first file
	// (filter.d/sshd.conf rather than the common.conf it includes).
	main string
	// errs holds the files that exist but could not be read or parsed.
	errs []error
}

// readNamed reads logical name n (such as "jail" or "filter.d/sshd") as
// fail2ban's ConfigReaderUnshared.read does: n.conf, n.d/*.conf, n.local
// and n.d/*.local, each with its includes. It fails with an error wrapping
// fs.ErrNotExist when none of these files exists.
func (l *loader) readNamed(n string) (*named, error) {
	candidates := []string{n + ".conf"}
	candidates = append(candidates, l.tree.list(n+".d", ".conf")...)
	candidates = append(candidates, n+".local")
	candidates = append(candidates, l.tree.list(n+".d", ".local")...)
	var files []string
	for _, c := range candidates {
		if l.tree.isFile(c) {
			files = append(files, c)
		}
	}
	if len(files) == 0 {
		return nil, &notFoundError{fmt.Sprintf("no %s.conf or %s.local in %s", n, n, l.where())}
	}
	r := l.readFiles(files)
	r.main = l.tree.shown(files[0])
	return r, nil
}

// notFoundError reports configuration files that do not exist. It matches
// fs.ErrNotExist, which IsNotFound tests.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// where describes the tree for messages.
func (l *loader) where() string {
	if l.tree.dir == "" {
		return "the built-in configuration"
	}
	return l.tree.dir + " or the built-in configuration"
}

// readFiles reads files with their includes into one store.
func (l *loader) readFiles(files []string) *named {
	r := &named{store: newStore()}
	full := l.withIncludes(files, nil, &r.errs)
	l.log.Debug("reading configuration files", "files", full)
	for _, name := range full {
		p := l.parse(name)
		if p.err != nil {
			if !errors.Is(p.err, fs.ErrNotExist) {
				r.errs = append(r.errs, p.err)
			}
			continue
		}
		r.merge(p.file, p.shown)
	}
	return r
}

// withIncludes expands files with their [INCLUDES] as fail2ban's
// _getIncludes does: each file gets its .local sibling, and each is
// replaced by its "before" files, itself and its "after" files,
// recursively. Files already on the way down (seen) are skipped, which
// breaks include cycles.
func (l *loader) withIncludes(files, seen []string, errs *[]error) []string {
	var out []string
	for _, f := range l.withLocals(files) {
		out = append(out, l.includesOf(f, seen, errs)...)
	}
	return out
}

// withLocals adds after each file its .local sibling, if it exists and is
// not in files already.
func (l *loader) withLocals(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, f)
		local := trimExt(f) + ".local"
		if !slices.Contains(files, local) && l.tree.isFile(local) {
			out = append(out, local)
		}
	}
	return out
}

// trimExt removes a file name's extension as Python's os.path.splitext
// does: a name's leading dots do not start an extension.
func trimExt(name string) string {
	base := path.Base(name)
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 || strings.Trim(base[:dot], ".") == "" {
		return name
	}
	return name[:len(name)-(len(base)-dot)]
}

func (l *loader) includesOf(name string, seen []string, errs *[]error) []string {
	p := l.parse(name)
	if p.err != nil {
		if errors.Is(p.err, fs.ErrNotExist) {
			return nil
		}
		// Kept, so that reading it reports the error.
		return []string{name}
	}
	if p.file.Section(includesSection) == nil {
		return []string{name}
	}
	// The include list is read from the file alone, with its own
	// [DEFAULT] for any %(name)s in it.
	own := newStore()
	own.merge(p.file, p.shown)
	var before, after []string
	for _, opt := range []string{"before", "after"} {
		if !slices.Contains(own.allOptions(includesSection), opt) {
			continue
		}
		v, err := own.get(includesSection, opt, nil)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		for _, entry := range strings.Split(v, "\n") {
			if entry == "" {
				continue
			}
			inc := includeName(name, entry)
			if slices.Contains(seen, inc) {
				continue
			}
			files := l.withIncludes([]string{inc}, append(slices.Clip(seen), name), errs)
			if opt == "before" {
				before = append(before, files...)
			} else {
				after = append(after, files...)
			}
		}
	}
	return append(append(before, name), after...)
}

// problem records a problem.
func (l *loader) problem(p Problem) {
	l.problems = append(l.problems, p)
}

// errorProblem turns err into an error problem, placed at the file and line
// the error names, or else at pos.
func errorProblem(sev Severity, jail string, pos Position, err error) Problem {
	p := Problem{Severity: sev, Jail: jail, File: pos.File, Line: pos.Line, Msg: err.Error()}
	// The problem carries the place itself, so the message drops the
	// "file:line: " that the error text has.
	var se *ini.SyntaxError
	var ve *valueError
	switch {
	case errors.As(err, &se):
		p.File, p.Line, p.Msg = se.Path, se.Line, strings.Replace(p.Msg, se.Error(), se.Msg, 1)
	case errors.As(err, &ve) && ve.pos.File != "":
		p.File, p.Line, p.Msg = ve.pos.File, ve.pos.Line, strings.Replace(p.Msg, ve.Error(), ve.err.Error(), 1)
	}
	return p
}

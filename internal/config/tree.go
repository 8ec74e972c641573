package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// tree is what fail2ban calls its base directory: the configuration
// directory layered over pinjail's built-in files. A file in the directory
// hides the built-in file of the same name, and directory listings (jail.d)
// are the union of both.
//
// Files are named as fail2ban names them relative to the base directory
// ("jail.conf", "filter.d/sshd.conf"). A name that is an absolute path, or
// that climbs out of the tree (an include of "../x.conf"), is a file of the
// operating system and is read from there alone.
type tree struct {
	dir    string // the configuration directory, "" for none
	layers []layer
}

type layer struct {
	fsys fs.FS
	// shown prefixes a file's name in messages: the directory, or
	// builtinPrefix.
	shown string
}

// builtinPrefix marks the paths of embedded files in messages.
const builtinPrefix = "(builtin)"

func newTree(dir string, builtin fs.FS) *tree {
	t := &tree{dir: dir}
	if dir != "" {
		t.layers = append(t.layers, layer{fsys: os.DirFS(dir), shown: dir})
	}
	if builtin != nil {
		t.layers = append(t.layers, layer{fsys: builtin, shown: builtinPrefix})
	}
	return t
}

// osName returns the operating-system path of a name outside the tree, or
// "" for a name inside it.
func (t *tree) osName(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	if !fs.ValidPath(name) && t.dir != "" {
		return filepath.Join(t.dir, filepath.FromSlash(name))
	}
	return ""
}

// locate finds the file called name: the file system holding it, its name
// there and the path to show.
func (t *tree) locate(name string) (fsys fs.FS, rel, shown string, ok bool) {
	if p := t.osName(name); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return os.DirFS("/"), strings.TrimPrefix(filepath.ToSlash(p), "/"), p, true
		}
		return nil, "", "", false
	}
	if !fs.ValidPath(name) {
		return nil, "", "", false
	}
	for _, l := range t.layers {
		if st, err := fs.Stat(l.fsys, name); err == nil && !st.IsDir() {
			return l.fsys, name, path.Join(l.shown, name), true
		}
	}
	return nil, "", "", false
}

func (t *tree) isFile(name string) bool {
	_, _, _, ok := t.locate(name)
	return ok
}

// shown returns the path to show for name, whether or not it exists.
func (t *tree) shown(name string) string {
	if _, _, shown, ok := t.locate(name); ok {
		return shown
	}
	if p := t.osName(name); p != "" {
		return p
	}
	if t.dir != "" {
		return filepath.Join(t.dir, filepath.FromSlash(name))
	}
	return path.Join(builtinPrefix, name)
}

// read returns the contents of name and the path to show for it.
func (t *tree) read(name string) ([]byte, string, error) {
	fsys, rel, shown, ok := t.locate(name)
	if !ok {
		return nil, t.shown(name), fmt.Errorf("%s: %w", t.shown(name), fs.ErrNotExist)
	}
	data, err := fs.ReadFile(fsys, rel)
	if err != nil {
		return nil, shown, fmt.Errorf("%s: %w", shown, errors.Unwrap(err))
	}
	return data, shown, nil
}

// list returns the files of directory dir whose names end in suffix, in
// sorted order, skipping hidden files as Python's glob does.
func (t *tree) list(dir, suffix string) []string {
	seen := make(map[string]bool)
	add := func(entries []fs.DirEntry) {
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, suffix) {
				continue
			}
			seen[n] = true
		}
	}
	if p := t.osName(dir); p != "" {
		entries, _ := os.ReadDir(p)
		add(entries)
	} else if fs.ValidPath(dir) {
		for _, l := range t.layers {
			entries, _ := fs.ReadDir(l.fsys, dir)
			add(entries)
		}
	}
	var out []string
	for n := range seen {
		if name := path.Join(dir, n); t.isFile(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// include resolves an [INCLUDES] entry of file from: absolute, or relative
// to the including file's directory.
func includeName(from, entry string) string {
	if filepath.IsAbs(entry) {
		return filepath.Clean(entry)
	}
	if filepath.IsAbs(from) {
		return filepath.Join(filepath.Dir(from), entry)
	}
	return path.Join(path.Dir(from), entry)
}

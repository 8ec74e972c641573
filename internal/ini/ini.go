// Package ini reads the INI dialect of Python's configparser exactly as
// fail2ban configures it (strict mode, "=" and ":" delimiters, ";" inline
// comments), so that pinjail reads fail2ban configuration files the way
// fail2ban does. It only parses: includes, [DEFAULT] inheritance and %(name)s
// interpolation are the config package's business.
//
// The dialect, as implemented by configparser.RawConfigParser._read:
//   - A line whose first non-blank character is '#' or ';' is a comment. It
//     never ends a multi-line value, even when it is not indented.
//   - ';' starts an inline comment only at the start of a line or after
//     whitespace; '#' is never an inline comment.
//   - "[name]" opens a section; the name is case-sensitive and kept verbatim
//     ("Init?family=inet6"). "DEFAULT" is the default section; it may appear
//     more than once in a file and its blocks are merged.
//   - "name = value" or "name: value" sets an option; the first '=' or ':'
//     delimits, and the name is lower-cased.
//   - A line indented deeper than its option's line continues the value. The
//     value's lines are stripped and joined with "\n"; blank lines inside are
//     kept, trailing ones dropped.
//   - A section or option defined twice in one file is an error.
package ini

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// File is a parsed configuration file.
type File struct {
	Path string
	// Sections lists the sections in order of first appearance. The default
	// section is a Section named "DEFAULT", holding every [DEFAULT] block of
	// the file.
	Sections []*Section
}

// Section is one [name] section.
type Section struct {
	Name    string
	Line    int // line of the first header
	Options []*Option
}

// Option is one option with its complete, possibly multi-line, value.
type Option struct {
	Name  string // lower-cased
	Value string
	Line  int // line of the option name
	// Lines holds the line number of each line of Value (Lines[0] == Line),
	// so that a problem found in one line of a multi-line value can name it.
	Lines []int
}

// SyntaxError is a line that breaks the dialect.
type SyntaxError struct {
	Path string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// DefaultSection is the name of the section whose options every other
// section inherits.
const DefaultSection = "DEFAULT"

// Section returns the section called name, or nil.
func (f *File) Section(name string) *Section {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Option returns the option called name (matched case-insensitively), or nil.
func (s *Section) Option(name string) *Option {
	name = strings.ToLower(name)
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// IsSpace reports whether r is whitespace to Python's str.isspace, which
// configparser uses to strip lines and measure indentation. It differs from
// unicode.IsSpace only in also counting the separators U+001C..U+001F.
func IsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// Parse parses data, the contents of the file at path (used in errors only).
// The data must be UTF-8, as fail2ban reads its files as UTF-8; "\r\n" and
// "\r" line ends are accepted, as Python's universal newlines do.
func Parse(path string, data []byte) (*File, error) {
	if !utf8.Valid(data) {
		return nil, &SyntaxError{Path: path, Line: invalidUTF8Line(data), Msg: "invalid UTF-8"}
	}
	text := string(data)
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r\n", "\n")
		text = strings.ReplaceAll(text, "\r", "\n")
	}
	p := parser{file: &File{Path: path}, sections: make(map[string]bool), options: make(map[[2]string]bool)}
	lines := strings.Split(text, "\n")
	if lines[len(lines)-1] == "" {
		// The final line end does not start another line.
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		if err := p.line(i+1, line); err != nil {
			return nil, err
		}
	}
	if p.deferred != nil {
		return nil, p.deferred
	}
	p.file.finish()
	return p.file, nil
}

// parser holds the state of configparser's line loop.
type parser struct {
	file *File
	sect *Section
	// opt is the option that continuation lines extend (configparser's
	// optname); nil after a section header.
	opt *Option
	// indent is the indentation of the last section or option line, in
	// characters; a deeper line continues opt.
	indent int
	// sections and options record what this file already defined.
	sections map[string]bool
	options  map[[2]string]bool
	// deferred is the first malformed line. configparser reports such lines
	// only after reading the whole file, so a duplicate found later still
	// takes precedence.
	deferred *SyntaxError
}

func (p *parser) line(n int, line string) error {
	commentStart := inlineComment(line)
	if t := strings.TrimFunc(line, IsSpace); strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		commentStart = 0
	}
	content := line
	if commentStart >= 0 {
		content = line[:commentStart]
	}
	value := strings.TrimFunc(content, IsSpace)
	if value == "" {
		// A blank line belongs to the value being read; a comment line is
		// skipped without ending it.
		if commentStart < 0 && p.opt != nil {
			p.opt.appendLine("", n)
		}
		return nil
	}
	indent := indentation(line)
	if p.sect != nil && p.opt != nil && indent > p.indent {
		p.opt.appendLine(value, n)
		return nil
	}
	p.indent = indent
	if name, ok := sectionHeader(value); ok {
		return p.header(n, name)
	}
	if p.sect == nil {
		return &SyntaxError{Path: p.file.Path, Line: n, Msg: fmt.Sprintf("no section header before %q", line)}
	}
	return p.option(n, line, value)
}

func (p *parser) header(n int, name string) error {
	p.opt = nil
	if name == DefaultSection {
		p.sect = p.file.Section(DefaultSection)
		if p.sect == nil {
			p.sect = p.file.addSection(name, n)
		}
		return nil
	}
	if p.sections[name] {
		return &SyntaxError{Path: p.file.Path, Line: n, Msg: fmt.Sprintf("section [%s] already defined", name)}
	}
	p.sections[name] = true
	p.sect = p.file.addSection(name, n)
	return nil
}

func (p *parser) option(n int, line, value string) error {
	d := strings.IndexAny(value, "=:")
	if d < 0 {
		p.deferError(n, fmt.Sprintf("expected \"name = value\", got %q", line))
		return nil
	}
	rawName := strings.TrimRightFunc(value[:d], IsSpace)
	if rawName == "" {
		p.deferError(n, fmt.Sprintf("option without a name: %q", line))
	}
	name := strings.ToLower(rawName)
	key := [2]string{p.sect.Name, name}
	if p.options[key] {
		return &SyntaxError{Path: p.file.Path, Line: n, Msg: fmt.Sprintf("option %q in section [%s] already defined", name, p.sect.Name)}
	}
	p.options[key] = true
	o := &Option{Name: name, Value: strings.TrimFunc(value[d+1:], IsSpace), Line: n, Lines: []int{n}}
	p.sect.Options = append(p.sect.Options, o)
	p.opt = o
	if name == "" {
		// configparser keeps the nameless option but, its name being
		// empty, never continues it.
		p.opt = nil
	}
	return nil
}

func (p *parser) deferError(n int, msg string) {
	if p.deferred == nil {
		p.deferred = &SyntaxError{Path: p.file.Path, Line: n, Msg: msg}
	}
}

func (f *File) addSection(name string, line int) *Section {
	s := &Section{Name: name, Line: line}
	f.Sections = append(f.Sections, s)
	return s
}

// appendLine adds a continuation line. Lines are collected in Value
// separated by "\n" and trimmed once the file is read.
func (o *Option) appendLine(s string, n int) {
	o.Value += "\n" + s
	o.Lines = append(o.Lines, n)
}

// finish drops the trailing blank lines of every value, as configparser's
// rstrip of the joined value does.
func (f *File) finish() {
	for _, s := range f.Sections {
		for _, o := range s.Options {
			for len(o.Lines) > 1 && strings.HasSuffix(o.Value, "\n") {
				o.Value = o.Value[:len(o.Value)-1]
				o.Lines = o.Lines[:len(o.Lines)-1]
			}
		}
	}
}

// inlineComment returns the byte offset of the first ';' that starts the
// line or follows whitespace, or -1.
func inlineComment(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] != ';' {
			continue
		}
		if i == 0 {
			return 0
		}
		if r, _ := utf8.DecodeLastRuneInString(line[:i]); IsSpace(r) {
			return i
		}
	}
	return -1
}

// indentation counts the characters before the first non-blank one.
func indentation(line string) int {
	n := 0
	for _, r := range line {
		if !IsSpace(r) {
			return n
		}
		n++
	}
	return 0
}

// sectionHeader matches configparser's `\[(?P<header>.+)\]` at the start of
// a stripped line: the name runs to the last ']' and is not empty.
func sectionHeader(value string) (string, bool) {
	if !strings.HasPrefix(value, "[") {
		return "", false
	}
	end := strings.LastIndexByte(value, ']')
	if end < 2 {
		return "", false
	}
	return value[1:end], true
}

func invalidUTF8Line(data []byte) int {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line
}

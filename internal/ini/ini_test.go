package ini

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden is the JSON form of a parse result kept in testdata.
type golden struct {
	Sections []goldenSection `json:"sections,omitempty"`
	Error    string          `json:"error,omitempty"`
}

type goldenSection struct {
	Name    string    `json:"name"`
	Line    int       `json:"line"`
	Options []*Option `json:"options"`
}

func toGolden(f *File, err error) golden {
	if err != nil {
		return golden{Error: err.Error()}
	}
	var g golden
	for _, s := range f.Sections {
		g.Sections = append(g.Sections, goldenSection{Name: s.Name, Line: s.Line, Options: s.Options})
	}
	return g
}

func TestParseGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/parse/*.ini")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(in), data)
			got, err := json.MarshalIndent(toGolden(f, err), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldenPath := strings.TrimSuffix(in, ".ini") + ".json"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s:\n%s", goldenPath, got)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string // "section/option" -> value
	}{
		{"equals and colon", "[s]\na = 1\nb: 2\nc=3\nd :4", map[string]string{"s/a": "1", "s/b": "2", "s/c": "3", "s/d": "4"}},
		{"first delimiter wins", "[s]\na: b = c\nx = y: z", map[string]string{"s/a": "b = c", "s/x": "y: z"}},
		{"names lower-cased", "[S]\nMaxRetry = 3", map[string]string{"S/maxretry": "3"}},
		{"inline semicolon after space", "[s]\nb = 2 ; c\nc = x;y\nd = 1\t;tab", map[string]string{"s/b": "2", "s/c": "x;y", "s/d": "1"}},
		{"hash is never inline", "[s]\na = 1 # x", map[string]string{"s/a": "1 # x"}},
		{"empty value", "[s]\na =\nb=", map[string]string{"s/a": "", "s/b": ""}},
		{"continuation joined", "[s]\na = l1\n  l2\n\n  l4\n\n\n", map[string]string{"s/a": "l1\nl2\n\nl4"}},
		{"comment inside value", "[s]\na = l1\n# c\n  ; d\n  l2", map[string]string{"s/a": "l1\nl2"}},
		{"value starting on next line", "[s]\na =\n  l1\n  l2", map[string]string{"s/a": "\nl1\nl2"}},
		{"deeper than key only", "[s]\n  a = 1\n  b = 2\n   c", map[string]string{"s/a": "1", "s/b": "2\nc"}},
		{"conditional section", "[Init?family=inet6]\nx = 1", map[string]string{"Init?family=inet6/x": "1"}},
		{"default blocks merged", "[DEFAULT]\na = 1\n[s]\n[DEFAULT]\nb = 2", map[string]string{"DEFAULT/a": "1", "DEFAULT/b": "2"}},
		{"tab indentation", "[s]\na = 1\n\t2", map[string]string{"s/a": "1\n2"}},
		{"no final newline", "[s]\na = 1", map[string]string{"s/a": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]string)
			for _, s := range f.Sections {
				for _, o := range s.Options {
					got[s.Name+"/"+o.Name] = o.Value
				}
			}
			for k, want := range tt.want {
				if v, ok := got[k]; !ok || v != want {
					t.Errorf("%s = %q (present %v), want %q", k, v, ok, want)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"duplicate option", "[s]\na = 1\nA = 2", 3, "already defined"},
		{"duplicate default option", "[DEFAULT]\na = 1\n[DEFAULT]\na = 2", 4, "already defined"},
		{"duplicate section", "[s]\n[t]\n[s]", 3, "section [s] already defined"},
		{"no section", "\n# c\na = 1", 3, "no section header"},
		{"not an option", "[s]\nfoo", 2, "expected"},
		{"empty name", "[s]\n= 1", 2, "without a name"},
		{"empty brackets", "[s]\n[]", 2, "expected"},
		{"duplicate wins over earlier bad line", "[s]\nbad\na = 1\na = 2", 4, "already defined"},
		{"invalid utf-8", "[s]\na = 1\nb = \xc3", 3, "invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.conf", []byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want *SyntaxError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) || se.Path != "t.conf" {
				t.Errorf("got %v, want line %d with %q", err, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "t.conf:") {
				t.Errorf("Error() = %q, want path:line prefix", err)
			}
		})
	}
}

func TestOptionLines(t *testing.T) {
	f, err := Parse("t", []byte("[s]\na = one\n# c\n  two\n\n  four\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := f.Section("s").Option("A")
	want := []int{2, 4, 5, 6}
	if o == nil || len(o.Lines) != len(want) {
		t.Fatalf("option %+v, want lines %v", o, want)
	}
	for i := range want {
		if o.Lines[i] != want[i] {
			t.Errorf("Lines = %v, want %v", o.Lines, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/parse/*.ini")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[s]\na = 1 ; c\n  b\n\n#x\n  c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v is not a *SyntaxError with a line", err)
			}
			return
		}
		for _, s := range file.Sections {
			for _, o := range s.Options {
				if o.Name != strings.ToLower(o.Name) {
					t.Errorf("option name %q not lower-cased", o.Name)
				}
				if n := strings.Count(o.Value, "\n") + 1; n != len(o.Lines) || o.Lines[0] != o.Line {
					t.Errorf("option %q: %d value lines but Lines %v (Line %d)", o.Name, n, o.Lines, o.Line)
				}
				if strings.HasSuffix(o.Value, "\n") {
					t.Errorf("option %q keeps a trailing blank line: %q", o.Name, o.Value)
				}
			}
		}
	})
}

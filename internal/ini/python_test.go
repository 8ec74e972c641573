package ini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinjail/pinjail/internal/testenv"
)

// pythonParser reads a JSON list of {"name", "data"} documents on stdin and
// prints, for each, what Python's configparser makes of it with fail2ban's
// settings (strict, ";" inline comments, UTF-8, universal newlines).
const pythonParser = `
import configparser, io, json, sys
out = []
for doc in json.load(sys.stdin):
    cp = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    res = {}
    try:
        cp.read_file(io.StringIO(doc["data"], newline=None), doc["name"])
        res["sections"] = [[n, [[k, v] for k, v in s.items()]] for n, s in cp._sections.items()]
        res["default"] = [[k, v] for k, v in cp._defaults.items()]
    except configparser.MissingSectionHeaderError as e:
        res["error"] = e.lineno
    except configparser.ParsingError as e:
        res["error"] = e.errors[0][0]
    except configparser.Error as e:
        res["error"] = e.lineno
    out.append(res)
json.dump(out, sys.stdout)
`

type pyDoc struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

type pyResult struct {
	Sections [][2]json.RawMessage `json:"sections"`
	Default  [][2]string          `json:"default"`
	Error    int                  `json:"error"`
}

// describe renders a parse result in a form both sides can produce: the
// sections in order (DEFAULT apart, as configparser keeps it), or the line
// of the error.
func describe(sections [][2]any, def [][2]string, errLine int) string {
	if errLine > 0 {
		return fmt.Sprintf("error at line %d", errLine)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "DEFAULT %q\n", def)
	for _, s := range sections {
		fmt.Fprintf(&b, "[%s] %q\n", s[0], s[1])
	}
	return b.String()
}

func describeGo(f *File, err error) string {
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return describe(nil, nil, se.Line)
		}
		return err.Error()
	}
	var secs [][2]any
	var def [][2]string
	for _, s := range f.Sections {
		opts := [][2]string{}
		for _, o := range s.Options {
			opts = append(opts, [2]string{o.Name, o.Value})
		}
		if s.Name == DefaultSection {
			def = opts
			continue
		}
		secs = append(secs, [2]any{s.Name, opts})
	}
	return describe(secs, def, 0)
}

func describePython(r pyResult) (string, error) {
	var secs [][2]any
	for _, s := range r.Sections {
		var name string
		var opts [][2]string
		if err := json.Unmarshal(s[0], &name); err != nil {
			return "", err
		}
		if err := json.Unmarshal(s[1], &opts); err != nil {
			return "", err
		}
		if opts == nil {
			opts = [][2]string{}
		}
		secs = append(secs, [2]any{name, opts})
	}
	return describe(secs, r.Default, r.Error), nil
}

func runPython(t *testing.T, docs []pyDoc) []pyResult {
	t.Helper()
	// The interpreter fail2ban runs under, not whichever is first on PATH.
	const python = "/usr/bin/python3"
	testenv.RequireFile(t, python)
	in, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", pythonParser)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.Bytes())
	}
	var res []pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(docs) {
		t.Fatalf("python3 returned %d results for %d documents", len(res), len(docs))
	}
	return res
}

func compareWithPython(t *testing.T, docs []pyDoc) {
	t.Helper()
	res := runPython(t, docs)
	failures := 0
	for i, d := range docs {
		want, err := describePython(res[i])
		if err != nil {
			t.Fatal(err)
		}
		f, perr := Parse(d.Name, []byte(d.Data))
		if got := describeGo(f, perr); got != want {
			t.Errorf("%s differs from configparser\ninput: %q\ngot:  %s\nwant: %s", d.Name, d.Data, got, want)
			if failures++; failures > 10 {
				t.Fatal("too many differences")
			}
		}
	}
}

// TestParseMatchesConfigparser parses every file of the installed fail2ban
// configuration with this package and with Python's configparser, and
// requires the same sections and values.
func TestParseMatchesConfigparser(t *testing.T) {
	const dir = "/etc/fail2ban"
	testenv.RequireFile(t, dir)
	var docs []pyDoc
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".conf") && !strings.HasSuffix(p, ".local") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		docs = append(docs, pyDoc{Name: p, Data: string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 50 {
		t.Fatalf("only %d files under %s", len(docs), dir)
	}
	seeds, _ := filepath.Glob("testdata/parse/*.ini")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, "utf8") {
			continue // Python cannot take it as a string
		}
		docs = append(docs, pyDoc{Name: s, Data: string(data)})
	}
	compareWithPython(t, docs)
}

// TestParseMatchesConfigparserGenerated compares the two parsers on
// thousands of documents assembled from the dialect's tricky lines.
func TestParseMatchesConfigparserGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	docs := make([]pyDoc, 3000)
	for i := range docs {
		docs[i] = pyDoc{Name: fmt.Sprintf("gen%d", i), Data: generate(rng)}
	}
	compareWithPython(t, docs)
}

var (
	genIndents = []string{"", "", "", " ", "  ", "\t", "    ", "\u3000", "\x1c"}
	genNames   = []string{"a", "B", "c d", "failregex", "x.y", "known/z", "Opt"}
	genSects   = []string{"s", "DEFAULT", "Init", "Init?family=inet6", "t]x", "a b"}
	genValues  = []string{"", "1", "v ; c", "v;c", "v # h", "%(a)s", " spaced ", "x = y", "a: b", "[bracket]", "\u00a0nbsp\u00a0"}
	genEnds    = []string{"\n", "\n", "\n", "\r\n", "\r"}
)

func generate(rng *rand.Rand) string {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var b strings.Builder
	if rng.IntN(8) != 0 {
		b.WriteString("[" + pick(genSects) + "]\n")
	}
	usedNames := make(map[string]bool)
	for n := rng.IntN(12); n > 0; n-- {
		b.WriteString(pick(genIndents))
		switch rng.IntN(10) {
		case 0:
			b.WriteString("[" + pick(genSects) + "]")
			clear(usedNames)
		case 1:
			b.WriteString(pick([]string{"# c", "; c", "#", ";"}))
		case 2:
			// blank line
		case 3:
			b.WriteString(pick(genValues))
		case 4:
			b.WriteString(pick([]string{"junk", "= v", "[]", "[x] y"}))
		default:
			name := pick(genNames)
			if usedNames[strings.ToLower(name)] && rng.IntN(4) != 0 {
				name += fmt.Sprint(rng.IntN(1000))
			}
			usedNames[strings.ToLower(name)] = true
			b.WriteString(name + pick([]string{" = ", "=", ": ", " :"}) + pick(genValues))
		}
		b.WriteString(pick(genEnds))
	}
	return b.String()
}

func TestGenerateCoversErrorsAndValues(t *testing.T) {
	// Guard the generator itself: it must produce both valid documents
	// and every kind of error, or the comparison above proves little.
	rng := rand.New(rand.NewPCG(1, 2))
	var ok, bad int
	for range 3000 {
		if _, err := Parse("g", []byte(generate(rng))); err != nil {
			bad++
		} else {
			ok++
		}
	}
	if ok < 300 || bad < 300 {
		t.Errorf("generator made %d valid and %d invalid documents", ok, bad)
	}
}

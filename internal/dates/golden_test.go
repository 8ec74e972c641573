package dates

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the detector's output")

// goldenYear fixes %ExY's range for golden output, which New takes from the
// clock.
const goldenYear = 2026

// testdataFile is an input file of test lines: testdata/lines/*.txt use the
// default templates, testdata/custom/*.txt name their datepattern in a first
// line `# datepattern: "..."` (a Go string literal).
type testdataFile struct {
	path    string // absolute
	pattern string
}

func testdataFiles(t testing.TB) []testdataFile {
	t.Helper()
	var out []testdataFile
	for _, dir := range []string{"lines", "custom"} {
		paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no testdata/%s: %v", dir, err)
		}
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			f := testdataFile{path: abs}
			if dir == "custom" {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				header, _, _ := strings.Cut(string(data), "\n")
				quoted, ok := strings.CutPrefix(header, "# datepattern: ")
				if !ok {
					t.Fatalf("%s: first line must be # datepattern: \"...\"", p)
				}
				if f.pattern, err = strconv.Unquote(quoted); err != nil {
					t.Fatalf("%s: datepattern: %v", p, err)
				}
			}
			out = append(out, f)
		}
	}
	return out
}

// TestGolden runs the detector over every test line with the clock and
// zone fail2ban's tests use, and compares with testdata/golden; each output
// line is the cut span (bytes), the time in UTC ("-" for none, "invalid" for
// an unparseable date text) and the template. TestAgainstFail2ban checks
// the same lines against fail2ban itself.
func TestGolden(t *testing.T) {
	loc := posixLocation(t, fail2banTZ)
	now := time.Unix(fail2banNow, 0).In(loc)
	for _, f := range testdataFiles(t) {
		name := filepath.Base(filepath.Dir(f.path)) + "-" + strings.TrimSuffix(filepath.Base(f.path), ".txt")
		t.Run(name, func(t *testing.T) {
			d, err := newDetector(f.pattern, nil, goldenYear)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				m, ok := find(d, line, now)
				switch {
				case !ok:
					got.WriteString("-\n")
				case m.Start == m.End:
					fmt.Fprintf(&got, "%d-%d - %s\n", m.Start, m.End, d.TemplateName(m.Template))
				case m.Time.IsZero():
					fmt.Fprintf(&got, "%d-%d invalid %s\n", m.Start, m.End, d.TemplateName(m.Template))
				default:
					fmt.Fprintf(&got, "%d-%d %s %s\n", m.Start, m.End, m.Time.UTC().Format(time.RFC3339Nano), d.TemplateName(m.Template))
				}
			}
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			gotLines := strings.Split(got.String(), "\n")
			wantLines := strings.Split(string(want), "\n")
			inputs := strings.Split(string(data), "\n")
			for i := range max(len(gotLines), len(wantLines)) {
				g, w := at(gotLines, i), at(wantLines, i)
				if g != w {
					t.Errorf("%s:%d %q\n got: %s\nwant: %s", filepath.Base(f.path), i+1, at(inputs, i), g, w)
				}
			}
		})
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<missing>"
}

package backtrack

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

// pexiprpRegexes reads the failregexes of the built-in pexiprp filter as
// the filter package hands them to regexp.Compile (its tests check the file
// against its expansion).
func pexiprpRegexes(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile("testdata/pexiprp.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			res = append(res, line)
		}
	}
	if len(res) != 2 {
		tb.Fatalf("testdata/pexiprp.txt: %d regexes, want 2", len(res))
	}
	return res
}

// rpLines returns lines of a generated reverse-proxy log, each ending in
// "\n" as the filter's buffer does.
func rpLines(tb testing.TB, n int) [][]byte {
	tb.Helper()
	log, err := rplog.Sample(n, time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), 1)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
}

// firstMatch returns the first line std matches.
func firstMatch(tb testing.TB, std *regexp.Regexp, lines [][]byte) []byte {
	tb.Helper()
	for _, l := range lines {
		if std.Match(l) {
			return l
		}
	}
	tb.Fatalf("no generated line matches %s", std)
	return nil
}

// BenchmarkPexiprp matches the pexiprp failregexes (the 403 one, then the
// 200 one) on a line of a generated log that each matches, with Go's regexp
// and with this package.
func BenchmarkPexiprp(b *testing.B) {
	lines := rpLines(b, 20_000)
	for i, expr := range pexiprpRegexes(b) {
		std := regexp.MustCompile(expr)
		re, err := Compile(expr)
		if err != nil {
			b.Fatal(err)
		}
		line := firstMatch(b, std, lines)
		name := []string{"403", "200"}[i]
		b.Run(name+"/regexp", func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if std.FindSubmatchIndex(line) == nil {
					b.Fatal("no match")
				}
			}
		})
		b.Run(name+"/backtrack", func(b *testing.B) {
			var m Machine
			var loc []int
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if loc, _ = m.FindSubmatchIndex(re, line, loc); loc == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

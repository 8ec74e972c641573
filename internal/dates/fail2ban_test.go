package dates

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pinjail/pinjail/internal/testenv"
)

const (
	fail2banPython = "/usr/bin/python3" // Debian's, which can import fail2ban
	fail2banLogs   = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"
	// fail2ban's test suite runs in this zone at this time.
	fail2banTZ  = "CET-01CEST-02,M3.5.0,M10.5.0"
	fail2banNow = 1124013600
)

// differentialPatterns are the datepatterns compared with fail2ban: the
// defaults, the shipped filters' special forms, pinjail's pexiprp, and a few
// custom ones.
var differentialPatterns = []string{
	"",
	"{^LN-BEG}",
	"%d/%b/%Y:%H:%M:%S %z",
	"^[^\\[]*\\[({DATE})\n{^LN-BEG}",
	"^<\\d+>\\d+\\s+{DATE}",
	"{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?\n^[^\\[]*\\[({DATE})\n{^LN-BEG}",
	"{^LN-BEG}Epoch\n{^LN-BEG}",
	"{^LN-BEG}TAI64N\n{^LN-BEG}",
	"LEPOCH",
	"%H:%M:%S",
	"^%m/%d/%Y %H:%M:%S",
	"%b %d %H:%M:%S %Z",
	"{NONE}",
}

type fail2banResult struct {
	Job      int      `json:"job"`
	NewError string   `json:"new_error"`
	Line     string   `json:"line"`
	Start    *int     `json:"start"`
	End      int      `json:"end"`
	Template string   `json:"template"`
	Time     *float64 `json:"time"`
	Error    string   `json:"error"`
}

// fail2banJob is a datepattern and the files whose lines it is run on.
type fail2banJob struct {
	Pattern string   `json:"pattern"`
	Now     int64    `json:"now"`
	Paths   []string `json:"paths"`
}

// TestAgainstFail2ban runs fail2ban's own date detector over fail2ban's
// sample logs and this package's test lines, with each pattern of
// differentialPatterns (and testdata/custom's), and requires the same
// answer for every line: date found or not, the text cut out, the template,
// and the time.
func TestAgainstFail2ban(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs fail2ban")
	}
	requireFail2ban(t)
	var files []string
	err := filepath.WalkDir(fail2banLogs, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := testdataFiles(t)
	for _, c := range cases {
		if c.pattern == "" {
			files = append(files, c.path)
		}
	}
	sort.Strings(files)
	var jobs []fail2banJob
	for _, p := range differentialPatterns {
		for _, f := range files {
			jobs = append(jobs, fail2banJob{Pattern: p, Now: fail2banNow, Paths: []string{f}})
		}
	}
	for _, c := range cases {
		if c.pattern != "" {
			jobs = append(jobs, fail2banJob{Pattern: c.pattern, Now: fail2banNow, Paths: []string{c.path}})
		}
	}
	total, agree, raised := compareWithFail2ban(t, jobs)
	t.Logf("%d jobs (%d patterns × %d files, and testdata/custom): %d lines, %d agree with fail2ban (%d where fail2ban raised)",
		len(jobs), len(differentialPatterns), len(files), total, agree, raised)
	if total != agree {
		t.Errorf("%d of %d lines disagree", total-agree, total)
	}
}

func requireFail2ban(t *testing.T) {
	t.Helper()
	testenv.RequireFile(t, fail2banPython)
	testenv.RequireFile(t, fail2banLogs)
	if out, err := exec.Command(fail2banPython, "-c", "import fail2ban.server.datedetector").CombinedOutput(); err != nil {
		testenv.Skip(t, "fail2ban is not importable by %s: %v\n%s", fail2banPython, err, out)
	}
}

// compareWithFail2ban runs the jobs through fail2ban and this package and
// reports mismatches. It counts lines, lines that agree, and lines on
// which fail2ban raised an exception (and would drop the line).
func compareWithFail2ban(t *testing.T, jobs []fail2banJob) (total, agree, raised int) {
	t.Helper()
	input, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fail2banPython, "testdata/fail2ban_dates.py")
	cmd.Env = append(os.Environ(), "TZ="+fail2banTZ, "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fail2ban reference: %v\n%s", err, stderr.Bytes())
	}
	results := make([][]fail2banResult, len(jobs))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r fail2banResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		results[r.Job] = append(results[r.Job], r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	loc := posixLocation(t, fail2banTZ)
	now := time.Unix(fail2banNow, 0).In(loc)
	mismatches := 0
	report := func(format string, args ...any) {
		if mismatches++; mismatches <= 30 {
			t.Errorf(format, args...)
		}
	}
	for j, job := range jobs {
		d, err := New(job.Pattern, nil)
		res := results[j]
		if len(res) == 1 && res[0].NewError != "" {
			total++
			if err == nil {
				report("pattern %q: fail2ban refuses it (%s), New accepts it", job.Pattern, res[0].NewError)
				continue
			}
			agree++
			continue
		}
		if err != nil {
			// fail2ban compiles templates when first used, and raises on
			// every line then, or on every match when the regex lacks
			// group 1: it must not have found a date anywhere.
			for _, r := range res {
				total++
				if r.Start != nil && r.Error == "" {
					report("pattern %q: New: %v; fail2ban finds %q in %q", job.Pattern, err, r.Template, r.Line)
					continue
				}
				if r.Error != "" {
					raised++
				}
				agree++
			}
			continue
		}
		for _, want := range res {
			total++
			if want.Error != "" {
				raised++
			}
			line := []byte(want.Line)
			got, ok := find(d, line, now)
			if diff := compareResult(d, line, got, ok, want); diff != "" {
				report("pattern %q, %s\nline %q\n%s", job.Pattern, filepath.Base(job.Paths[0]), want.Line, diff)
				continue
			}
			agree++
		}
	}
	return total, agree, raised
}

func compareResult(d *Detector, line []byte, got Match, ok bool, want fail2banResult) string {
	if want.Start == nil {
		if ok {
			return "fail2ban found no date; got " + describe(d, line, got)
		}
		return ""
	}
	if !ok {
		return "fail2ban found " + want.Template + "; got nothing"
	}
	var diffs []string
	if s, e := utf8.RuneCount(line[:got.Start]), utf8.RuneCount(line[:got.End]); s != *want.Start || e != want.End {
		diffs = append(diffs, "span: fail2ban "+strconv.Itoa(*want.Start)+"-"+strconv.Itoa(want.End)+", got "+strconv.Itoa(s)+"-"+strconv.Itoa(e))
	}
	if name := d.TemplateName(got.Template); name != want.Template && name != randomName.Replace(want.Template) {
		diffs = append(diffs, "template: fail2ban "+want.Template+", got "+name)
	}
	switch {
	case want.Time == nil && !got.Time.IsZero():
		diffs = append(diffs, "time: fail2ban none, got "+got.Time.UTC().Format(time.RFC3339Nano))
	case want.Time != nil:
		// fail2ban's times are floats: compare to the microsecond.
		w := *want.Time
		g := float64(got.Time.Unix()) + float64(got.Time.Nanosecond())/1e9
		if got.Time.IsZero() || math.Abs(w-g) > 1e-6*math.Max(1, math.Abs(w)/1e9) {
			sec, frac := math.Modf(w)
			diffs = append(diffs, "time: fail2ban "+time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339Nano)+", got "+got.Time.UTC().Format(time.RFC3339Nano))
		}
	}
	return strings.Join(diffs, "\n")
}

// randomName undoes a coin toss in fail2ban: it names %Exk and %Exl
// "Ex%k" and "Ex%l" or "%Exk" and "%Exl" depending on Python's string
// hashing, which changes with every process. This package uses the latter.
var randomName = strings.NewReplacer("Ex%k", "%Exk", "Ex%l", "%Exl")

func describe(d *Detector, line []byte, m Match) string {
	return d.TemplateName(m.Template) + " " + string(line[m.Start:m.End]) + " " + m.Time.UTC().Format(time.RFC3339Nano)
}

// posixLocation builds a Location from a POSIX TZ string with a standard
// offset in whole hours, such as the one fail2ban's tests set, by wrapping
// it in a TZif file. Like glibc, it applies the string's rules from 1970
// on only; before, it keeps to standard time.
func posixLocation(t testing.TB, tz string) *time.Location {
	t.Helper()
	i := strings.IndexAny(tz, "+-0123456789")
	if i <= 0 {
		t.Fatalf("zone %q: no standard offset", tz)
	}
	std := tz[:i]
	j := i + 1
	for j < len(tz) && tz[j] >= '0' && tz[j] <= '9' {
		j++
	}
	hours, err := strconv.Atoi(tz[i:j])
	if err != nil {
		t.Fatalf("zone %q: %v", tz, err)
	}
	var b bytes.Buffer
	put := func(v any) {
		if err := binary.Write(&b, binary.BigEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, timeSize := range []int{4, 8} {
		b.WriteString("TZif2")
		b.Write(make([]byte, 15))
		put([]uint32{0, 0, 0, 1, 1, uint32(len(std) + 1)}) // isut, isstd, leap, time, type, char counts
		if timeSize == 4 {
			put(int32(0)) // one transition, at the epoch
		} else {
			put(int64(0))
		}
		put(uint8(0))             // to the one type:
		put(int32(-hours * 3600)) // POSIX offsets count west
		put([]uint8{0, 0})        // not DST, named std
		b.WriteString(std + "\x00")
	}
	b.WriteString("\n" + tz + "\n")
	loc, err := time.LoadLocationFromTZData(tz, b.Bytes())
	if err != nil {
		t.Fatalf("zone %q: %v", tz, err)
	}
	return loc
}

// TestRandomLinesAgainstFail2ban compares with fail2ban on lines made of
// random date fragments, which reach corners no real log does.
func TestRandomLinesAgainstFail2ban(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs fail2ban")
	}
	requireFail2ban(t)
	fragments := []string{
		"2005", "2019", "05", "1", "12", "23", "31", "29", "-", "/", ".", ":", " ", "  ", "T", "Z",
		"UTC", "+0100", "-05:00", "+01", "Jan", "feb", "OCT", "Sep", "Mon", "sun", "PDT", "CEST",
		"AM", "pm", ",", "[", "]", "(", ")", "<", ">", "@", "audit(", "1124013600", ".123",
		"4000000042fe0d2200000000", "é", "«", "日", "x", "host", "sshd[1]:", "21:59:59", "9:05:07",
		"00:00:00", "24:00:00", "2005-01-23", "23/Jan/2005", "Jan 23",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lines strings.Builder
	for range 3000 {
		for range 1 + rng.IntN(14) {
			lines.WriteString(fragments[rng.IntN(len(fragments))])
		}
		lines.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "random.txt")
	if err := os.WriteFile(path, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var jobs []fail2banJob
	for _, p := range differentialPatterns {
		jobs = append(jobs, fail2banJob{Pattern: p, Now: fail2banNow, Paths: []string{path}})
	}
	for _, f := range testdataFiles(t) {
		if f.pattern != "" {
			jobs = append(jobs, fail2banJob{Pattern: f.pattern, Now: fail2banNow, Paths: []string{path}})
		}
	}
	total, agree, raised := compareWithFail2ban(t, jobs)
	t.Logf("%d jobs: %d lines, %d agree with fail2ban (%d where fail2ban raised)", len(jobs), total, agree, raised)
	if total != agree {
		t.Errorf("%d of %d lines disagree", total-agree, total)
	}
}

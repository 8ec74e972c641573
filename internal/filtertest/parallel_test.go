package filtertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/testenv"
)

// fail2ban's sample logs and filters, read where Debian installs them.
const (
	fail2banLogs    = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs"
	fail2banConfDir = "/etc/fail2ban"
)

// sampleNow is the time fail2ban's tests run at (2005-08-14 12:00 CEST).
func sampleNow() time.Time { return time.Unix(1124013600, 0) }

// output runs the whole of a pinjail regex over log and returns what it
// prints: the report with every option, and the JSON hits. With file set,
// it reads the log from a file holding it, else from memory.
func output(t *testing.T, spec *config.Filter, log []byte, file string, opts Options) (string, *Report) {
	t.Helper()
	f, err := filter.New(spec, filter.Options{UseDNS: "raw", CheckAllRegex: true})
	if err != nil {
		t.Fatal(err)
	}
	var in io.Reader = bytes.NewReader(log)
	if file != "" {
		fl, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		in = fl
	}
	var out bytes.Buffer
	rep, err := Run(in, f, opts, JSONWriter(&out))
	if err != nil {
		t.Fatal(err)
	}
	rep.Elapsed = 0
	if err := rep.WriteText(&out, Header{Filter: "test", Log: "test.log"}, f, opts); err != nil {
		t.Fatal(err)
	}
	return out.String(), rep
}

// checkModes requires runs with workers, small blocks or both, reading
// the log from memory (one block after the other) or from a file (blocks
// at once), to print what one goroutine prints.
func checkModes(t *testing.T, name string, spec *config.Filter, log []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(file, log, 0o600); err != nil {
		t.Fatal(err)
	}
	base := Options{Verbose: true, PrintAllMatched: true, PrintAllMissed: true, PrintAllIgnored: true, Now: sampleNow}
	// One worker that runs Match on every line is the reference.
	ref := with(base, 1, 0)
	ref.matchAll = true
	want, _ := output(t, spec, log, "", ref)
	for _, mode := range []struct {
		workers, block int
		from           string
	}{
		{1, 0, ""}, {2, 0, ""}, {3, 0, ""}, {2, 2048, ""}, {3, 4096, ""}, {1, 2048, ""},
		{2, 0, file}, {4, 0, file}, {2, 2048, file}, {3, 4096, file}, {4, 2048, file},
	} {
		got, _ := output(t, spec, log, mode.from, with(base, mode.workers, mode.block))
		if got != want {
			t.Errorf("%s with %d workers, blocks of %d, from file %q: output differs from one worker's:\n%s",
				name, mode.workers, mode.block, mode.from, firstDifference(got, want))
		}
	}
	// The bounded listings too.
	bounded := Options{Now: sampleNow}
	want, _ = output(t, spec, log, "", with(bounded, 1, 0))
	for _, from := range []string{"", file} {
		if got, _ := output(t, spec, log, from, with(bounded, 2, 2048)); got != want {
			t.Errorf("%s with listings bounded, from file %q: output differs:\n%s", name, from, firstDifference(got, want))
		}
	}
}

func with(o Options, workers, block int) Options {
	o.Workers, o.blockSize = workers, block
	return o
}

func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestParallelRPLog compares the modes on a generated Pexip reverse-proxy
// log, with the pexiprp filter (one date template, dated by the workers),
// the every-line filter, and the default date templates (dated by the
// reader).
func TestParallelRPLog(t *testing.T) {
	log := rpLog(t, 6000)
	for _, file := range []string{"../builtin/conf/filter.d/pexiprp.conf", "../../bench/everyline.conf"} {
		spec, _, _, err := LoadFilter("", file, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkModes(t, file, spec, log)
		spec.DatePattern = ""
		checkModes(t, file+" with the default date templates", spec, log)
	}
}

// TestParallelSamples compares the modes on fail2ban's sample logs, each
// with the filter of its name.
func TestParallelSamples(t *testing.T) {
	testenv.RequireFile(t, fail2banLogs)
	testenv.RequireFile(t, filepath.Join(fail2banConfDir, "filter.d"))
	logs, err := filepath.Glob(filepath.Join(fail2banLogs, "*"))
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, path := range logs {
		name := filepath.Base(path)
		if _, err := os.Stat(filepath.Join(fail2banConfDir, "filter.d", name+".conf")); err != nil {
			continue
		}
		log, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		spec, _, _, err := LoadFilter(fail2banConfDir, name, config.Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkModes(t, name, spec, log)
		tested++
	}
	if tested < 50 {
		t.Errorf("only %d sample logs tested", tested)
	}
}

// twoDates is a log on which guessing the date detector's state goes
// wrong. Its lines have two dates; the detector takes the second where the
// line before had its date at that place, and keeps taking it from then
// on, so that the first line decides for all. A worker that has not seen
// it takes the first date.
func twoDates() []byte {
	var log bytes.Buffer
	log.WriteString("id 12345678901234567890abc [14/May/2024:09:20:00 +0000] 192.0.2.2 failed\n")
	for i := range 400 {
		fmt.Fprintf(&log, "01/Jan/2024:00:00:%02d +0000 [14/May/2024:09:%02d:%02d +0000] 192.0.2.1 failed\n", i%60, 20+i/60, i%60)
	}
	return log.Bytes()
}

var twoDatesSpec = config.Filter{
	FailRegex:   []config.Regex{{Pattern: `\] <HOST> failed$`}},
	DatePattern: "%d/%b/%Y:%H:%M:%S %z",
}

func TestParallelTwoDates(t *testing.T) {
	spec := twoDatesSpec
	checkModes(t, "two dates", &spec, twoDates())
	out, _ := output(t, &spec, twoDates(), "", Options{Workers: 2, blockSize: 2048, Now: sampleNow, Verbose: true})
	last := time.Date(2024, 5, 14, 9, 26, 39, 0, time.UTC).Local().Format("Mon Jan 02 15:04:05 2006")
	if !strings.Contains(out, "192.0.2.1  "+last) {
		t.Errorf("the last line is not dated with its second date:\n%s", out)
	}
}

// TestSettle has a worker that never saw the first line date the rest of
// the log: settle must find the guess wrong and date and match the batch
// again, as one goroutine would have.
func TestSettle(t *testing.T) {
	spec := twoDatesSpec
	lines := bytes.Split(bytes.TrimSuffix(twoDates(), []byte("\n")), []byte("\n"))
	fresh := func() *run {
		f, err := filter.New(&spec, filter.Options{UseDNS: "raw", CheckAllRegex: true})
		if err != nil {
			t.Fatal(err)
		}
		return newRun(f, Options{Verbose: true}, nil)
	}
	batchOf := func(r *run, lines [][]byte) *batch {
		b := r.newBatch()
		b.lines, b.now = lines, sampleNow()
		for range lines {
			b.skip = append(b.skip, false)
		}
		return b
	}
	var res filter.Result

	// One goroutine dates and matches all lines.
	seq := fresh()
	want := batchOf(seq, lines)
	seq.date(seq.filter, want)
	seq.match(seq.filter, want, false, &res)

	// The collector has dated the first line, a worker guesses the rest.
	r := fresh()
	worker := r.filter.Clone()
	var first filter.LineDate
	r.filter.Date(lines[0], sampleNow(), &first)
	b := batchOf(r, lines[1:])
	r.match(worker, b, true, &res)
	if b.dates[0].Equal(&want.dates[1]) {
		t.Fatal("the worker guessed right; the test needs it to guess wrong")
	}
	r.settle(r.filter, b, &res)
	if r.redated != 1 {
		t.Errorf("%d batches dated again, want 1", r.redated)
	}
	for i, d := range b.dates {
		if !b.dates[i].Equal(&want.dates[i+1]) {
			t.Fatalf("line %d dated %+v, want %+v", i+2, d, want.dates[i+1])
		}
	}
	sameHit := func(a, b Hit) bool { return a.Host == b.Host && a.Time == b.Time }
	if got, wantHits := b.out.failures[0], want.out.failures[0][1:]; !slices.EqualFunc(got, wantHits, sameHit) {
		t.Errorf("failures %v, want %v", got, wantHits)
	}
}

// TestRunErrors checks that a read error and an error of the hit callback
// end a run with that error, whatever the number of workers and whether
// the log is read from a file.
func TestRunErrors(t *testing.T) {
	spec, _, _, err := LoadFilter("", "../builtin/conf/filter.d/pexiprp.conf", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := rpLog(t, 3000)
	file := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(file, log, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("disk on fire")
	for _, workers := range []int{1, 2, 3} {
		f, err := filter.New(spec, filter.Options{UseDNS: "raw", CheckAllRegex: true})
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Workers: workers, blockSize: 4096, Now: sampleNow}
		r := io.MultiReader(bytes.NewReader(log[:len(log)/2]), iotest.ErrReader(broken))
		if _, err := Run(r, f, opts, nil); !errors.Is(err, broken) {
			t.Errorf("%d workers, read error: got %v", workers, err)
		}
		for _, fromFile := range []bool{false, true} {
			var in io.Reader = bytes.NewReader(log)
			if fromFile {
				fl, err := os.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				defer fl.Close()
				in = fl
			}
			calls := 0
			_, err = Run(in, f.Clone(), opts, func(Hit) error {
				if calls++; calls == 3 {
					return broken
				}
				return nil
			})
			if !errors.Is(err, broken) || calls != 3 {
				t.Errorf("%d workers, from a file %t, hit error: got %v after %d calls", workers, fromFile, err, calls)
			}
		}
	}
}

package filtertest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/linereader"
)

// writeLog writes log to a file in a test directory and returns its path.
func writeLog(tb testing.TB, log []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "log")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestRunFileOffset checks that a run over a file whose offset is not at
// its start reads from the offset, as it would read a stream.
func TestRunFileOffset(t *testing.T) {
	spec, _, _, err := LoadFilter("", "../builtin/conf/filter.d/pexiprp.conf", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := rpLog(t, 3000)
	path := writeLog(t, log)
	// In the middle of a line: both runs start with the rest of it.
	offset := int64(len(log)/3 + 17)
	base := Options{Verbose: true, PrintAllMatched: true, PrintAllMissed: true, Now: sampleNow}
	want, _ := output(t, spec, log[offset:], "", with(base, 1, 0))

	f, err := filter.New(spec, filter.Options{UseDNS: "raw", CheckAllRegex: true})
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	rep, err := Run(file, f, with(base, 2, 4096), JSONWriter(&got))
	if err != nil {
		t.Fatal(err)
	}
	rep.Elapsed = 0
	if err := rep.WriteText(&got, Header{Filter: "test", Log: "test.log"}, f, base); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("from offset %d: output differs from the stream's:\n%s", offset, firstDifference(got.String(), want))
	}
}

// failingReaderAt fails every read that reaches past at.
type failingReaderAt struct {
	r   io.ReaderAt
	at  int64
	err error
}

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.at {
		n, _ := r.r.ReadAt(p[:max(0, r.at-off)], off)
		return n, r.err
	}
	return r.r.ReadAt(p, off)
}

// TestFileFeedReadError checks that a read error in one worker ends a run
// with that error, without stranding the workers that read the blocks
// after it and wait for their turn or their place in the report.
func TestFileFeedReadError(t *testing.T) {
	log := rpLog(t, 3000)
	broken := errors.New("disk on fire")
	for _, file := range []string{"../builtin/conf/filter.d/pexiprp.conf", "../../bench/everyline.conf"} {
		spec, _, _, err := LoadFilter("", file, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// One date template, guessed by the workers; the default
		// ones, dated in turn.
		for _, datePattern := range []string{spec.DatePattern, ""} {
			spec.DatePattern = datePattern
			for _, workers := range []int{2, 3, 4} {
				f, err := filter.New(spec, filter.Options{UseDNS: "raw", CheckAllRegex: true})
				if err != nil {
					t.Fatal(err)
				}
				r := newRun(f, Options{Now: sampleNow}, nil)
				nbatch := 4 * workers
				blocks := linereader.NewBlocksAt(failingReaderAt{bytes.NewReader(log), int64(len(log) / 2), broken}, int64(len(log)), 4096, 2047)
				r.bufSize = blocks.BufferSize()
				err = r.parallel(newFileFeed(r, blocks, nbatch, f.NumDateTemplates() != 1), workers, nbatch)
				if !errors.Is(err, broken) {
					t.Errorf("%s, date pattern %q, %d workers: got %v", file, datePattern, workers, err)
				}
			}
		}
	}
}

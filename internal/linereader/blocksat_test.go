package linereader

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// readBlocksAt reads every block of the first size bytes of r in order and
// returns their lines and the count of truncated lines.
func readBlocksAt(t testing.TB, r io.ReaderAt, size int64, max, block int) ([]string, int) {
	t.Helper()
	b := NewBlocksAt(r, size, block, max)
	var (
		out   []string
		buf   []byte
		lines [][]byte
		err   error
	)
	for k := range b.Len() {
		buf, lines, err = b.Block(k, buf, lines)
		if err != nil {
			t.Fatalf("block %d of %d: %v", k, b.Len(), err)
		}
		for _, l := range lines {
			out = append(out, string(l))
		}
	}
	if _, lines, err := b.Block(b.Len(), buf, lines); !errors.Is(err, io.EOF) || len(lines) != 0 {
		t.Fatalf("block %d past the end: %d lines, error %v; want io.EOF", b.Len(), len(lines), err)
	}
	return out, b.Truncated()
}

// eofReaderAt reports io.EOF with the last bytes of its data, as the
// io.ReaderAt contract allows.
type eofReaderAt struct{ *strings.Reader }

func (r eofReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.Reader.ReadAt(p, off)
	if err == nil && off+int64(n) == r.Size() {
		err = io.EOF
	}
	return n, err
}

// checkBlocksAt requires BlocksAt to give, for in, what Reader gives.
func checkBlocksAt(t *testing.T, in string, max, block int) {
	t.Helper()
	want, wantTr := readAll(t, in, 16, max)
	for name, r := range map[string]io.ReaderAt{
		"strings.Reader": strings.NewReader(in),
		"EOF with data":  eofReaderAt{strings.NewReader(in)},
	} {
		got, tr := readBlocksAt(t, r, int64(len(in)), max, block)
		if !slices.Equal(got, want) || tr != wantTr {
			t.Fatalf("%s, %q (max %d, block %d): lines %q truncated %d, Reader gives %q truncated %d",
				name, in, max, block, got, tr, want, wantTr)
		}
	}
}

func TestBlocksAt(t *testing.T) {
	long := strings.Repeat("x", 100)
	inputs := []string{
		"", "a", "\n", "a\n", "\n\n", "\r\n", "\r", "a\r", "a\nb\r\nc\n", "a\nb", "abc\n", "abcd\nz\n", "abc\r\nz",
		"abc\r\r\n", "a\rb\n", "\n\nabc\n\n",
		long + "\nz\n", long + "\r\n" + long, long + long + long + "\nshort\n" + long,
		strings.Repeat("ab\n", 100), strings.Repeat(long+"\n", 10), strings.Repeat("abc\r\n", 40),
		"a\n" + long + long + "\nb\n" + long + "\r\n",
	}
	for _, in := range inputs {
		for _, max := range []int{1, 2, 3, 4, 5, 40, 99, 100, 101, 102, 1000} {
			// Every block size up to past the input's length puts a
			// block edge on every byte: before and after each "\n",
			// between "\r" and "\n", inside long lines.
			for block := 1; block <= len(in)+2; block++ {
				checkBlocksAt(t, in, max, block)
			}
			checkBlocksAt(t, in, max, 0)
		}
	}
}

// TestBlocksAtLongLines has lines around the maximum length, where the
// maximum is longer than what the first read of a block takes past its
// end: the block that a line ends in reads on to tell whether it is cut.
func TestBlocksAtLongLines(t *testing.T) {
	for _, max := range []int{lookahead + 1, lookahead + 904} {
		for _, n := range []int{max - 2, max - 1, max, max + 1, max + 2, 2*max + 5} {
			for _, end := range []string{"\n", "\r\n", "\r", ""} {
				long := strings.Repeat("x", n) + end
				for _, in := range []string{long, "ab\n" + long, "ab\n" + long + "cd\n", "\n" + long + "\n" + long} {
					for _, block := range []int{1, 2, 3, 5, 64, lookahead, n - 1, n, n + 1, n + 2, n + 3, n + 4, n + 5, 3 * n} {
						checkBlocksAt(t, in, max, block)
					}
				}
			}
		}
	}
}

// randomLog returns a log of lines of varied lengths, some far longer than
// the maximum, some ending in "\r\n", some empty, maybe without a final
// newline.
func randomLog(rng *rand.Rand) string {
	var s strings.Builder
	for range rng.IntN(60) {
		n := rng.IntN(12)
		switch rng.IntN(10) {
		case 0:
			n = 0
		case 1:
			n = 50 + rng.IntN(500)
		}
		for range n {
			s.WriteByte("ab\r#"[rng.IntN(4)])
		}
		switch rng.IntN(6) {
		case 0:
			s.WriteString("\r\n")
		default:
			s.WriteByte('\n')
		}
	}
	if rng.IntN(3) == 0 {
		s.WriteString(strings.Repeat("z", rng.IntN(300)))
	}
	return s.String()
}

func TestBlocksAtRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		in := randomLog(rng)
		for _, max := range []int{1, 3, 8, 11, 40, 100, 1000} {
			for _, block := range []int{1, 2, 3, 5, 7, 16, 64, 100, 333, 4096} {
				checkBlocksAt(t, in, max, block)
			}
		}
	}
}

func FuzzBlocksAt(f *testing.F) {
	f.Add("a\nb\r\n", 4, 2)
	f.Add(strings.Repeat("x", 50)+"\nyy", 10, 7)
	f.Add("ab\r\ncd\n\nef", 3, 1)
	f.Fuzz(func(t *testing.T, in string, max, block int) {
		max = 1 + int(uint(max)%128)
		block = int(uint(block) % 512)
		checkBlocksAt(t, in, max, block)
	})
}

// TestBlocksAtConcurrent reads the blocks from several goroutines in no
// particular order: put back in order, they are the lines Reader gives.
func TestBlocksAtConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var in strings.Builder
	for in.Len() < 1<<20 {
		in.WriteString(randomLog(rng))
	}
	const max, block, workers = 100, 1000, 4
	want, wantTr := readAll(t, in.String(), 4096, max)
	b := NewBlocksAt(strings.NewReader(in.String()), int64(in.Len()), block, max)
	got := make([][]string, b.Len())
	var (
		wg   sync.WaitGroup
		next = make(chan int64)
		errs = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			var (
				buf   []byte
				lines [][]byte
				err   error
			)
			for k := range next {
				if buf, lines, err = b.Block(k, buf, lines); err != nil {
					errs <- fmt.Errorf("block %d: %w", k, err)
					return
				}
				for _, l := range lines {
					got[k] = append(got[k], string(l))
				}
			}
		})
	}
	for _, k := range rng.Perm(int(b.Len())) {
		next <- int64(k)
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if all := slices.Concat(got...); !slices.Equal(all, want) || b.Truncated() != wantTr {
		t.Errorf("%d lines, %d truncated; Reader gives %d lines, %d truncated", len(all), b.Truncated(), len(want), wantTr)
	}
}

// TestBlocksAtFile reads a real file, which grows after the BlocksAt is
// made: the lines are those of the size it was given.
func TestBlocksAtFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	const first = "one\ntwo\r\nthree\nfou"
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("r\nfive\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for block := 1; block <= len(first)+1; block++ {
		got, _ := readBlocksAt(t, f, st.Size(), 0, block)
		if want := []string{"one", "two", "three", "fou"}; !slices.Equal(got, want) {
			t.Errorf("blocks of %d: %q, want %q", block, got, want)
		}
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

// TestBlocksAtErrors checks that a failed read and a file shorter than its
// size are errors of the blocks that need the missing bytes, and of no
// other.
func TestBlocksAtErrors(t *testing.T) {
	in := strings.Repeat("0123456789abcdefghi\n", 2000) // 40,000 bytes
	broken := errors.New("disk on fire")
	tests := []struct {
		name string
		r    io.ReaderAt
		size int64
		want error
	}{
		{"read error", failingReaderAt{strings.NewReader(in), 30000, broken}, int64(len(in)), broken},
		{"file shrank", strings.NewReader(in[:30000]), int64(len(in)), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Blocks 0 to 2 and the bytes they read past their end
			// (up to 4 KiB) lie before byte 30,000; blocks 3 and 4
			// do not.
			b := NewBlocksAt(tt.r, tt.size, 8192, 0)
			if b.Len() != 5 {
				t.Fatalf("%d blocks, want 5", b.Len())
			}
			var buf []byte
			for k := range b.Len() {
				_, lines, err := b.Block(k, buf, nil)
				switch {
				case k < 3 && err != nil:
					t.Errorf("block %d: %v", k, err)
				case k < 3 && len(lines) == 0:
					t.Errorf("block %d: no lines", k)
				case k >= 3 && !errors.Is(err, tt.want):
					t.Errorf("block %d: error %v, want %v", k, err, tt.want)
				}
			}
		})
	}
}

func BenchmarkBlocksAt(b *testing.B) {
	line := `198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "GET /static/webapp/img/logo.png HTTP/1.1" 200 2211 "https://meet.example.com/webapp/" "Mozilla/5.0" "10.44.0.11:443" "200" "0.036"` + "\n"
	data := strings.NewReader(strings.Repeat(line, 10000))
	b.SetBytes(data.Size())
	b.ReportAllocs()
	var (
		buf   []byte
		lines [][]byte
	)
	for b.Loop() {
		r := NewBlocksAt(data, data.Size(), 512<<10, 0)
		for k := range r.Len() {
			buf, lines, _ = r.Block(k, buf, lines)
		}
	}
}

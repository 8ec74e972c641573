package linereader

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, in string, buf, max int) ([]string, int) {
	t.Helper()
	r := New(strings.NewReader(in), buf, max)
	var out []string
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Truncated()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(l))
	}
}

func TestNext(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name      string
		in        string
		buf, max  int
		want      []string
		truncated int
	}{
		{"empty", "", 16, 0, nil, 0},
		{"lines", "a\nb\r\nc\n", 16, 0, []string{"a", "b", "c"}, 0},
		{"no final newline", "a\nb", 16, 0, []string{"a", "b"}, 0},
		{"blank lines", "\n\n", 16, 0, []string{"", ""}, 0},
		{"longer than buffer", long + "\nz\n", 16, 1000, []string{long, "z"}, 0},
		{"clipped in buffer", "abcdef\nz\n", 16, 3, []string{"abc", "z"}, 1},
		{"clipped long", long + "\nz\n", 16, 40, []string{long[:40], "z"}, 1},
		{"long without newline", long, 16, 1000, []string{long}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tr := readAll(t, tt.in, tt.buf, tt.max)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			if tr != tt.truncated {
				t.Errorf("truncated = %d, want %d", tr, tt.truncated)
			}
		})
	}
}

func FuzzNext(f *testing.F) {
	f.Add("a\nb\r\n", 16, 4)
	f.Fuzz(func(t *testing.T, in string, buf, max int) {
		buf = 16 + int(uint(buf)%64)
		max = 1 + int(uint(max)%128)
		r := New(strings.NewReader(in), buf, max)
		var n int64
		for {
			l, err := r.Next()
			if err != nil {
				break
			}
			if len(l) > max {
				t.Fatalf("line of %d bytes exceeds max %d", len(l), max)
			}
			n++
		}
		if r.Offset() != int64(len(in)) {
			t.Fatalf("offset %d, want %d", r.Offset(), len(in))
		}
	})
}

func BenchmarkNext(b *testing.B) {
	line := `198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "GET /static/webapp/img/logo.png HTTP/1.1" 200 2211 "https://meet.example.com/webapp/" "Mozilla/5.0" "10.44.0.11:443" "200" "0.036"` + "\n"
	data := strings.Repeat(line, 10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := New(strings.NewReader(data), 0, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// readBlocks reads in with Blocks, through the reader wrap makes.
func readBlocks(t testing.TB, in string, max, block int, wrap func(io.Reader) io.Reader) ([]string, int) {
	t.Helper()
	b := NewBlocks(wrap(strings.NewReader(in)), max)
	var (
		out   []string
		buf   = make([]byte, 0, block)
		lines [][]byte
		err   error
	)
	for {
		buf, lines, err = b.Next(buf, lines)
		if errors.Is(err, io.EOF) {
			return out, b.Truncated()
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			t.Fatal("Next returned no lines and no error")
		}
		for _, l := range lines {
			out = append(out, string(l))
		}
	}
}

// checkBlocks requires Blocks to give what Reader gives.
func checkBlocks(t *testing.T, in string, max, block int) {
	t.Helper()
	want, wantTr := readAll(t, in, 16, max)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	} {
		got, tr := readBlocks(t, in, max, block, wrap)
		if !slices.Equal(got, want) || tr != wantTr {
			t.Fatalf("%s reads of %q (max %d, block %d): lines %q truncated %d, Reader gives %q truncated %d",
				name, in, max, block, got, tr, want, wantTr)
		}
	}
}

func TestBlocks(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, in := range []string{
		"", "a", "a\n", "\n\n", "a\nb\r\nc\n", "a\nb", "abc\n", "abcd\nz\n", "abc\r\nz",
		long + "\nz\n", long + "\r\n" + long, long + long + long + "\nshort\n" + long,
		strings.Repeat("ab\n", 100), strings.Repeat(long+"\n", 10),
	} {
		for _, max := range []int{1, 3, 4, 40, 99, 100, 101, 1000} {
			for _, block := range []int{0, 16, 64, 300, 4096} {
				checkBlocks(t, in, max, block)
			}
		}
	}
}

func FuzzBlocks(f *testing.F) {
	f.Add("a\nb\r\n", 4, 16)
	f.Add(strings.Repeat("x", 50)+"\nyy", 10, 0)
	f.Fuzz(func(t *testing.T, in string, max, block int) {
		max = 1 + int(uint(max)%128)
		block = int(uint(block) % 512)
		checkBlocks(t, in, max, block)
	})
}

func BenchmarkBlocks(b *testing.B) {
	line := `198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "GET /static/webapp/img/logo.png HTTP/1.1" 200 2211 "https://meet.example.com/webapp/" "Mozilla/5.0" "10.44.0.11:443" "200" "0.036"` + "\n"
	data := strings.Repeat(line, 10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	buf := make([]byte, 0, 512<<10)
	var lines [][]byte
	for b.Loop() {
		r := NewBlocks(strings.NewReader(data), 0)
		var err error
		for err == nil {
			buf, lines, err = r.Next(buf, lines)
		}
	}
}

package linereader

import (
	"errors"
	"io"
	"strings"
	"testing"
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

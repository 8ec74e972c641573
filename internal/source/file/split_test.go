package file

import (
	"bytes"
	"strings"
	"testing"
)

type splitLine struct {
	text string
	end  int64
}

// splitAll feeds data to a splitter in chunks of the given sizes (the rest
// in one chunk) and returns the lines. It reads a chunk's lines only once
// the chunk is fed, as the follower does, which checks that they stay
// intact until the next feed.
func splitAll(s *splitter, data []byte, chunks []int) []splitLine {
	var out []splitLine
	var texts [][]byte
	var ends []int64
	feed := func(chunk []byte) {
		texts, ends = texts[:0], ends[:0]
		s.feed(chunk, func(text []byte, end int64) {
			texts = append(texts, text)
			ends = append(ends, end)
		})
		for i, text := range texts {
			out = append(out, splitLine{string(text), ends[i]})
		}
	}
	for _, n := range chunks {
		n = min(n, len(data))
		feed(data[:n])
		data = data[n:]
	}
	feed(data)
	return out
}

// referenceSplit is the splitter's contract written the obvious way.
func referenceSplit(data []byte, max int) (lines []splitLine, truncated uint64) {
	var off int64
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return lines, truncated
		}
		line := data[:i]
		off += int64(i + 1)
		if len(line) > max {
			line = line[:max]
			truncated++
		} else {
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		lines = append(lines, splitLine{string(line), off})
		data = data[i+1:]
	}
}

func TestSplitter(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		chunks []int
		max    int
		want   []splitLine
	}{
		{"empty", "", nil, 10, nil},
		{"no newline", "abc", nil, 10, nil},
		{"lines", "a\nbc\n\nd", nil, 10, []splitLine{{"a", 2}, {"bc", 5}, {"", 6}}},
		{"crlf", "a\r\nb\r\r\n", nil, 10, []splitLine{{"a", 3}, {"b\r", 7}}},
		{"split across chunks", "hello\nworld\n", []int{3, 5}, 10, []splitLine{{"hello", 6}, {"world", 12}}},
		{"newline alone in chunk", "ab\ncd\n", []int{2, 1, 2}, 10, []splitLine{{"ab", 3}, {"cd", 6}}},
		{"exactly max", "abcd\n", []int{4}, 4, []splitLine{{"abcd", 5}}},
		{"too long in one chunk", "abcdefgh\nij\n", nil, 4, []splitLine{{"abcd", 9}, {"ij", 12}}},
		{"too long across chunks", "abcdefgh\nij\n", []int{2, 2, 2}, 4, []splitLine{{"abcd", 9}, {"ij", 12}}},
		{"cr counts toward max", "abcd\r\n", nil, 4, []splitLine{{"abcd", 6}}},
		{"nul and invalid utf-8", "\x00\xff\n", nil, 10, []splitLine{{"\x00\xff", 3}}},
		{"held line then held tail", "abc\ndef\ngh\nij\n", []int{2, 6, 5}, 10, []splitLine{{"abc", 4}, {"def", 8}, {"gh", 11}, {"ij", 14}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitAll(&splitter{maxLine: tt.max}, []byte(tt.data), tt.chunks)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("line %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzSplitter checks that any chunking of any input gives the lines the
// reference gives, with bounded memory.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a\nbc\r\n\nd"), []byte{1, 2, 3}, uint8(4))
	f.Add([]byte(strings.Repeat("x", 300)+"\nshort\n"), []byte{100, 7}, uint8(16))
	f.Add([]byte("\x00\xff\n\n\r\n"), []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data, cuts []byte, max uint8) {
		m := int(max%64) + 1
		chunks := make([]int, len(cuts))
		for i, c := range cuts {
			chunks[i] = int(c)
		}
		s := &splitter{maxLine: m}
		got := splitAll(s, data, chunks)
		want, truncated := referenceSplit(data, m)
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("line %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
		if s.truncated != truncated {
			t.Fatalf("truncated %d, want %d", s.truncated, truncated)
		}
		if s.off != int64(len(data)) || len(s.partial) > m {
			t.Fatalf("offset %d of %d, partial %d > %d", s.off, len(data), len(s.partial), m)
		}
	})
}

func BenchmarkSplitter(b *testing.B) {
	data := []byte(strings.Repeat(nginxLine, 1000))
	s := &splitter{maxLine: DefaultMaxLineBytes}
	var n int
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s.feed(data, func([]byte, int64) { n++ })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

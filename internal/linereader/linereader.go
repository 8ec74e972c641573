// Package linereader splits a log into lines without allocating per line,
// bounding the memory a hostile line can take: a stream line by line
// ([Reader]) or in blocks of lines ([Blocks]), or a file in numbered blocks
// that goroutines read at the same time ([BlocksAt]), all with the same
// lines.
package linereader

import (
	"bufio"
	"errors"
	"io"
)

// DefaultMaxLine is the longest line kept whole; the rest of a longer line
// is discarded (and counted) rather than buffered.
const DefaultMaxLine = 64 << 10

// Reader reads lines from an io.Reader. The zero value is not usable; call
// [New].
type Reader struct {
	r         *bufio.Reader
	max       int
	long      []byte // reassembly buffer for lines longer than the bufio buffer
	truncated int
	n         int64 // bytes consumed
}

// New returns a Reader over r with a buffer of bufSize bytes that keeps at
// most maxLine bytes of each line (DefaultMaxLine when maxLine <= 0).
func New(r io.Reader, bufSize, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	if bufSize <= 0 {
		bufSize = 256 << 10
	}
	return &Reader{r: bufio.NewReaderSize(r, bufSize), max: maxLine}
}

// Next returns the next line without its "\n" or "\r\n". The slice is valid
// until the next call. At the end of the stream it returns io.EOF; a final
// line without a newline is returned first.
func (r *Reader) Next() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	r.n += int64(len(line))
	if err == nil {
		return r.clip(line), nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return r.nextLong(line)
	}
	if len(line) > 0 && errors.Is(err, io.EOF) {
		return r.clip(line), nil
	}
	return nil, err
}

// nextLong assembles a line that did not fit the buffer, keeping at most
// r.max bytes of it.
func (r *Reader) nextLong(first []byte) ([]byte, error) {
	r.long = append(r.long[:0], first[:min(len(first), r.max)]...)
	dropped := len(first) > r.max
	for {
		part, err := r.r.ReadSlice('\n')
		r.n += int64(len(part))
		if room := r.max - len(r.long); room > 0 {
			r.long = append(r.long, part[:min(len(part), room)]...)
			dropped = dropped || len(part) > room
		} else if len(part) > 0 {
			dropped = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if dropped {
			r.truncated++
		}
		if err != nil && len(r.long) == 0 {
			return nil, err
		}
		return trim(r.long), nil
	}
}

// clip is Reader's treatment of a line read with its newline: cut to the
// maximum length, counted in r.truncated if it was.
func (r *Reader) clip(line []byte) []byte {
	line, cut := clip(line, r.max)
	if cut {
		r.truncated++
	}
	return line
}

// Truncated returns how many lines were cut to the maximum length.
func (r *Reader) Truncated() int { return r.truncated }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.n }

// clip cuts a line read with its newline to limit bytes, reporting
// whether it did, and then trims it; all the readers treat lines so.
func clip(line []byte, limit int) ([]byte, bool) {
	cut := len(line) > limit
	if cut {
		line = line[:limit]
	}
	return trim(line), cut
}

// trim drops a final "\n", then a final "\r".
func trim(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

package linereader

import (
	"bytes"
	"errors"
	"io"
)

// Blocks reads a stream in blocks of whole lines, for a reader that hands
// lines to other goroutines: each block is read straight into a buffer the
// caller owns until it is done with the lines, so lines are neither copied
// nor allocated one by one. The lines and the count of truncated lines are
// those Reader gives for the same stream.
type Blocks struct {
	r   io.Reader
	max int
	// pending is the start of a line the last block ended in.
	pending []byte
	// skipping is set while the rest of a line longer than a block is
	// discarded.
	skipping  bool
	err       error
	truncated int
}

// maxEmptyReads is how many reads in a row may return nothing before the
// stream is taken to be broken (as bufio does).
const maxEmptyReads = 100

// NewBlocks returns a Blocks over r that keeps at most maxLine bytes of
// each line (DefaultMaxLine when maxLine <= 0).
func NewBlocks(r io.Reader, maxLine int) *Blocks {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Blocks{r: r, max: maxLine}
}

// MinBlock is the least buffer capacity Next works with for lines of at
// most maxLine bytes (DefaultMaxLine when maxLine <= 0); Next grows smaller
// buffers to it.
func MinBlock(maxLine int) int {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return 2 * (maxLine + 1)
}

// Next reads the next lines into buf, reusing its capacity, and appends
// them to lines[:0], without their "\n" or "\r\n" and cut to the maximum
// length. It returns the buffer, which the lines point into, and the
// lines. At the end of the stream it returns io.EOF and no lines; a final
// line without a newline comes first.
func (b *Blocks) Next(buf []byte, lines [][]byte) ([]byte, [][]byte, error) {
	lines = lines[:0]
	if c := MinBlock(b.max); cap(buf) < c {
		buf = make([]byte, 0, c)
	}
	buf = append(buf[:0], b.pending...)
	b.pending = b.pending[:0]
	for len(lines) == 0 {
		if b.err != nil && len(buf) == 0 {
			if errors.Is(b.err, io.EOF) {
				return buf, lines, io.EOF
			}
			return buf, lines, b.err
		}
		buf = b.fill(buf)
		lines = b.split(buf, lines)
	}
	return buf, lines, nil
}

// fill reads into buf until it is full or the stream ends, dropping the
// rest of an overlong line first.
func (b *Blocks) fill(buf []byte) []byte {
	for empty := 0; len(buf) < cap(buf) && b.err == nil; {
		n, err := b.r.Read(buf[len(buf):cap(buf)])
		if n < 0 || n > cap(buf)-len(buf) {
			b.err = errors.New("linereader: reader returned an invalid count")
			break
		}
		read := buf[len(buf) : len(buf)+n]
		b.err = err
		if n == 0 && err == nil {
			if empty++; empty == maxEmptyReads {
				b.err = io.ErrNoProgress
			}
			continue
		}
		empty = 0
		if b.skipping {
			i := bytes.IndexByte(read, '\n')
			if i < 0 {
				continue
			}
			b.skipping = false
			n = copy(read, read[i+1:])
		}
		buf = buf[:len(buf)+n]
	}
	return buf
}

// split appends the lines of buf to lines and keeps what follows the last
// newline for the next block, unless the stream has ended.
func (b *Blocks) split(buf []byte, lines [][]byte) [][]byte {
	start := 0
	for {
		i := bytes.IndexByte(buf[start:], '\n')
		if i < 0 {
			break
		}
		lines = append(lines, b.clip(buf[start:start+i+1]))
		start += i + 1
	}
	rest := buf[start:]
	switch {
	case len(rest) == 0:
	case errors.Is(b.err, io.EOF):
		lines = append(lines, b.clip(rest))
	case b.err != nil:
		// As Reader does, a line cut short by a read error is lost.
	case len(rest) > b.max:
		// The line is longer than a block can hold: keep what the
		// maximum allows and drop the rest up to its newline.
		lines = append(lines, b.clip(rest))
		b.skipping = true
	default:
		b.pending = append(b.pending, rest...)
	}
	return lines
}

// clip is Reader's treatment of a line read with its newline.
func (b *Blocks) clip(line []byte) []byte {
	line, cut := clip(line, b.max)
	if cut {
		b.truncated++
	}
	return line
}

// Truncated returns how many lines were cut to the maximum length.
func (b *Blocks) Truncated() int { return b.truncated }

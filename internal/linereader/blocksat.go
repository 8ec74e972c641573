package linereader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// DefaultBlockSize is the size of the blocks [BlocksAt] cuts a file into
// when it is given none.
const DefaultBlockSize = 256 << 10

// lookahead is how far past its block the first read of a block reaches,
// so that the line the block ends in usually comes with the same read.
const lookahead = 4 << 10

// BlocksAt reads a file of known size in numbered blocks of lines that
// goroutines read at the same time, each into a buffer of its own: no
// block depends on another having been read, so reading and splitting the
// file take no lock. Block k holds the lines that start in the k-th
// blockSize bytes of the file (a line starts at offset 0 and after each
// "\n"); its reader looks at the byte before the block to tell whether a
// line starts on its first byte, skips the line it lands in the middle
// of, and reads past the block's end to finish its last line. Taken in
// order, the blocks' lines and the count of truncated lines are those
// [Reader] and [Blocks] give for the same bytes.
//
// BlocksAt reads the size bytes it was given and no more: bytes appended
// to the file after it was made are not read, unlike with [Blocks], which
// reads until the end of the stream, and the blocks a file that shrinks
// no longer holds are errors (io.ErrUnexpectedEOF).
type BlocksAt struct {
	r     io.ReaderAt
	size  int64
	block int64
	max   int
	// truncated is shared by the goroutines reading blocks; it changes
	// only for blocks that cut a line.
	truncated atomic.Int64
}

// NewBlocksAt returns a BlocksAt over the first size bytes of r, in blocks
// of blockSize bytes (DefaultBlockSize when blockSize <= 0), that keeps at
// most maxLine bytes of each line (DefaultMaxLine when maxLine <= 0).
func NewBlocksAt(r io.ReaderAt, size int64, blockSize, maxLine int) *BlocksAt {
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &BlocksAt{r: r, size: max(size, 0), block: int64(blockSize), max: maxLine}
}

// Len returns the number of blocks: Block returns io.EOF for block
// numbers from Len on.
func (b *BlocksAt) Len() int64 {
	return (b.size + b.block - 1) / b.block
}

// BufferSize is the buffer capacity Block works with: the byte before the
// block, the block, and the longest line the block can end in, or the
// whole file if it is smaller. Block grows smaller buffers to it.
func (b *BlocksAt) BufferSize() int {
	return int(min(1+b.block+int64(b.max), b.size))
}

// Block reads block k into buf, reusing its capacity, and appends its
// lines to lines[:0], without their "\n" or "\r\n" and cut to the maximum
// length. It returns the buffer, which the lines point into, and the
// lines; a block inside a line longer than the block has none. Past the
// last block it returns io.EOF, and on a read error no lines. Block may be
// called from several goroutines at once, each with its own buffer and
// lines.
func (b *BlocksAt) Block(k int64, buf []byte, lines [][]byte) ([]byte, [][]byte, error) {
	lines = lines[:0]
	if k < 0 || k >= b.Len() {
		return buf[:0], lines, io.EOF
	}
	if c := b.BufferSize(); cap(buf) < c {
		buf = make([]byte, 0, c)
	}
	start := k * b.block
	end := min(start+b.block, b.size)
	from := max(start-1, 0)
	buf, err := b.readAt(buf[:0], from, min(end+int64(min(lookahead, b.max)), b.size))
	if err != nil {
		return buf, lines, err
	}
	// Offsets from here on are in buf, which starts at from. The block's
	// lines are those that start before last.
	s, last := 0, int(end-from)
	if start > 0 {
		i := bytes.IndexByte(buf[:last-1], '\n')
		if i < 0 {
			return buf, lines, nil
		}
		s = i + 1
	}
	cut := 0
	for s < last {
		i := bytes.IndexByte(buf[s:], '\n')
		if i < 0 {
			// The line runs past what was read: read on as far as
			// the maximum length needs to tell whether it is cut.
			read := len(buf)
			if to := min(from+int64(s+b.max+1), b.size); to > from+int64(read) {
				if buf, err = b.readAt(buf, from+int64(read), to); err != nil {
					return buf, lines[:0], err
				}
			}
			if i = bytes.IndexByte(buf[read:], '\n'); i >= 0 {
				i += read - s
			}
		}
		line := buf[s:]
		if i >= 0 {
			line = buf[s : s+i+1]
		}
		line, c := clip(line, b.max)
		if c {
			cut++
		}
		lines = append(lines, line)
		if i < 0 {
			break
		}
		s += i + 1
	}
	if cut > 0 {
		b.truncated.Add(int64(cut))
	}
	return buf, lines, nil
}

// readAt appends the bytes of the file from off up to to to buf, which has
// room for them.
func (b *BlocksAt) readAt(buf []byte, off, to int64) ([]byte, error) {
	n := len(buf)
	want := int(to - off)
	got, err := b.r.ReadAt(buf[n:n+want], off)
	if got == want {
		// A ReaderAt may report io.EOF with the last bytes.
		return buf[:n+want], nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the file shrank below its size
	}
	return buf[:n], fmt.Errorf("linereader: reading bytes %d to %d: %w", off, to, err)
}

// Truncated returns how many lines were cut to the maximum length in the
// blocks read so far.
func (b *BlocksAt) Truncated() int { return int(b.truncated.Load()) }

package file

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"syscall"
)

// Position is how far a file was read: resuming at Offset continues with
// the line after the last one delivered. It is what the store persists.
type Position struct {
	Path  string
	Inode uint64
	// Offset is the end of the last line handed to the callback.
	Offset int64
	// FirstLineHash is the hex MD5 of the file's first line including its
	// newline, as fail2ban stores it, or "" while that line is incomplete.
	FirstLineHash string
}

// prefixMax bounds the bytes of the first line kept to notice a file
// rewritten in place.
const prefixMax = 4 << 10

// firstLine hashes a file's first line incrementally, so that a huge or
// still-growing first line is read only once.
type firstLine struct {
	md5 hash.Hash
	// n is how many bytes of the line have been hashed.
	n    int64
	done bool
	sum  string // hex MD5, set when done
	// prefix is the first bytes of the file (of the first line), at most
	// prefixMax.
	prefix []byte
}

// update hashes the first line of f from where it stopped, reading no
// further than size, with buf as scratch space.
func (h *firstLine) update(f *os.File, size int64, buf []byte) error {
	if h.md5 == nil {
		h.md5 = md5.New()
	}
	for !h.done && h.n < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-h.n)], h.n)
		chunk := buf[:n]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
			h.done = true
		}
		h.md5.Write(chunk)
		if room := prefixMax - len(h.prefix); room > 0 {
			h.prefix = append(h.prefix, chunk[:min(room, len(chunk))]...)
		}
		h.n += int64(len(chunk))
		if h.done {
			h.sum = hex.EncodeToString(h.md5.Sum(nil))
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("hash first line of %s: %w", f.Name(), err)
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// rewritten reports whether the start of f no longer holds the first line
// seen before, which means the file was truncated and written again between
// two looks.
func (h *firstLine) rewritten(f *os.File, buf []byte) (bool, error) {
	if len(h.prefix) == 0 {
		return false, nil
	}
	n, err := f.ReadAt(buf[:len(h.prefix)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read start of %s: %w", f.Name(), err)
	}
	return !bytes.Equal(buf[:n], h.prefix), nil
}

// hashFile returns the hex MD5 of f's first line, or "" if that line is
// incomplete.
func hashFile(f *os.File, size int64, buf []byte) (string, error) {
	var h firstLine
	err := h.update(f, size, buf)
	return h.sum, err
}

// fileID identifies a file independently of its name.
type fileID struct {
	dev, ino uint64
}

func idOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// tailStart returns where "tail" mode starts reading f: at the start of its
// last, unterminated line, so that this line is delivered whole once it
// ends, or at the end when that line is longer than maxLine.
func tailStart(f *os.File, size int64, maxLine int, buf []byte) (int64, error) {
	n := min(size, int64(maxLine)+1, int64(len(buf)))
	from := size - n
	got, err := f.ReadAt(buf[:n], from)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read end of %s: %w", f.Name(), err)
	}
	if i := bytes.LastIndexByte(buf[:got], '\n'); i >= 0 {
		return from + int64(i) + 1, nil
	}
	if from == 0 {
		return 0, nil
	}
	return size, nil
}

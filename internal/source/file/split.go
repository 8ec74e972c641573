package file

import "bytes"

// splitter cuts a byte stream, fed in arbitrary chunks, into complete
// "\n"-terminated lines. A line is handed out straight from the fed chunk
// when it lies within it; only the unterminated tail of a chunk is copied,
// and never more than maxLine bytes of it, so a line without end costs bounded
// memory.
type splitter struct {
	maxLine int
	// partial holds the start of a line whose newline has not been fed
	// yet, at most maxLine bytes.
	partial []byte
	// spare is partial's other buffer: a line completed from partial is
	// handed out from it while the chunk's own unterminated tail fills
	// the other, so that every line of one feed stays intact until the
	// next.
	spare []byte
	// overlong is set when the line in partial has more than maxLine bytes;
	// the excess is dropped.
	overlong bool
	// off is the stream offset of the next byte to be fed.
	off int64
	// truncated counts the lines cut to maxLine bytes.
	truncated uint64
}

// reset starts a new stream at offset off, forgetting any partial line.
func (s *splitter) reset(off int64) {
	s.partial = s.partial[:0]
	s.overlong = false
	s.off = off
}

// pending reports whether bytes of an unterminated line are held.
func (s *splitter) pending() bool { return len(s.partial) > 0 || s.overlong }

// feed splits data, the bytes following those fed before, and calls emit
// for each line it completes with the line's text (without "\n" or "\r\n",
// cut to maxLine bytes) and the stream offset just past its newline. The text
// lies in data or in the splitter's memory, and is valid until data changes
// or feed is called again.
func (s *splitter) feed(data []byte, emit func(text []byte, end int64)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.hold(data)
			s.off += int64(len(data))
			return
		}
		line := data[:i]
		if s.pending() {
			s.hold(line)
			line = s.partial
			s.partial, s.spare = s.spare, s.partial
		}
		s.off += int64(i + 1)
		if s.overlong || len(line) > s.maxLine {
			s.truncated++
			line = line[:min(len(line), s.maxLine)]
		} else if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		emit(line, s.off)
		s.partial = s.partial[:0]
		s.overlong = false
		data = data[i+1:]
	}
}

// hold keeps what fits of b in partial.
func (s *splitter) hold(b []byte) {
	room := s.maxLine - len(s.partial)
	if len(b) > room {
		b = b[:room]
		s.overlong = true
	}
	s.partial = append(s.partial, b...)
}

package journal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The journal fields a line is made of.
const (
	fieldHostname = iota
	fieldIdentifier
	fieldComm
	fieldSyslogPID
	fieldPID
	fieldMessage
	fieldSourceRealtime
	fieldRealtime
	fieldSourceMonotonic
	fieldMonotonic
	fieldCursor
	numFields
)

// outputFields asks journalctl for the fields a line is made of;
// __CURSOR, __REALTIME_TIMESTAMP and __MONOTONIC_TIMESTAMP always come.
const outputFields = "_HOSTNAME,SYSLOG_IDENTIFIER,_COMM,SYSLOG_PID,_PID,MESSAGE,_SOURCE_REALTIME_TIMESTAMP,_SOURCE_MONOTONIC_TIMESTAMP"

func fieldIndex(name []byte) int {
	switch string(name) {
	case "_HOSTNAME":
		return fieldHostname
	case "SYSLOG_IDENTIFIER":
		return fieldIdentifier
	case "_COMM":
		return fieldComm
	case "SYSLOG_PID":
		return fieldSyslogPID
	case "_PID":
		return fieldPID
	case "MESSAGE":
		return fieldMessage
	case "_SOURCE_REALTIME_TIMESTAMP":
		return fieldSourceRealtime
	case "__REALTIME_TIMESTAMP":
		return fieldRealtime
	case "_SOURCE_MONOTONIC_TIMESTAMP":
		return fieldSourceMonotonic
	case "__MONOTONIC_TIMESTAMP":
		return fieldMonotonic
	case "__CURSOR":
		return fieldCursor
	}
	return -1
}

// entry is one journal entry, decoded from a line of `journalctl -o json`.
// Only the fields a line is made of are kept. The zero value is ready to
// use, and reusing an entry allocates nothing once its buffer has grown.
type entry struct {
	buf    []byte // decoded values
	fields [numFields]span
}

// span locates a field's value in entry.buf.
type span struct {
	start, end int
	set        bool
}

func (e *entry) field(i int) []byte {
	s := e.fields[i]
	if !s.set {
		return nil
	}
	return e.buf[s.start:s.end]
}

var errSyntax = errors.New("malformed JSON")

// parse decodes data, one JSON object as journalctl writes it. A field's
// value is a string; an array of byte values when it is not valid UTF-8;
// or, for a field set more than once in the entry, an array of such
// values, kept joined by spaces as fail2ban joins MESSAGE. Other values of
// the kept fields are errors; the other fields are only checked to be
// valid JSON.
func (e *entry) parse(data []byte) error {
	e.buf = e.buf[:0]
	e.fields = [numFields]span{}
	d := decoder{data: data}
	d.space()
	if !d.consume('{') {
		return d.fail("want an object")
	}
	d.space()
	if d.consume('}') {
		return d.finish()
	}
	for {
		d.space()
		start := len(e.buf)
		var err error
		if e.buf, err = d.str(e.buf, true); err != nil {
			return err
		}
		field := fieldIndex(e.buf[start:])
		e.buf = e.buf[:start]
		d.space()
		if !d.consume(':') {
			return d.fail("want ':'")
		}
		d.space()
		if field < 0 {
			err = d.skip(0)
		} else {
			err = e.value(&d, field)
		}
		if err != nil {
			return err
		}
		d.space()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return d.finish()
		}
		return d.fail("want ',' or '}'")
	}
}

// value decodes the value of a kept field.
func (e *entry) value(d *decoder, field int) error {
	start := len(e.buf)
	var err error
	switch d.peek() {
	case '"':
		e.buf, err = d.str(e.buf, true)
	case 'n':
		if err = d.literal("null"); err == nil {
			e.fields[field] = span{}
			return nil
		}
	case '[':
		e.buf, err = d.values(e.buf)
	default:
		return d.fail("want a string, an array or null")
	}
	if err != nil {
		return err
	}
	e.fields[field] = span{start: start, end: len(e.buf), set: true}
	return nil
}

// decoder reads JSON from data, validating it.
type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, d.pos, what)
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) finish() error {
	d.space()
	if d.pos != len(d.data) {
		return d.fail("data after the object")
	}
	return nil
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.fail("invalid literal")
	}
	d.pos += len(word)
	return nil
}

// maxDepth bounds the nesting of skipped values.
const maxDepth = 100

// skip validates and passes over one value.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return d.fail("nested too deeply")
	}
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str(nil, false)
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, err := d.number()
		return err
	case c == '[' || c == '{':
		d.pos++
		end := byte(']')
		if c == '{' {
			end = '}'
		}
		d.space()
		if d.consume(end) {
			return nil
		}
		for {
			d.space()
			if c == '{' {
				if _, err := d.str(nil, false); err != nil {
					return err
				}
				d.space()
				if !d.consume(':') {
					return d.fail("want ':'")
				}
				d.space()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.space()
			if d.consume(end) {
				return nil
			}
			if !d.consume(',') {
				return d.fail("want ',' or the end of a list")
			}
		}
	}
	return d.fail("want a value")
}

// number passes over a JSON number and returns its text.
func (d *decoder) number() ([]byte, error) {
	start := d.pos
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.digits() == 0:
		return nil, d.fail("invalid number")
	}
	if d.consume('.') && d.digits() == 0 {
		return nil, d.fail("invalid number")
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if d.digits() == 0 {
			return nil, d.fail("invalid number")
		}
	}
	return d.data[start:d.pos], nil
}

func (d *decoder) digits() int {
	n := 0
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
		n++
	}
	return n
}

// values appends the value of an array: the bytes of an array of byte
// values, or the values of an array of strings and byte arrays joined by
// spaces.
func (d *decoder) values(dst []byte) ([]byte, error) {
	d.pos++ // '['
	d.space()
	if d.consume(']') {
		return dst, nil
	}
	bytesArray := d.peek() == '-' || d.peek() >= '0' && d.peek() <= '9'
	for first := true; ; first = false {
		d.space()
		var err error
		switch {
		case bytesArray:
			dst, err = d.byteValue(dst)
		case d.peek() == '"':
			if !first {
				dst = append(dst, ' ')
			}
			dst, err = d.str(dst, true)
		case d.peek() == '[':
			if !first {
				dst = append(dst, ' ')
			}
			dst, err = d.byteArray(dst)
		default:
			err = d.fail("want a string or a byte array")
		}
		if err != nil {
			return dst, err
		}
		d.space()
		if d.consume(']') {
			return dst, nil
		}
		if !d.consume(',') {
			return dst, d.fail("want ',' or ']'")
		}
	}
}

// byteArray appends the bytes of an array of byte values.
func (d *decoder) byteArray(dst []byte) ([]byte, error) {
	d.pos++ // '['
	d.space()
	if d.consume(']') {
		return dst, nil
	}
	for {
		d.space()
		var err error
		if dst, err = d.byteValue(dst); err != nil {
			return dst, err
		}
		d.space()
		if d.consume(']') {
			return dst, nil
		}
		if !d.consume(',') {
			return dst, d.fail("want ',' or ']'")
		}
	}
}

func (d *decoder) byteValue(dst []byte) ([]byte, error) {
	start := d.pos
	text, err := d.number()
	if err != nil {
		return dst, err
	}
	n, err := strconv.ParseUint(string(text), 10, 8)
	if err != nil {
		d.pos = start
		return dst, d.fail("want a byte value (0 to 255)")
	}
	return append(dst, byte(n)), nil
}

// str passes over the JSON string at the decoder's position and, if keep
// is set, appends its decoded text to dst. Invalid UTF-8 is kept as it
// is; unpaired surrogate escapes become U+FFFD, as with encoding/json.
func (d *decoder) str(dst []byte, keep bool) ([]byte, error) {
	if !d.consume('"') {
		return dst, d.fail("want a string")
	}
	for {
		start := d.pos
		for d.pos < len(d.data) {
			c := d.data[d.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			d.pos++
		}
		if keep {
			dst = append(dst, d.data[start:d.pos]...)
		}
		if d.pos == len(d.data) {
			return dst, d.fail("unterminated string")
		}
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			return dst, nil
		case c < 0x20:
			return dst, d.fail("control character in string")
		}
		r, err := d.escape()
		if err != nil {
			return dst, err
		}
		if keep {
			dst = utf8.AppendRune(dst, r)
		}
	}
}

// escape reads the backslash escape at the decoder's position.
func (d *decoder) escape() (rune, error) {
	d.pos++ // '\\'
	if d.pos == len(d.data) {
		return 0, d.fail("unterminated string")
	}
	esc := d.data[d.pos]
	d.pos++
	switch esc {
	case '"', '\\', '/':
		return rune(esc), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := d.hex4()
		if !ok {
			return 0, d.fail("invalid \\u escape")
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		// Only a surrogate pair makes a character; like encoding/json,
		// turn anything else into U+FFFD and read a second escape that
		// is no pair on its own.
		save := d.pos
		if d.consume('\\') && d.consume('u') {
			if lo, ok := d.hex4(); ok {
				if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
					return pair, nil
				}
			}
		}
		d.pos = save
		return utf8.RuneError, nil
	}
	d.pos--
	return 0, d.fail("invalid escape")
}

// hex4 reads the four hex digits of a \u escape.
func (d *decoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// appendLine appends the entry as fail2ban's FilterSystemd formats it:
// "HOSTNAME IDENT[PID]: MESSAGE", each part present only when its field
// is, the identifier falling back to _COMM and SYSLOG_PID to _PID, with
// the kernel's monotonic time after "kernel:", and newlines escaped as
// "\n".
func (e *entry) appendLine(dst []byte) []byte {
	start := len(dst)
	// Every part but the message, which is always there, is followed by
	// the space that joins it to the next.
	if host := e.field(fieldHostname); len(host) > 0 {
		dst = append(dst, host...)
		dst = append(dst, ' ')
	}
	ident := e.field(fieldIdentifier)
	if len(ident) == 0 {
		ident = e.field(fieldComm)
	}
	if len(ident) > 0 {
		dst = append(dst, ident...)
		pid := e.field(fieldSyslogPID)
		if pidFalse(pid) {
			pid = e.field(fieldPID)
		}
		hasPID := !pidFalse(pid)
		if hasPID {
			dst = append(dst, '[')
			dst = appendPID(dst, pid)
			dst = append(dst, ']')
		}
		dst = append(dst, ':', ' ')
		if mono, ok := e.monotonic(); ok && !hasPID && string(ident) == "kernel" {
			dst = appendSeconds(dst, mono)
			dst = append(dst, ' ')
		}
	}
	dst = append(dst, e.field(fieldMessage)...)
	return escapeNewlines(dst, start)
}

// pidFalse reports whether a PID field counts as absent for fail2ban:
// python-systemd makes it an int, and 0 is false.
func pidFalse(pid []byte) bool {
	if len(pid) == 0 {
		return true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(pid)), 10, 64)
	return err == nil && n == 0
}

// appendPID appends pid as Python's "%i" formats the integer
// python-systemd converts it to, or as it is when it is no integer.
func appendPID(dst, pid []byte) []byte {
	s := strings.TrimSpace(string(pid))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && len(s) > 2 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1])) {
		n, err = strconv.ParseInt(s, 0, 64)
	}
	if err != nil {
		return append(dst, pid...)
	}
	return strconv.AppendInt(dst, n, 10)
}

// monotonic returns the entry's monotonic time in microseconds.
func (e *entry) monotonic() (uint64, bool) {
	v := e.field(fieldSourceMonotonic)
	if v == nil {
		v = e.field(fieldMonotonic)
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	return n, err == nil
}

// appendSeconds appends usec microseconds as Python's "[%12.6f]" formats
// the seconds.
func appendSeconds(dst []byte, usec uint64) []byte {
	var num [32]byte
	b := strconv.AppendUint(num[:0], usec/1e6, 10)
	b = append(b, '.')
	frac := strconv.AppendUint(nil, usec%1e6+1e6, 10) // leading 1 keeps the zeros
	b = append(b, frac[1:]...)
	dst = append(dst, '[')
	for range 12 - len(b) {
		dst = append(dst, ' ')
	}
	dst = append(dst, b...)
	return append(dst, ']')
}

// escapeNewlines replaces each "\n" in dst[start:] with `\n`.
func escapeNewlines(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		if c == '\n' {
			n++
		}
	}
	if n == 0 {
		return dst
	}
	end := len(dst)
	dst = append(dst, make([]byte, n)...)
	// Move from the back so that no byte is overwritten before it moves.
	w := len(dst)
	for r := end - 1; r >= start; r-- {
		if dst[r] == '\n' {
			w -= 2
			dst[w], dst[w+1] = '\\', 'n'
		} else {
			w--
			dst[w] = dst[r]
		}
	}
	return dst
}

// time returns the entry's time: when the message was logged if the
// journal knows it, else when the journal received it; zero if neither is
// given.
func (e *entry) time() time.Time {
	v := e.field(fieldSourceRealtime)
	if v == nil {
		v = e.field(fieldRealtime)
	}
	usec, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMicro(usec)
}

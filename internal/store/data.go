package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The JSON columns hold log lines, and restoring or reporting on many bans
// means decoding hundreds of thousands of them: encoding/json, reflecting
// over every value, took longer than all of SQLite's work. So the compact
// form this package writes is decoded by hand, and only anything else (a
// row edited by hand, an escape the fast path does not handle) goes through
// encoding/json. Both give the same result; FuzzDecodeMatches and
// FuzzDecodeFields check it.

// encodeJSON returns v in compact JSON, without the HTML escaping of <, >
// and & that encoding/json does by default: log lines are full of them.
func encodeJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// encodeMatches and encodeFields write the matches and fields columns,
// which are never NULL.
func encodeMatches(m []string) (string, error) {
	if len(m) == 0 {
		return "[]", nil
	}
	return encodeJSON(m)
}

func encodeFields(f map[string]string) (string, error) {
	if len(f) == 0 {
		return "{}", nil
	}
	return encodeJSON(f)
}

// decodeMatches and decodeFields read the matches and fields columns. An
// empty array or object reads as nil.
func decodeMatches(b []byte) ([]string, error) {
	if string(b) == "[]" {
		return nil, nil
	}
	if m, rest, ok := parseStringArray(b); ok && len(rest) == 0 {
		return m, nil
	}
	var m []string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func decodeFields(b []byte) (map[string]string, error) {
	if string(b) == "{}" {
		return nil, nil
	}
	if f, rest, ok := parseStringObject(b); ok && len(rest) == 0 {
		return f, nil
	}
	var f map[string]string
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if len(f) == 0 {
		return nil, nil
	}
	return f, nil
}

// parseStringArray parses a compact JSON array of strings at the start of b
// and returns the rest of b.
func parseStringArray(b []byte) (out []string, rest []byte, ok bool) {
	if b, ok = bytes.CutPrefix(b, []byte("[")); !ok {
		return nil, nil, false
	}
	if rest, found := bytes.CutPrefix(b, []byte("]")); found {
		return []string{}, rest, true
	}
	// Each separator between strings reads `","`; counting them, in the
	// strings too, overestimates the length a little and saves regrowing.
	out = make([]string, 0, 1+bytes.Count(b, []byte(`","`)))
	for {
		var s string
		if s, b, ok = parseString(b); !ok {
			return nil, nil, false
		}
		out = append(out, s)
		if len(b) == 0 {
			return nil, nil, false
		}
		switch b[0] {
		case ',':
			b = b[1:]
		case ']':
			return out, b[1:], true
		default:
			return nil, nil, false
		}
	}
}

// parseStringObject parses a compact JSON object of string values at the
// start of b and returns the rest of b.
func parseStringObject(b []byte) (out map[string]string, rest []byte, ok bool) {
	if b, ok = bytes.CutPrefix(b, []byte("{")); !ok {
		return nil, nil, false
	}
	out = map[string]string{}
	if rest, found := bytes.CutPrefix(b, []byte("}")); found {
		return out, rest, true
	}
	for {
		var k, v string
		if k, b, ok = parseString(b); !ok {
			return nil, nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(":")); !ok {
			return nil, nil, false
		}
		if v, b, ok = parseString(b); !ok {
			return nil, nil, false
		}
		out[k] = v
		if len(b) == 0 {
			return nil, nil, false
		}
		switch b[0] {
		case ',':
			b = b[1:]
		case '}':
			return out, b[1:], true
		default:
			return nil, nil, false
		}
	}
}

// parseString parses a JSON string at the start of b and returns the rest
// of b. It handles the two-character escapes; \u escapes, which
// encodeJSON writes only for control characters and U+2028/U+2029, and
// invalid UTF-8, which encoding/json replaces, make it report false.
func parseString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	b = b[1:]
	end := bytes.IndexAny(b, "\"\\")
	if end >= 0 && b[end] == '"' {
		raw := b[:end]
		if !plain(raw) {
			return "", nil, false
		}
		return string(raw), b[end+1:], true
	}
	// Find the closing quote first, so the unescaped string is built in
	// one allocation.
	n := 0
	for i := end; ; {
		if i < 0 {
			return "", nil, false
		}
		if b[i] == '"' {
			n = i
			break
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		j := bytes.IndexAny(b[i+2:], "\"\\")
		if j < 0 {
			return "", nil, false
		}
		i += 2 + j
	}
	var buf strings.Builder
	buf.Grow(n)
	for {
		i := bytes.IndexAny(b, "\"\\")
		if !plain(b[:i]) {
			return "", nil, false
		}
		buf.Write(b[:i])
		if b[i] == '"' {
			return buf.String(), b[i+1:], true
		}
		c := b[i+1]
		switch c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return "", nil, false
		}
		buf.WriteByte(c)
		b = b[i+2:]
	}
}

// plain reports whether raw can appear unescaped in a JSON string and
// decodes to itself: valid UTF-8 without control characters.
func plain(raw []byte) bool {
	for _, c := range raw {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(raw)
}

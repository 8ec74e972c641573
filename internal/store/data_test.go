package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// trickyLines are match lines that need escaping, or look as if they do.
var trickyLines = []string{
	"",
	`plain ascii line`,
	`nginx: 192.0.2.1 - - "GET /a?b=1&c=<2> HTTP/1.1" 404`,
	`back\slash and "quotes" and /slashes/`,
	"tab\there, newline\nthere, return\r, formfeed\f, backspace\b",
	"control \x00\x01\x1f and del \x7f",
	"unicode: Grüße, 日本語, emoji 🙂, separators \u2028 \u2029",
	"invalid utf-8: \xff\xfe end",
	`trailing backslash \`,
}

func TestJSONRoundTrip(t *testing.T) {
	for _, line := range trickyLines {
		matches := []string{line, "x" + line}
		fields := map[string]string{line: line, "k": "v"}
		mjs, err := encodeMatches(matches)
		if err != nil {
			t.Fatal(err)
		}
		fjs, err := encodeFields(fields)
		if err != nil {
			t.Fatal(err)
		}
		// The reference is what encoding/json decodes: it turns invalid
		// UTF-8 into U+FFFD on the way in.
		var wantMatches []string
		var wantFields map[string]string
		if err := json.Unmarshal([]byte(mjs), &wantMatches); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(fjs), &wantFields); err != nil {
			t.Fatal(err)
		}
		if got, err := decodeMatches([]byte(mjs)); err != nil || !reflect.DeepEqual(got, wantMatches) {
			t.Errorf("decodeMatches(%s) = %#v, %v; want %#v", mjs, got, err, wantMatches)
		}
		if got, err := decodeFields([]byte(fjs)); err != nil || !reflect.DeepEqual(got, wantFields) {
			t.Errorf("decodeFields(%s) = %#v, %v; want %#v", fjs, got, err, wantFields)
		}
	}
}

func TestEncodeEmpty(t *testing.T) {
	for _, c := range []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) { return encodeMatches(nil) }, "[]"},
		{func() (string, error) { return encodeMatches([]string{}) }, "[]"},
		{func() (string, error) { return encodeFields(nil) }, "{}"},
		{func() (string, error) { return encodeFields(map[string]string{}) }, "{}"},
		{func() (string, error) { return encodeMatches([]string{"a<b>&c"}) }, `["a<b>&c"]`},
	} {
		if got, err := c.got(); err != nil || got != c.want {
			t.Errorf("got %s, %v; want %s", got, err, c.want)
		}
	}
}

// TestFastPathTakesWhatWeWrite guards the point of the hand-written
// decoder: what this package writes must not fall back to encoding/json.
func TestFastPathTakesWhatWeWrite(t *testing.T) {
	for _, line := range trickyLines[:5] {
		mjs, _ := encodeMatches([]string{line, line})
		if _, rest, ok := parseStringArray([]byte(mjs)); !ok || len(rest) > 0 {
			t.Errorf("parseStringArray(%s) fell back to encoding/json", mjs)
		}
		fjs, _ := encodeFields(map[string]string{"user": line, line: "v"})
		if _, rest, ok := parseStringObject([]byte(fjs)); !ok || len(rest) > 0 {
			t.Errorf("parseStringObject(%s) fell back to encoding/json", fjs)
		}
	}
}

// nilIfEmpty mirrors the decoders' reading of an empty array or object.
func nilIfEmpty[T any](v T) T {
	if reflect.ValueOf(v).Len() == 0 {
		var zero T
		return zero
	}
	return v
}

func FuzzDecodeMatches(f *testing.F) {
	for _, line := range trickyLines {
		js, err := encodeMatches([]string{line, line})
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(js))
	}
	for _, s := range []string{`[]`, `null`, `["a"] `, ` ["a"]`, `["a"`, `["a",]`, `{"a":"b"}`, `[1]`, `["\u00e9\ud83d\ude42"]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []string
		wantErr := json.Unmarshal(b, &want)
		got, err := decodeMatches(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decodeMatches(%q) error %v, encoding/json %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, nilIfEmpty(want)) {
			t.Fatalf("decodeMatches(%q) = %#v, encoding/json %#v", b, got, want)
		}
	})
}

func FuzzDecodeFields(f *testing.F) {
	for _, line := range trickyLines {
		js, err := encodeFields(map[string]string{"user": line, line: "v"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(js))
	}
	for _, s := range []string{`{}`, `null`, `{"a":"1","a":"2"}`, `{"a":1}`, `{"a":"b",}`, `{"a" :"b"}`, `{"a":"b"}x`, `["a"]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]string
		wantErr := json.Unmarshal(b, &want)
		got, err := decodeFields(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decodeFields(%q) error %v, encoding/json %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, nilIfEmpty(want)) {
			t.Fatalf("decodeFields(%q) = %#v, encoding/json %#v", b, got, want)
		}
	})
}

func TestParseString(t *testing.T) {
	for _, c := range []struct {
		in, want, rest string
		ok             bool
	}{
		{`"abc"`, "abc", "", true},
		{`"abc",1`, "abc", ",1", true},
		{`"a\"b"`, `a"b`, "", true},
		{`"\\"x`, `\`, "x", true},
		{`"\/\b\f\n\r\t"`, "/\b\f\n\r\t", "", true},
		{`""`, "", "", true},
		{`"\u0041"`, "", "", false}, // left to encoding/json
		{`"abc`, "", "", false},
		{`"a\"`, "", "", false},
		{`"a\`, "", "", false},
		{`"\x"`, "", "", false},
		{"\"tab\tinside\"", "", "", false},
		{"\"bad \xff\"", "", "", false},
		{`abc"`, "", "", false},
		{``, "", "", false},
	} {
		got, rest, ok := parseString([]byte(c.in))
		if got != c.want || string(rest) != c.rest || ok != c.ok {
			t.Errorf("parseString(%s) = %q, %q, %v; want %q, %q, %v", c.in, got, rest, ok, c.want, c.rest, c.ok)
		}
	}
}

package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestFormatGolden turns each entry of testdata/entries.jsonl into its
// line, time and cursor, compared with testdata/entries.golden.
func TestFormatGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "entries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var e entry
	sc := bufio.NewScanner(bytes.NewReader(in))
	for n := 1; sc.Scan(); n++ {
		if err := e.parse(sc.Bytes()); err != nil {
			t.Fatalf("entries.jsonl:%d: %v", n, err)
		}
		tm := "-"
		if ts := e.time(); !ts.IsZero() {
			tm = ts.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&out, "%s %s %q\n", e.field(fieldCursor), tm, e.appendLine(nil))
	}
	golden := filepath.Join("testdata", "entries.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []string{
		``,
		`[]`,
		`{`,
		`{"MESSAGE":"x"`,
		`{"MESSAGE":"x",}`,
		`{"MESSAGE" "x"}`,
		`{"MESSAGE":"x"} x`,
		`{"MESSAGE":"unterminated}`,
		`{"MESSAGE":"bad \q escape"}`,
		`{"MESSAGE":"bad \u12g4 escape"}`,
		"{\"MESSAGE\":\"raw\ttab\"}",
		`{"MESSAGE":1}`,
		`{"MESSAGE":true}`,
		`{"MESSAGE":{}}`,
		`{"MESSAGE":[256]}`,
		`{"MESSAGE":[1.5]}`,
		`{"MESSAGE":[1,"a"]}`,
		`{"MESSAGE":["a",1]}`,
		`{"MESSAGE":[[1,"a"]]}`,
		`{"OTHER":01}`,
		`{"OTHER":-}`,
		`{"OTHER":1.}`,
		`{"OTHER":1e}`,
		`{"OTHER":tru}`,
		`{"OTHER":[1,]}`,
		`{"OTHER":{"a" 1}}`,
		`{"OTHER":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	}
	var e entry
	for _, in := range tests {
		if err := e.parse([]byte(in)); err == nil {
			t.Errorf("parse(%q) succeeded", in)
		}
	}
}

// FuzzParse checks the decoder against encoding/json: both accept the same
// objects, and agree on the kept fields' values.
func FuzzParse(f *testing.F) {
	in, err := os.ReadFile(filepath.Join("testdata", "entries.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for line := range bytes.Lines(in) {
		f.Add(bytes.TrimSpace(line))
	}
	f.Add([]byte(`{"MESSAGE":"\ud800\udc00\udc00\ud800x"}`))
	f.Add([]byte(`{"MESSAGE":[[],[1],"",[]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e entry
		err := e.parse(data)
		want, wantErr := referenceFields(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("parse error %v, encoding/json error %v", err, wantErr)
		}
		if err != nil || !utf8.Valid(data) {
			return // encoding/json replaces invalid UTF-8, the decoder keeps it
		}
		for name, v := range want {
			i := fieldIndex([]byte(name))
			if got := e.field(i); e.fields[i].set != (v != nil) || string(got) != string(v) {
				t.Fatalf("%s: got %q (set %v), want %q", name, got, e.fields[i].set, v)
			}
		}
		e.appendLine(nil)
	})
}

// referenceFields decodes data with encoding/json and applies the
// decoder's rules to the kept fields: nil for null, an error for values
// the decoder rejects.
func referenceFields(data []byte) (map[string][]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not an object")
	}
	if err := nestingOK(data); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for name, v := range m {
		if fieldIndex([]byte(name)) < 0 {
			continue
		}
		b, err := referenceValue(v, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

func referenceValue(v any, top bool) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		if top {
			return nil, nil
		}
	case string:
		return []byte(v), nil
	case []any:
		if len(v) == 0 {
			return []byte{}, nil
		}
		if _, ok := v[0].(float64); ok {
			var b []byte
			for _, x := range v {
				n, ok := x.(float64)
				if !ok || n != float64(byte(n)) || n < 0 {
					return nil, fmt.Errorf("bad byte %v", x)
				}
				b = append(b, byte(n))
			}
			return b, nil
		}
		if !top {
			break
		}
		var parts [][]byte
		for _, x := range v {
			p, err := referenceValue(x, false)
			if err != nil {
				return nil, err
			}
			if _, isArray := x.([]any); !isArray {
				if _, isString := x.(string); !isString {
					return nil, fmt.Errorf("bad value %v", x)
				}
			}
			parts = append(parts, p)
		}
		return append([]byte{}, bytes.Join(parts, []byte(" "))...), nil
	}
	return nil, fmt.Errorf("bad value %v", v)
}

// nestingOK rejects what the decoder rejects beyond JSON: nesting deeper
// than maxDepth.
func nestingOK(data []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > maxDepth+1 {
				return fmt.Errorf("nested too deeply")
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

func BenchmarkParseFormat(b *testing.B) {
	line := []byte(`{"__CURSOR":"s=0a1b2c3d4e5f;i=1a2b3;b=0123456789abcdef0123456789abcdef;m=1f2e3d4c;t=61a2b3c4d5e6f;x=9c8b7a6f5e4d3c2b","__REALTIME_TIMESTAMP":"1715678402123456","__MONOTONIC_TIMESTAMP":"5123456","_BOOT_ID":"0123456789abcdef0123456789abcdef","_HOSTNAME":"rp1","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"4242","_PID":"4242","_COMM":"sshd","MESSAGE":"Failed password for invalid user admin from 198.51.100.23 port 52144 ssh2"}`)
	var e entry
	var text []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.parse(line); err != nil {
			b.Fatal(err)
		}
		text = e.appendLine(text[:0])
	}
}

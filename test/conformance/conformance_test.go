// Package conformance checks pinjail's filters against fail2ban's own
// filter test suite: every filter shipped in /etc/fail2ban/filter.d is read
// with pinjail's configuration loader, fed the annotated sample logs of the
// installed fail2ban package, and must find exactly what each failJSON
// annotation says, as fail2ban's tests/samplestestcase.py requires.
//
// The fail2ban files are GPL-2 and are only read, at test time, from the
// installed package; the test skips (or fails under PINJAIL_TEST_STRICT=1)
// when it is not installed.
package conformance

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/testenv"
)

// Where Debian's fail2ban package puts its configuration and its tests.
const (
	confDir     = "/etc/fail2ban"
	testsDir    = "/usr/lib/python3/dist-packages/fail2ban/tests"
	logsDir     = testsDir + "/files/logs"
	testConfDir = testsDir + "/config"
)

// The environment of fail2ban's tests (tests/utils.py): TZ and TEST_NOW,
// 2005-08-14 12:00:00 CEST.
const (
	testTZ  = "CET-01CEST-02,M3.5.0,M10.5.0"
	testNow = 1124013600
)

// directive matches the lines of a sample log that steer the test.
var directive = regexp.MustCompile(`^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$`)

func TestFail2banSamples(t *testing.T) {
	testenv.RequireFile(t, logsDir)
	testenv.RequireFile(t, filepath.Join(confDir, "filter.d"))
	loc, err := posixZone(testTZ)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(testNow, 0).In(loc)

	type source struct{ dir, name string }
	var filters []source
	shipped, err := filepath.Glob(filepath.Join(confDir, "filter.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range shipped {
		if !strings.HasSuffix(p, "common.conf") {
			filters = append(filters, source{confDir, strings.TrimSuffix(filepath.Base(p), ".conf")})
		}
	}
	testOnly := testFilterDir(t)
	if testOnly != "" {
		extra, _ := filepath.Glob(filepath.Join(testOnly, "filter.d", "zzz-*.conf"))
		for _, p := range extra {
			filters = append(filters, source{testOnly, strings.TrimSuffix(filepath.Base(p), ".conf")})
		}
	}

	var total tally
	for _, src := range filters {
		t.Run(src.name, func(t *testing.T) {
			r := &runner{t: t, name: src.name, dir: src.dir, loc: loc, now: now, variants: map[string]*variant{}}
			r.run()
			total.add(r.tally)
		})
	}
	summary := fmt.Sprintf("%d filters, %d/%d annotated lines pass (%d of %d filters pass entirely)",
		len(filters), total.passed, total.checked, total.filtersOK, len(filters))
	t.Log(summary)
	fmt.Printf("fail2ban conformance: %s\n", summary)
}

// testFilterDir lays out fail2ban's test-only zzz-* filters so that they
// load: they include common.conf by a path that only fits fail2ban's source
// tree, which is rewritten to the installed common.conf.
func testFilterDir(t *testing.T) string {
	files, _ := filepath.Glob(filepath.Join(testConfDir, "filter.d", "zzz-*.conf"))
	if len(files) == 0 {
		return ""
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "filter.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	include := regexp.MustCompile(`(?m)^(before\s*=\s*)\S*/config/filter\.d/(\S+)$`)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = include.ReplaceAll(data, []byte("${1}"+confDir+"/filter.d/${2}"))
		if err := os.WriteFile(filepath.Join(dir, "filter.d", filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type tally struct {
	checked, passed, filtersOK int
}

func (t *tally) add(o tally) {
	t.checked += o.checked
	t.passed += o.passed
	t.filtersOK += o.filtersOK
}

// variant is the filter read with one set of options (filterOptions).
type variant struct {
	name   string
	opts   options // with the test.* keys
	filter *filter.Filter
	used   map[int]bool // failregexes that matched
}

// runner runs one filter's sample files, as samplestestcase.py's
// testSampleRegexsFactory does.
type runner struct {
	t        *testing.T
	name     string
	dir      string
	loc      *time.Location
	now      time.Time
	variants map[string]*variant
	order    []*variant
	current  []*variant // the variants that process the following lines
	usedText map[string]bool
	tally
}

func (r *runner) run() {
	r.usedText = map[string]bool{}
	if _, err := os.Stat(filepath.Join(logsDir, r.name)); err != nil {
		r.t.Fatalf("no sample log for filter %s", r.name)
	}
	files := []string{r.name}
	var common options
	failed := false
	for i := 0; i < len(files); i++ {
		lines, err := readLines(filepath.Join(logsDir, files[i]))
		if err != nil {
			r.t.Fatal(err)
		}
		ignoreBlock := false
		for n := 0; n < len(lines); n++ {
			line := lines[n]
			var annotation map[string]any
			if m := directive.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
				where := fmt.Sprintf("%s:%d", files[i], n+1)
				switch m[1] {
				case "fileOptions":
					common = r.decodeOptions(where, m[2])
					continue
				case "filterOptions":
					ignoreBlock = r.filterOptions(where, common, m[2])
					continue
				case "addFILE":
					var f string
					if err := json.Unmarshal([]byte(m[2]), &f); err != nil {
						r.t.Fatalf("%s: addFILE: %v", where, err)
					}
					files = append(files, f)
					continue
				}
				if err := json.Unmarshal([]byte(m[2]), &annotation); err != nil {
					r.t.Fatalf("%s: failJSON: %v", where, err)
				}
				// The annotation is about the next physical line.
				if n++; n >= len(lines) {
					break
				}
				line = lines[n]
			} else if ignoreBlock || strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if ignoreBlock {
				continue
			}
			if r.current == nil {
				r.current = []*variant{r.variant(r.name, nil)}
			}
			line = strings.TrimRight(line, "\r\n")
			for _, v := range r.current {
				if c, ok := annotation["constraint"].(string); ok && !r.eval(c, v.opts) {
					continue
				}
				if v.opts.get("logtype") == "journal" {
					line = v.opts.get("test.prefix-line") + line
				}
				msg := r.check(v, line, annotation)
				if annotation != nil {
					r.checked++
					if msg == "" {
						r.passed++
					}
				}
				if msg != "" {
					failed = true
					r.t.Errorf("%s:%d: %s: %s\n    line: %s", files[i], n+1, v.name, msg, line)
				}
			}
		}
	}
	for _, v := range r.order {
		for i, re := range v.filter.FailRegexes() {
			if !v.used[i] && !r.usedText[re] {
				failed = true
				r.t.Errorf("%s: regex has no samples: %d: %s", v.name, i, re)
			}
		}
	}
	if !failed {
		r.filtersOK++
	}
}

// filterOptions starts a block of lines checked with each of the given
// option sets, and reports whether the block is skipped.
func (r *runner) filterOptions(where string, common options, raw string) (ignoreBlock bool) {
	var list []json.RawMessage
	trimmed := strings.TrimSpace(raw)
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal([]byte(trimmed), &list); err != nil {
			r.t.Fatalf("%s: filterOptions: %v", where, err)
		}
	} else {
		list = []json.RawMessage{json.RawMessage(trimmed)}
	}
	r.current = []*variant{}
	for _, item := range list {
		opts := common.merge(r.decodeOptions(where, string(item)))
		if cond := opts.get("test.condition"); cond != "" {
			ignoreBlock = !r.eval(cond, opts)
		}
		if ignoreBlock {
			continue
		}
		name := opts.get("test.filter-name")
		if name == "" {
			name = opts.withoutTest().String()
		}
		r.current = append(r.current, r.variant(r.name+name, opts))
	}
	return ignoreBlock
}

// variant returns the filter read with opts, reading it the first time.
func (r *runner) variant(name string, opts options) *variant {
	if v, ok := r.variants[name]; ok {
		return v
	}
	init := map[string]string{}
	for _, kv := range opts.withoutTest() {
		init[kv.key] = kv.value
	}
	spec, problems, err := config.LoadFilterWith(r.dir, r.name, init, config.Options{})
	for _, p := range problems {
		if p.Severity == config.SeverityError {
			r.t.Errorf("%s: %s", name, p)
		} else {
			r.t.Logf("%s: %s", name, p)
		}
	}
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	// Like fail2ban's test, which sets only these from the filter: usedns
	// stays the default, hosts stay raw, every regex is tried.
	f, err := filter.New(spec, filter.Options{
		UseDNS:        "warn",
		RawHost:       true,
		CheckAllRegex: true,
		Journal:       opts.get("logtype") == "journal",
	})
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	v := &variant{name: name, opts: opts, filter: f, used: map[int]bool{}}
	r.variants[name] = v
	r.order = append(r.order, v)
	return v
}

// check runs line through v and compares the outcome with the annotation
// (nil for a line that must not match). It returns what is wrong, or "".
func (r *runner) check(v *variant, line string, annotation map[string]any) string {
	var res filter.Result
	v.filter.Process([]byte(line), r.now, &res)
	regexes := v.filter.FailRegexes()
	for _, i := range res.Matched {
		v.used[i] = true
		r.usedText[regexes[i]] = true
	}
	var found []filter.Failure
	for _, f := range res.Failures {
		if !f.NoFail {
			found = append(found, f)
		}
	}
	match, _ := annotation["match"].(bool)
	switch {
	case len(found) == 0 && match:
		return "line not matched when it should have been"
	case len(found) == 0:
		return ""
	case !match:
		return fmt.Sprintf("line matched when it should not have been (failregex %d, id %s)", found[0].Regex, found[0].ID)
	case len(found) > 1:
		var idx []int
		for _, f := range found {
			idx = append(idx, f.Regex)
		}
		return fmt.Sprintf("multiple regexes matched: %v", idx)
	}
	f := found[0]
	keys := make([]string, 0, len(annotation))
	for k := range annotation {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		want := annotation[k]
		switch k {
		case "match", "desc", "constraint":
		case "time":
			if msg := checkTime(f.Time, want, r.loc); msg != "" {
				problems = append(problems, msg)
			}
		default:
			if msg := checkField(f, k, want); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Sprintf("failregex %d: %s", f.Regex, strings.Join(problems, "; "))
	}
	return ""
}

// checkField compares one annotated key with the failure, as the Python
// test does: the failure's field of that name, else for "host" the
// failure ID and for "attempts" the number of matched lines.
func checkField(f filter.Failure, key string, want any) string {
	got, has := f.Fields[key]
	switch {
	case key == "users":
		var w []string
		if list, ok := want.([]any); ok {
			for _, u := range list {
				w = append(w, fmt.Sprint(u))
			}
		}
		slices.Sort(w)
		if !slices.Equal(f.Users, w) {
			return fmt.Sprintf("users %q, want %q", f.Users, w)
		}
		return ""
	case has:
		if s, ok := want.(string); !ok || s != got {
			return fmt.Sprintf("%s %q, want %v", key, got, jsonText(want))
		}
		return ""
	case key == "host":
		s, _ := want.(string)
		if !sameID(f, s) {
			return fmt.Sprintf("host %q, want %v", f.ID, jsonText(want))
		}
		return ""
	case key == "attempts":
		if n, ok := want.(float64); !ok || int(n) != f.Attempts {
			return fmt.Sprintf("attempts %d, want %v", f.Attempts, jsonText(want))
		}
		return ""
	case want != nil:
		return fmt.Sprintf("no %s, want %v", key, jsonText(want))
	}
	return ""
}

// sameID compares a failure ID with a host as fail2ban's IPAddr equality
// does: as addresses (with prefix length) when the ID is one, as text
// otherwise.
func sameID(f filter.Failure, host string) bool {
	if f.ID == host {
		return true
	}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if f.Prefix.IsValid() {
		p, err := netip.ParsePrefix(h)
		return err == nil && p.Masked() == f.Prefix
	}
	a, err := netip.ParseAddr(h)
	id, idErr := netip.ParseAddr(f.ID)
	return err == nil && idErr == nil && a.Unmap() == id.Unmap()
}

// annotatedTime is the %Y-%m-%dT%H:%M:%S[.%f] of the annotations, read as
// Python's strptime does (one-digit fields allowed, %f padded on the right).
var annotatedTime = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$`)

// checkTime compares the failure time with an annotated local time, read
// as mktime does in the test's zone. A null time is not checked.
func checkTime(got time.Time, want any, loc *time.Location) string {
	if want == nil {
		return ""
	}
	s, _ := want.(string)
	m := annotatedTime.FindStringSubmatch(s)
	if m == nil {
		return fmt.Sprintf("bad annotated time %q", s)
	}
	n := make([]int, 7)
	for i, f := range m[1:7] {
		n[i], _ = strconv.Atoi(f)
	}
	if m[7] != "" {
		n[6], _ = strconv.Atoi((m[7] + "00000")[:6])
	}
	w := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*1000, loc)
	if !got.Equal(w) {
		return fmt.Sprintf("time %s, want %s (diff %v)", got.In(loc).Format(time.RFC3339Nano), s, got.Sub(w))
	}
	return ""
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// readLines reads a sample log into lines that keep their "\n", decoding
// it as fail2ban does (invalid UTF-8 becomes U+FFFD).
func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i+1], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		lines = append(lines, strings.ToValidUTF8(sc.Text(), "\uFFFD"))
	}
	return lines, sc.Err()
}

// options is a JSON object of filterOptions, in the order written (which
// names the variant, as Python's str(dict) does).
type options []keyValue

type keyValue struct{ key, value string }

func (r *runner) decodeOptions(where, raw string) options {
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		r.t.Fatalf("%s: options %s: want a JSON object", where, raw)
	}
	var out options
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			r.t.Fatalf("%s: options %s: %v", where, raw, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			r.t.Fatalf("%s: options %s: %v", where, raw, err)
		}
		out = out.set(k.(string), fmt.Sprint(v))
	}
	return out
}

func (o options) get(key string) string {
	for _, kv := range o {
		if kv.key == key {
			return kv.value
		}
	}
	return ""
}

func (o options) has(key string) bool {
	return slices.ContainsFunc(o, func(kv keyValue) bool { return kv.key == key })
}

func (o options) set(key, value string) options {
	for i := range o {
		if o[i].key == key {
			o[i].value = value
			return o
		}
	}
	return append(o, keyValue{key, value})
}

// merge returns o updated with p, as Python's dict.update.
func (o options) merge(p options) options {
	out := slices.Clone(o)
	for _, kv := range p {
		out = out.set(kv.key, kv.value)
	}
	return out
}

func (o options) withoutTest() options {
	var out options
	for _, kv := range o {
		if !strings.HasPrefix(kv.key, "test.") {
			out = append(out, kv)
		}
	}
	return out
}

// String writes the options as Python's str(dict) does, or "" for none.
func (o options) String() string {
	if len(o) == 0 {
		return ""
	}
	parts := make([]string, len(o))
	for i, kv := range o {
		parts[i] = fmt.Sprintf("'%s': '%s'", kv.key, kv.value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// The Python conditions the sample logs use: comparisons of name,
// opts.get('key') and quoted strings.
var (
	comparison = regexp.MustCompile(`^\s*(.+?)\s*(==|!=)\s*(.+?)\s*$`)
	optsGet    = regexp.MustCompile(`^opts\.get\(\s*(?:'([^']*)'|"([^"]*)")\s*\)$`)
	quoted     = regexp.MustCompile(`^(?:'([^']*)'|"([^"]*)")$`)
)

// eval evaluates a test.condition or constraint: the comparisons of name
// and opts.get(...) with strings that fail2ban's samples use. Anything else
// fails the test, so that a new kind of condition is noticed.
func (r *runner) eval(expr string, opts options) bool {
	m := comparison.FindStringSubmatch(expr)
	if m == nil {
		r.t.Fatalf("unsupported condition %q", expr)
	}
	operand := func(s string) *string {
		switch {
		case s == "name":
			return &r.name
		case optsGet.MatchString(s):
			g := optsGet.FindStringSubmatch(s)
			key := g[1] + g[2]
			if !opts.has(key) {
				return nil
			}
			v := opts.get(key)
			return &v
		case quoted.MatchString(s):
			g := quoted.FindStringSubmatch(s)
			v := g[1] + g[2]
			return &v
		}
		r.t.Fatalf("unsupported operand %q in condition %q", s, expr)
		return nil
	}
	a, b := operand(m[1]), operand(m[3])
	equal := a == nil && b == nil || a != nil && b != nil && *a == *b
	return equal == (m[2] == "==")
}

// posixZone builds a location from a POSIX TZ string, such as fail2ban's
// tests put in TZ, by wrapping it in a TZif file with no transitions.
func posixZone(tz string) (*time.Location, error) {
	var b bytes.Buffer
	block := func() {
		b.WriteString("TZif2")
		b.Write(make([]byte, 15))
		// isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
		for _, n := range []uint32{0, 0, 0, 0, 1, 1} {
			_ = binary.Write(&b, binary.BigEndian, n)
		}
		// One local time type (offset 0, no DST, abbreviation "") that the
		// footer's rule supersedes.
		b.Write([]byte{0, 0, 0, 0, 0, 0, 0})
	}
	block() // version 1 data
	block() // version 2 data
	b.WriteString("\n" + tz + "\n")
	return time.LoadLocationFromTZData(tz, b.Bytes())
}

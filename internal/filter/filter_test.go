package filter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// testNow is the time the tests run at: 2005-08-14 10:00:00 UTC, fail2ban's
// TEST_NOW.
var testNow = time.Unix(1124013600, 0).UTC()

// processCase is one file of testdata/process: a filter and the lines it is
// fed, each with what Process must report.
type processCase struct {
	Filter struct {
		PrefRegex   string   `json:"prefregex"`
		FailRegex   []string `json:"failregex"`
		IgnoreRegex []string `json:"ignoreregex"`
		MaxLines    int      `json:"maxlines"`
		UseDNS      string   `json:"usedns"`
		DatePattern string   `json:"datepattern"`
	} `json:"filter"`
	Options struct {
		CheckAll bool `json:"checkAll"`
		RawHost  bool `json:"rawHost"`
		Journal  bool `json:"journal"`
	} `json:"options"`
	Lines []struct {
		Line        string        `json:"line"`
		Failures    []wantFailure `json:"failures"`
		Matched     []int         `json:"matched"`
		Ignored     bool          `json:"ignored"`
		Prefiltered bool          `json:"prefiltered"`
	} `json:"lines"`
}

type wantFailure struct {
	ID       string            `json:"id"`
	Addr     string            `json:"addr"`
	Prefix   string            `json:"prefix"`
	Regex    int               `json:"regex"`
	NoFail   bool              `json:"nofail"`
	Fields   map[string]string `json:"fields"`
	Users    []string          `json:"users"`
	Lines    []string          `json:"lines"`
	Attempts int               `json:"attempts"`
}

func (c *processCase) spec(name string) *config.Filter {
	spec := &config.Filter{
		Name:        name,
		MaxLines:    c.Filter.MaxLines,
		UseDNS:      c.Filter.UseDNS,
		DatePattern: c.Filter.DatePattern,
	}
	regexes := func(pats []string) []config.Regex {
		var out []config.Regex
		for i, p := range pats {
			out = append(out, config.Regex{Pattern: p, Pos: config.Position{File: name, Line: i + 1}})
		}
		return out
	}
	if c.Filter.PrefRegex != "" {
		spec.PrefRegex = &config.Regex{Pattern: c.Filter.PrefRegex}
	}
	spec.FailRegex = regexes(c.Filter.FailRegex)
	spec.IgnoreRegex = regexes(c.Filter.IgnoreRegex)
	return spec
}

func TestProcess(t *testing.T) {
	files, err := filepath.Glob("testdata/process/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c processCase
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			f, err := New(c.spec(file), Options{
				CheckAllRegex: c.Options.CheckAll,
				RawHost:       c.Options.RawHost,
				Journal:       c.Options.Journal,
				Location:      time.UTC,
			})
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			for i, l := range c.Lines {
				f.Process([]byte(l.Line+"\n"), testNow, &res)
				where := fmt.Sprintf("line %d %q", i+1, l.Line)
				if res.Ignored != l.Ignored {
					t.Errorf("%s: ignored = %v, want %v", where, res.Ignored, l.Ignored)
				}
				if res.Prefiltered != l.Prefiltered {
					t.Errorf("%s: prefiltered = %v, want %v", where, res.Prefiltered, l.Prefiltered)
				}
				if l.Matched != nil && !slices.Equal(res.Matched, l.Matched) {
					t.Errorf("%s: matched regexes %v, want %v", where, res.Matched, l.Matched)
				}
				if len(res.Failures) != len(l.Failures) {
					t.Errorf("%s: %d failures %+v, want %d", where, len(res.Failures), res.Failures, len(l.Failures))
					continue
				}
				for j, w := range l.Failures {
					if msg := w.diff(res.Failures[j]); msg != "" {
						t.Errorf("%s: failure %d: %s", where, j, msg)
					}
				}
			}
		})
	}
}

// diff compares a failure with what is wanted; zero-valued fields of w
// other than ID, Regex and Attempts are not checked.
func (w wantFailure) diff(got Failure) string {
	var d []string
	if got.ID != w.ID {
		d = append(d, fmt.Sprintf("id %q, want %q", got.ID, w.ID))
	}
	if got.Regex != w.Regex {
		d = append(d, fmt.Sprintf("regex %d, want %d", got.Regex, w.Regex))
	}
	if got.NoFail != w.NoFail {
		d = append(d, fmt.Sprintf("nofail %v, want %v", got.NoFail, w.NoFail))
	}
	if want := max(w.Attempts, 1); got.Attempts != want {
		d = append(d, fmt.Sprintf("attempts %d, want %d", got.Attempts, want))
	}
	if w.Addr != "" && got.Addr != netip.MustParseAddr(w.Addr) {
		d = append(d, fmt.Sprintf("addr %v, want %s", got.Addr, w.Addr))
	}
	if w.Prefix != "" && got.Prefix != netip.MustParsePrefix(w.Prefix) {
		d = append(d, fmt.Sprintf("prefix %v, want %s", got.Prefix, w.Prefix))
	}
	if w.Fields != nil && !reflect.DeepEqual(got.Fields, w.Fields) {
		d = append(d, fmt.Sprintf("fields %q, want %q", got.Fields, w.Fields))
	}
	if w.Users != nil && !slices.Equal(got.Users, w.Users) {
		d = append(d, fmt.Sprintf("users %q, want %q", got.Users, w.Users))
	}
	if w.Lines != nil && !slices.Equal(got.Lines, w.Lines) {
		d = append(d, fmt.Sprintf("lines %q, want %q", got.Lines, w.Lines))
	}
	return strings.Join(d, "; ")
}

func TestNewErrors(t *testing.T) {
	pos := config.Position{File: "/etc/fail2ban/filter.d/x.conf", Line: 7}
	tests := []struct {
		name string
		spec config.Filter
		opts Options
		want string
	}{
		{"no failure id", config.Filter{FailRegex: []config.Regex{{Pattern: `^failed$`, Pos: pos}}},
			Options{}, `/etc/fail2ban/filter.d/x.conf:7: failregex "^failed$": no failure-id group`},
		{"bad regex", config.Filter{FailRegex: []config.Regex{{Pattern: `^(<HOST>`, Pos: pos}}},
			Options{}, `/etc/fail2ban/filter.d/x.conf:7: failregex "^(<HOST>": error parsing regexp`},
		{"bad ignoreregex", config.Filter{IgnoreRegex: []config.Regex{{Pattern: `[`, Pos: pos}}},
			Options{}, `x.conf:7: ignoreregex "[":`},
		{"empty regex", config.Filter{FailRegex: []config.Regex{{Pattern: "  "}}},
			Options{}, `failregex "  ": empty regex`},
		{"bad usedns", config.Filter{Name: "x"}, Options{UseDNS: "maybe"}, `filter x: usedns "maybe"`},
		{"bad maxlines", config.Filter{Name: "x", MaxLines: -1}, Options{}, `filter x: maxlines -1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.spec, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewAccessors(t *testing.T) {
	spec := &config.Filter{
		PrefRegex:   &config.Regex{Pattern: `^<F-MLFID>\S+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$`},
		FailRegex:   []config.Regex{{Pattern: `^fail <HOST>$`}, {Pattern: `^(?P<a>\w)(?P=a) <HOST>$`}},
		IgnoreRegex: []config.Regex{{Pattern: `^ignore`}},
		MaxLines:    0,
	}
	f, err := New(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.FailRegexes(); !slices.Equal(got, []string{`^fail <HOST>$`, `^(?P<a>\w)(?P=a) <HOST>$`}) {
		t.Errorf("FailRegexes() = %q", got)
	}
	if got := f.IgnoreRegexes(); !slices.Equal(got, []string{`^ignore`}) {
		t.Errorf("IgnoreRegexes() = %q", got)
	}
	if got := f.PrefRegex(); got != spec.PrefRegex.Pattern {
		t.Errorf("PrefRegex() = %q", got)
	}
	if f.MaxLines() != 1 {
		t.Errorf("MaxLines() = %d, want 1", f.MaxLines())
	}
	if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], `(?P=a)`) {
		t.Errorf("Warnings() = %q, want one about the backreference", w)
	}
}

// staticResolver is an in-memory name service.
type staticResolver struct {
	hosts map[string][]string
	calls int
}

func (r *staticResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.calls++
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func TestProcessDNS(t *testing.T) {
	hosts := map[string][]string{"attacker.example": {"2001:db8::7", "192.0.2.7", "192.0.2.7"}}
	spec := func() *config.Filter {
		return &config.Filter{FailRegex: []config.Regex{{Pattern: `^login failed from <HOST>$`}}}
	}
	tests := []struct {
		useDNS  string
		rawHost bool
		line    string
		want    []string
		calls   int
	}{
		{useDNS: "yes", line: "login failed from attacker.example", want: []string{"192.0.2.7", "2001:db8::7"}, calls: 1},
		{useDNS: "warn", line: "login failed from attacker.example", want: []string{"192.0.2.7", "2001:db8::7"}, calls: 1},
		{useDNS: "yes", line: "login failed from unknown.example", want: nil, calls: 1},
		{useDNS: "no", line: "login failed from attacker.example", want: nil},
		{useDNS: "raw", line: "login failed from attacker.example", want: []string{"attacker.example"}},
		{useDNS: "yes", rawHost: true, line: "login failed from attacker.example", want: []string{"attacker.example"}},
		{useDNS: "yes", line: "login failed from 192.0.2.9", want: []string{"192.0.2.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.useDNS+" "+tt.line, func(t *testing.T) {
			r := &staticResolver{hosts: hosts}
			f, err := New(spec(), Options{UseDNS: tt.useDNS, RawHost: tt.rawHost, Resolver: r, Journal: true})
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			for range 2 { // the second lookup comes from the cache
				f.Process([]byte(tt.line), testNow, &res)
				var got []string
				for _, fl := range res.Failures {
					got = append(got, fl.ID)
					if a, err := netip.ParseAddr(fl.ID); err == nil && fl.Addr != a {
						t.Errorf("failure %s has addr %v", fl.ID, fl.Addr)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("IDs %q, want %q", got, tt.want)
				}
			}
			if r.calls != tt.calls {
				t.Errorf("%d lookups, want %d", r.calls, tt.calls)
			}
		})
	}
}

func TestProcessRegexTimeout(t *testing.T) {
	spec := &config.Filter{FailRegex: []config.Regex{{Pattern: `^(?:(a+)+)+(?!x)b <HOST>`}}}
	f, err := New(spec, Options{RegexTimeout: 10 * time.Millisecond, Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	start := time.Now()
	f.Process([]byte(strings.Repeat("a", 40)+"c"), testNow, &res)
	if len(res.Failures) != 0 {
		t.Errorf("failures %v", res.Failures)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("match took %v despite the timeout", d)
	}
}

func TestProcessKeepsNoReference(t *testing.T) {
	spec := &config.Filter{FailRegex: []config.Regex{{Pattern: `^fail <F-USER>\S+</F-USER> <HOST>$`}}}
	f, err := New(spec, Options{Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("fail bob 192.0.2.1")
	var res Result
	f.Process(line, testNow, &res)
	copy(line, "XXXXXXXXXXXXXXXXXX")
	if len(res.Failures) != 1 {
		t.Fatalf("failures %v", res.Failures)
	}
	fl := res.Failures[0]
	if fl.ID != "192.0.2.1" || fl.Fields["user"] != "bob" || fl.Lines[0] != "fail bob 192.0.2.1" {
		t.Errorf("failure changed with the caller's buffer: %+v", fl)
	}
}

// TestProcessDates checks how the date is cut out of the line and which
// time a line gets.
func TestProcessDates(t *testing.T) {
	spec := &config.Filter{
		FailRegex: []config.Regex{
			{Pattern: `^\s*sshd: fail from <HOST>$`},
			{Pattern: `^\[\] web: fail from <HOST>$`},
		},
		DatePattern: "{^LN-BEG}",
		UseDNS:      "no",
	}
	f, err := New(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 14, 9, 20, 30, 0, time.UTC)
	dated := time.Date(2024, 5, 14, 9, 20, 2, 0, time.UTC)
	tests := []struct {
		line      string
		id        string
		time      time.Time
		dateFound bool
	}{
		{"2024-05-14 09:20:02 sshd: fail from 192.0.2.1", "192.0.2.1", dated, true},
		// The cut date joins "[" and "]".
		{"[2024-05-14 09:20:02] web: fail from 192.0.2.2", "192.0.2.2", dated, true},
		// No date: the last one stands in while it is under a minute old.
		{"sshd: fail from 192.0.2.3", "192.0.2.3", dated, false},
	}
	var res Result
	for _, tt := range tests {
		f.Process([]byte(tt.line), now, &res)
		if res.DateFound != tt.dateFound || !res.Time.Equal(tt.time) {
			t.Errorf("%q: time %v found %v, want %v %v", tt.line, res.Time, res.DateFound, tt.time, tt.dateFound)
		}
		if len(res.Failures) != 1 || res.Failures[0].ID != tt.id || !res.Failures[0].Time.Equal(tt.time) {
			t.Errorf("%q: failures %+v, want %s at %v", tt.line, res.Failures, tt.id, tt.time)
		}
	}
	later := now.Add(2 * time.Minute)
	f.Process([]byte("sshd: fail from 192.0.2.4"), later, &res)
	if !res.Time.Equal(later) || len(res.Failures) != 1 {
		t.Errorf("undated line after the last date aged: time %v, failures %v; want now", res.Time, res.Failures)
	}
	var d LineDate
	if f.Date([]byte("2024-05-14 09:20:02 x\n"), now, &d); !d.Found || !d.Time.Equal(dated) || d.Template < 0 || f.DateTemplateName(d.Template) == "" {
		t.Errorf("Date: %+v", d)
	}
}

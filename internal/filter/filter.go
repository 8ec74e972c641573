// Package filter is a compiled fail2ban filter: it turns log lines into
// failures — an ID, usually the address of the client at fault, with the
// time of the line and the fields the regexes captured — as fail2ban
// 1.0.2's filter does (server/filter.py, failregex.py, ipdns.py).
//
// Each line goes through the same steps as in fail2ban: its date is found
// and cut out, the rest (joined with earlier lines when maxlines > 1) is
// matched by the ignoreregexes, the prefregex and the failregexes, and the
// failure ID is taken from the fid, ip4, ip6 or dns group. Multi-line
// failures tied together by an <F-MLFID> group are merged with the same
// rules and cache limits.
//
// Regexes are written in Python's syntax with fail2ban's tags. Each is
// translated for Go's regexp, which runs in linear time, and searched with
// internal/backtrack, which finds what regexp finds several times faster
// (regexp itself takes over lines too long for it); the few that need
// lookaround, backreferences or conditionals run on regexp2, a backtracking
// engine, with a match timeout (see Filter.Warnings). Python 3's \d, \w, \s
// and \b also match non-ASCII digits, letters and spaces; here they match
// ASCII only, so a non-ASCII name in a log line is not matched by \w.
//
// A single-line filter checks that the line contains the literal text
// every match of its regexes must contain, and runs only the regexes whose
// literals it has; most lines of a busy log fail that check, and cost a
// few substring searches and no allocation. The check comes after the date
// is found, as the regexes do not see it. Date and Match split Process in
// two: Date, which must see every line in order, and Match, which for a
// filter whose lines are Independent may run out of order on Clones.
//
// Where fail2ban's behaviour is an accident, the filter departs from it on
// purpose: a <F-NOFAIL> match without a multi-line ID is reported with
// Failure.NoFail set (fail2ban's daemon counts it as a failure); an <F-ID>
// with an unusable netmask is kept as a raw ID (fail2ban drops the line
// with an exception); and with maxlines > 1 and CheckAllRegex, a regex
// tried after a match sees, and reports, only the lines left in the buffer.
// What the daemon does around the filter — treating dates far from now as
// now, clamping future times, ignoreip — is the jail's business.
//
// The package does no I/O, except DNS lookups through the Resolver when a
// regex captures a host name and usedns is yes or warn.
package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/dates"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options adjust how a filter runs. The zero value is fail2ban's daemon
// behaviour with the filter's own usedns.
type Options struct {
	// UseDNS overrides the filter's usedns (yes, warn, no, raw) when set.
	// With neither set it is "warn", as in fail2ban.
	UseDNS string
	// Location is the jail's logtimezone: the zone of dates written
	// without one, with fail2ban's rules for explicit zones. When nil such
	// dates are local time, in the zone of the time given to Process.
	Location *time.Location
	// Resolver resolves host names for usedns yes and warn;
	// net.DefaultResolver when nil.
	Resolver Resolver
	// Logger receives warnings (DNS lookups, regex timeouts, matches
	// without a date); nothing is logged when nil.
	Logger *slog.Logger
	// CheckAllRegex tries every failregex on every line, as fail2ban-regex
	// and fail2ban's tests do; the daemon stops at the first match.
	CheckAllRegex bool
	// RegexTimeout bounds one match of a regex that runs on the
	// backtracking engine; 100ms when zero.
	RegexTimeout time.Duration
	// RawHost keeps host names as raw IDs instead of resolving them
	// (fail2ban's returnRawHost).
	RawHost bool
	// Journal is set when lines come from the systemd journal, which
	// dates each entry: no date is parsed and the time given to Process
	// is the line's time.
	Journal bool
}

const (
	defaultRegexTimeout = 100 * time.Millisecond
	// dnsTimeout bounds one host name lookup.
	dnsTimeout = 10 * time.Second
	// recentDate is how long the date of the last dated line stands in for
	// lines that have none (fail2ban: 60 s).
	recentDate = time.Minute
	// Bounds of the <F-MLFID> cache (fail2ban's mlfidCache).
	mlfCacheSize = 100
	mlfCacheTime = 5 * time.Minute
)

// A Filter turns log lines into failures. It keeps state between lines:
// the multi-line buffer, the <F-MLFID> cache, the last date seen and the
// DNS cache. A Filter is not safe for concurrent use.
type Filter struct {
	useDNS   string
	rawHost  bool
	checkAll bool
	journal  bool
	maxLines int
	log      *slog.Logger
	resolver Resolver
	dates    *dates.Detector
	warnings []string

	pref   *regex
	fail   []*regex
	ignore []*regex
	// earlyIgnore runs the ignoreregexes before the failregexes (fail2ban
	// does when there are fewer ignoreregexes than failregexes - 2).
	earlyIgnore bool
	prefilter   *prefilter

	// Per-line state.
	lineDate    LineDate // Process's
	ids         [1]ident // addressIDs' result
	matchState  failState
	m           matcher
	buf         []byte // the text regexes see: cut lines joined, ending in "\n"
	rebuilt     []byte // buf after lines were taken out of it
	matchBuf    []byte // matched lines only, for ignoreregexes (maxlines > 1)
	content     []byte // prefregex content (maxlines == 1)
	lines       []bufLine
	one         [1]bufLine // lines of a single-line filter
	contentLine [1]bufLine
	noDate      bool // the line's date was looked for and not found
	preSpans    []int
	prefOK      bool
	lastDate    time.Time
	noDateLog   time.Time // next time a match without a date may be logged
	mlf         *ttlCache[*failState]
	dns         *dnsCache
}

// New compiles spec. It fails on an invalid option, or on a regex that
// neither engine compiles or whose failregex has no failure-ID group (fid,
// ip4, ip6, dns or mlfid, in it or in the prefregex); the error names the
// regex and where it was written.
func New(spec *config.Filter, opts Options) (*Filter, error) {
	if spec == nil {
		return nil, errors.New("filter: no definition")
	}
	useDNS := strings.ToLower(spec.UseDNS)
	if opts.UseDNS != "" {
		useDNS = strings.ToLower(opts.UseDNS)
	}
	switch useDNS {
	case "":
		useDNS = "warn"
	case "yes", "warn", "no", "raw":
	default:
		return nil, fmt.Errorf("filter %s: usedns %q: want yes, warn, no or raw", spec.Name, useDNS)
	}
	maxLines := spec.MaxLines
	switch {
	case maxLines == 0:
		maxLines = 1
	case maxLines < 0:
		return nil, fmt.Errorf("filter %s: maxlines %d: must be positive", spec.Name, maxLines)
	}
	timeout := opts.RegexTimeout
	if timeout <= 0 {
		timeout = defaultRegexTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	resolver := opts.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	f := &Filter{
		useDNS:   useDNS,
		rawHost:  opts.RawHost || useDNS == "raw",
		checkAll: opts.CheckAllRegex,
		journal:  opts.Journal,
		maxLines: maxLines,
		log:      log,
		resolver: resolver,
		mlf:      newTTLCache[*failState](mlfCacheSize, mlfCacheTime),
		dns:      newDNSCache(),
	}
	var err error
	if f.dates, err = dates.New(spec.DatePattern, opts.Location); err != nil {
		return nil, fmt.Errorf("filter %s: datepattern: %w", spec.Name, err)
	}
	build := func(kind string, re config.Regex, multiline bool) (*regex, error) {
		r, fellBack, err := compile(re.Pattern, compileOptions{useDNS: useDNS, multiline: multiline, timeout: timeout})
		if err != nil {
			return nil, fmt.Errorf("%s%s %q: %w", where(re.Pos), kind, re.Pattern, err)
		}
		if fellBack {
			f.warnings = append(f.warnings, fmt.Sprintf("%s%s %q needs the backtracking regex engine (lookaround, backreference or conditional); each match is limited to %v", where(re.Pos), kind, re.Pattern, timeout))
		}
		return r, nil
	}
	if spec.PrefRegex != nil && spec.PrefRegex.Pattern != "" {
		if f.pref, err = build("prefregex", *spec.PrefRegex, false); err != nil {
			return nil, err
		}
	}
	for _, re := range spec.FailRegex {
		r, err := build("failregex", re, maxLines > 1)
		if err != nil {
			return nil, err
		}
		if !hasFailureID(r) && !hasFailureID(f.pref) {
			return nil, fmt.Errorf("%sfailregex %q: no failure-id group (<HOST>, <ADDR>, <F-ID>... or <F-MLFID> in the prefregex)", where(re.Pos), re.Pattern)
		}
		f.fail = append(f.fail, r)
	}
	for _, re := range spec.IgnoreRegex {
		r, err := build("ignoreregex", re, false)
		if err != nil {
			return nil, err
		}
		f.ignore = append(f.ignore, r)
	}
	f.earlyIgnore = len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2
	if maxLines == 1 {
		var early []*regex
		if f.earlyIgnore {
			early = f.ignore
		}
		f.prefilter = newPrefilter(f.pref, f.fail, early)
	}
	return f, nil
}

// hasFailureID reports whether r has a group a failure ID can come from.
func hasFailureID(r *regex) bool {
	if r == nil {
		return false
	}
	for _, g := range []string{"fid", "ip4", "ip6", "dns", "mlfid"} {
		if r.has(g) {
			return true
		}
	}
	return false
}

// where formats a position as an error prefix.
func where(p config.Position) string {
	switch {
	case p.File == "":
		return ""
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: ", p.File, p.Line)
	default:
		return p.File + ": "
	}
}

// Warnings lists the regexes that run on the backtracking engine.
func (f *Filter) Warnings() []string { return f.warnings }

// FailRegexes returns the failregexes as written, tags unexpanded.
func (f *Filter) FailRegexes() []string { return patterns(f.fail) }

// IgnoreRegexes returns the ignoreregexes as written.
func (f *Filter) IgnoreRegexes() []string { return patterns(f.ignore) }

// PrefRegex returns the prefregex as written, or "".
func (f *Filter) PrefRegex() string {
	if f.pref == nil {
		return ""
	}
	return f.pref.pattern
}

func patterns(rs []*regex) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.pattern
	}
	return out
}

// MaxLines returns the size of the multi-line buffer.
func (f *Filter) MaxLines() int { return f.maxLines }

// NumDateTemplates returns how many date templates the filter tries;
// Result.DateTemplate indexes them.
func (f *Filter) NumDateTemplates() int { return f.dates.NumTemplates() }

// DateTemplateName returns date template i's name as fail2ban-regex
// prints it.
func (f *Filter) DateTemplateName(i int) string { return f.dates.TemplateName(i) }

// Independent reports whether the regexes see each line on its own: the
// filter has a single-line buffer and no <F-MLFID>. Then, once Date has
// dated the lines in order, Match may run on them in any order, on clones
// of the filter.
func (f *Filter) Independent() bool {
	if f.maxLines > 1 || f.pref != nil && f.pref.has("mlfid") {
		return false
	}
	for _, r := range f.fail {
		if r.has("mlfid") {
			return false
		}
	}
	return true
}

// NeededByte returns a byte that a line must hold for any of the filter's
// regexes to match it, chosen as the rarest in sample, or false when there
// is none to rely on. Match finds nothing in a line without it: the
// prefilter rejects it (Result.Prefiltered). A caller that can look for
// the byte in many lines at once may count such lines without Match;
// their dates are still needed.
func (f *Filter) NeededByte(sample [][]byte) (byte, bool) {
	return f.prefilter.neededByte(sample)
}

// Clone returns a filter for another goroutine, with f's definition and
// options and the state of its date detection. It shares the compiled
// regexes and the DNS cache with f, and starts with an empty multi-line
// buffer and <F-MLFID> cache.
func (f *Filter) Clone() *Filter {
	return &Filter{
		useDNS:      f.useDNS,
		rawHost:     f.rawHost,
		checkAll:    f.checkAll,
		journal:     f.journal,
		maxLines:    f.maxLines,
		log:         f.log,
		resolver:    f.resolver,
		dates:       f.dates.Clone(),
		warnings:    f.warnings,
		pref:        f.pref,
		fail:        f.fail,
		ignore:      f.ignore,
		earlyIgnore: f.earlyIgnore,
		prefilter:   f.prefilter.clone(),
		lastDate:    f.lastDate,
		mlf:         newTTLCache[*failState](mlfCacheSize, mlfCacheTime),
		dns:         f.dns,
	}
}

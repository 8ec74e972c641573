package filter

import (
	"bytes"
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/dates"
)

// Result is what Process found in one line. Process resets it; its slices
// are reused from call to call and valid until the next call.
type Result struct {
	// Time is the line's time: its date, or for a line without one the
	// last date seen (if under a minute before now) or now.
	Time      time.Time
	DateFound bool
	// DateTemplate indexes the date template that matched, -1 when none
	// matched or the line was not parsed.
	DateTemplate int
	// Prefiltered is set when the line lacks text every regex needs, so
	// no regex ran.
	Prefiltered bool
	// PrefMatched is set when the prefregex matched.
	PrefMatched bool
	// Ignored is set when an ignoreregex dropped the line or a match;
	// IgnoreRegex is the first that did (-1 when none).
	Ignored     bool
	IgnoreRegex int
	// Failures found in the line. With a multi-line ID or a host name that
	// resolves to several addresses there may be more than one.
	Failures []Failure
	// Matched lists the failregexes that matched, including matches that
	// are no failure (<F-NOFAIL>) or whose ID is still unknown.
	Matched []int
}

func (r *Result) reset() {
	*r = Result{DateTemplate: -1, IgnoreRegex: -1, Failures: r.Failures[:0], Matched: r.Matched[:0]}
}

// Failure is one failure of an ID.
type Failure struct {
	// ID identifies who failed: usually the address, else what <F-ID>
	// captured, or a raw host name or invalid address kept as written.
	ID string
	// Addr is the client's address when known (it may differ from ID when
	// <F-ID> captured something else).
	Addr netip.Addr
	// Prefix is set when the regex captured a subnet (<SUBNET>, <CIDR>).
	Prefix netip.Prefix
	Time   time.Time
	// Regex indexes the failregex that matched.
	Regex int
	// NoFail marks a match that is no failure (<F-NOFAIL>, a successful
	// login); only CheckAllRegex reports such matches of multi-line IDs.
	NoFail bool
	// Fields holds the named groups that took part in the match
	// (lower-cased <F-*> names and fid, ip4, ip6, dns, mlfid...).
	Fields map[string]string
	// Users lists, sorted, the users a multi-line connection tried.
	Users []string
	// Lines are the matched log lines, dates included; a multi-line
	// failure carries the lines of earlier matches of its connection.
	Lines []string
	// Attempts is how many failures this one counts for.
	Attempts int
}

// bufLine is one line of the multi-line buffer: the line as read, and the
// span of its date, which regexes do not see.
type bufLine struct {
	orig     []byte
	cutStart int
	cutEnd   int
}

// failState is fail2ban's failure dict: the groups of a match, merged
// over the prefregex's and, for a multi-line ID, over earlier matches.
type failState struct {
	groups        map[string]string // groups that took part (Python: not None)
	users         []string          // set of users of a multi-line ID; nil: none
	matches       []string
	nofailMatches []string
	pending       bool // a failure seen before its ID was known
	fidTuple      bool // fid was built from <F-TUPLE_ID_n> groups
}

// Process runs line through the filter and fills res: Date, then Match.
// now is the current time: it resolves dates without a year, dates lines
// without a date and ages the multi-line and DNS caches. line may end in
// "\r\n"; it is not retained. Every line is dated, as fail2ban dates it,
// so the date detector's memory of where dates are is the same whatever
// the regexes need; dating first also makes the prefilter's test exact,
// which is cheaper than one that must allow for a date it has not found.
func (f *Filter) Process(line []byte, now time.Time, res *Result) {
	f.Date(line, now, &f.lineDate)
	f.Match(line, &f.lineDate, now, res)
}

// LineDate is what Date found in a line, for Match.
type LineDate struct {
	// Time is the line's time: its date, or for a line without one the
	// last date seen (if under a minute before now) or now.
	Time  time.Time
	Found bool
	// Template indexes the date template that matched, -1 when none did
	// or the filter looks for no date.
	Template int
	// The date text, which the regexes do not see.
	cutStart, cutEnd int
	// noDate is set when the date was looked for and not found.
	noDate bool
}

// Date finds the date of line and remembers it for the lines after it
// that have none; Process is Date then Match. Lines must reach Date one at
// a time and in the log's order, and their regexes may then run out of
// order or on other goroutines (see Independent). line may end in "\r\n";
// it is not retained. It fills in d, which a run over a log keeps in a
// slice, as copying it out costs as much as finding a date twice.
func (f *Filter) Date(line []byte, now time.Time, d *LineDate) {
	line = trimEOL(line)
	*d = LineDate{Template: -1}
	if f.journal {
		d.Time, d.Found = now, true
		return
	}
	var m dates.Match
	var ok bool
	if !f.dates.None() {
		ok = f.dates.Find(line, now, &m)
		if ok {
			d.Template = m.Template
		}
	}
	// A date text that does not parse (31 April) is cut out unless the
	// last date stands in for it, as in fail2ban.
	found := ok && m.End > m.Start && !m.Time.IsZero()
	bad := ok && m.End > m.Start && m.Time.IsZero()
	d.noDate = !f.dates.None() && (!ok || bad)
	switch {
	case found:
		d.Time, d.Found = m.Time, true
		d.cutStart, d.cutEnd = m.Start, m.End
		f.lastDate = m.Time
	case !f.lastDate.IsZero() && f.lastDate.After(now.Add(-recentDate)):
		// No date, or a template that allows none: the line belongs with
		// the last dated one.
		d.Time = f.lastDate
	case bad:
		d.Time = now
		d.cutStart, d.cutEnd = m.Start, m.End
	default:
		d.Time = now
	}
}

// Equal reports whether d and o date a line the same way.
func (d *LineDate) Equal(o *LineDate) bool {
	return d.Time.Equal(o.Time) && d.Time.Location() == o.Time.Location() && d.Found == o.Found &&
		d.Template == o.Template && d.cutStart == o.cutStart && d.cutEnd == o.cutEnd && d.noDate == o.noDate
}

// DateState is what Date carries from one line to the next: the date
// detector's state and the last date seen. With it, lines can be dated
// out of order and the results checked (see Equivalent).
type DateState struct {
	dates    dates.State
	lastDate time.Time
}

// SaveDateState copies f's date state into s, reusing s's memory.
func (f *Filter) SaveDateState(s *DateState) {
	f.dates.SaveState(&s.dates)
	s.lastDate = f.lastDate
}

// RestoreDateState puts f in date state s, which a clone of f (or f)
// saved.
func (f *Filter) RestoreDateState(s *DateState) {
	f.dates.RestoreState(&s.dates)
	f.lastDate = s.lastDate
}

// Equivalent reports whether filters in date states s and o date the
// same lines the same way from now on. When the state Date reached after
// a line in a guessed state is equivalent to the one it reaches from the
// true state, every later line is dated as from the true state.
func (s *DateState) Equivalent(o *DateState) bool {
	return s.dates.Equivalent(&o.dates) && s.lastDate.Equal(o.lastDate) && s.lastDate.Location() == o.lastDate.Location()
}

// Match runs the regexes over line, which Date dated, and fills res as
// Process does (Prefiltered set means no regex ran). now ages the
// multi-line and DNS caches.
func (f *Filter) Match(line []byte, date *LineDate, now time.Time, res *Result) {
	res.reset()
	line = trimEOL(line)
	if f.prefilter != nil && !f.prefilter.candidateCut(line, date.cutStart, date.cutEnd) {
		res.Time, res.DateFound, res.DateTemplate = date.Time, date.Found, date.Template
		res.Prefiltered = true
		return
	}
	f.run(line, date, now, res)
}

func (f *Filter) run(line []byte, date *LineDate, now time.Time, res *Result) {
	res.Time, res.DateFound, res.DateTemplate = date.Time, date.Found, date.Template
	f.noDate = date.noDate
	f.push(line, date.cutStart, date.cutEnd)
	f.find(res, now)
	if f.maxLines == 1 {
		// Do not keep the caller's buffer alive.
		f.one[0] = bufLine{}
		f.lines = nil
		if f.prefilter != nil {
			f.prefilter.release()
		}
	}
}

// trimEOL strips trailing "\r" and "\n" (Python's rstrip("\r\n")).
func trimEOL(line []byte) []byte {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	return line
}

// push adds a line to the multi-line buffer, dropping the oldest beyond
// maxlines. A single-line filter refers to the caller's line; a
// multi-line one keeps a copy.
func (f *Filter) push(line []byte, cutStart, cutEnd int) {
	if f.maxLines == 1 {
		f.one[0] = bufLine{orig: line, cutStart: cutStart, cutEnd: cutEnd}
		f.lines = f.one[:]
		return
	}
	f.lines = append(f.lines, bufLine{orig: bytes.Clone(line), cutStart: cutStart, cutEnd: cutEnd})
	if n := len(f.lines) - f.maxLines; n > 0 {
		f.lines = slices.Delete(f.lines, 0, n)
	}
}

// join writes the text regexes see for lines into dst: each line without
// its date, joined by "\n", with a final "\n".
func join(dst []byte, lines []bufLine) []byte {
	dst = dst[:0]
	for i, l := range lines {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, l.orig[:l.cutStart]...)
		dst = append(dst, l.orig[l.cutEnd:]...)
	}
	return append(dst, '\n')
}

// find runs the regexes over the buffer (filter.py findFailure).
func (f *Filter) find(res *Result, now time.Time) {
	org := f.lines
	f.buf = join(f.buf, org)
	buf := f.buf
	if f.earlyIgnore {
		if i := f.ignored(buf); i >= 0 {
			res.Ignored, res.IgnoreRegex = true, i
			return
		}
	}
	cur, fromContent := org, false
	f.prefOK = false
	if f.pref != nil {
		if !f.match(f.pref, buf) {
			return
		}
		res.PrefMatched, f.prefOK = true, true
		f.preSpans = append(f.preSpans[:0], f.m.spans...)
		if content, ok := f.prefGroup("content"); ok && content != "" {
			cur, fromContent = f.contentLines(content), true
			f.rebuilt = join(f.rebuilt, cur)
			buf = f.rebuilt
		}
	}
	rebuild := false
	// A single-line filter's regexes see the line less its date, whose
	// literals the prefilter has looked for: a regex whose literals are
	// missing need not run.
	skip := f.prefilter != nil && !fromContent
	for i, r := range f.fail {
		if rebuild {
			f.rebuilt = join(f.rebuilt, cur)
			buf, rebuild = f.rebuilt, false
		}
		if skip && !f.prefilter.mayMatch(i) || !f.match(r, buf) {
			continue
		}
		fail := f.groups(r, buf)
		matched, unmatched := f.splitLines(r, buf, org, cur, fromContent)
		if len(f.ignore) > 0 {
			if j := f.ignoredMatch(buf, matched); j >= 0 {
				if !res.Ignored {
					res.Ignored, res.IgnoreRegex = true, j
				}
				if !f.checkAll || f.maxLines > 1 {
					cur = unmatched
				}
				rebuild = true
				if !f.checkAll {
					break
				}
				continue
			}
		}
		res.Matched = append(res.Matched, i)
		if !f.checkAll || f.maxLines > 1 {
			cur, rebuild = unmatched, true
		}
		if !f.failure(res, i, r, fail, matched, now) || !f.checkAll {
			break
		}
	}
	if f.maxLines > 1 {
		f.lines = cur
	}
}

// match runs r, logging a timeout of the backtracking engine.
func (f *Filter) match(r *regex, buf []byte) bool {
	ok, err := f.m.match(r, buf)
	if err != nil {
		f.log.Warn("regex match failed", "regex", r.pattern, "err", err)
	}
	return ok
}

// ignored returns the first ignoreregex that matches buf, or -1.
func (f *Filter) ignored(buf []byte) int {
	for i, r := range f.ignore {
		if f.match(r, buf) {
			return i
		}
	}
	return -1
}

// ignoredMatch checks the ignoreregexes against a failregex's match: the
// whole buffer, or for a multi-line filter the matched lines only.
func (f *Filter) ignoredMatch(buf []byte, matched []bufLine) int {
	if f.maxLines > 1 {
		f.matchBuf = join(f.matchBuf, matched)
		buf = f.matchBuf
	}
	return f.ignored(buf)
}

// contentLines makes the prefregex's content the buffer's only line.
func (f *Filter) contentLines(content string) []bufLine {
	if f.maxLines > 1 {
		return []bufLine{{orig: []byte(content)}}
	}
	f.content = append(f.content[:0], content...)
	f.contentLine[0] = bufLine{orig: f.content}
	return f.contentLine[:]
}

// prefGroup returns a prefregex group of the current line.
func (f *Filter) prefGroup(name string) (string, bool) {
	for i, n := range f.pref.names {
		if n == name {
			if s, e := f.preSpans[2+2*i], f.preSpans[3+2*i]; s >= 0 {
				return string(f.buf[s:e]), true
			}
			return "", false
		}
	}
	return "", false
}

// groups collects the groups of r's match, merged over the prefregex's
// (the failregex's win, also when they took no part), with <F-ALT_*> and
// <F-TUPLE_*> applied (failregex.py _getGroupsWithAlt).
func (f *Filter) groups(r *regex, buf []byte) *failState {
	own := make(map[string]string, len(r.names))
	for i, n := range r.names {
		if v, ok := f.m.group(buf, i); ok {
			own[n] = v
		}
	}
	var fs *failState
	if r.has("mlfid") || f.prefOK && f.pref.has("mlfid") {
		fs = &failState{groups: own}
	} else {
		// Only a multi-line ID's state outlives the match.
		fs = &f.matchState
		*fs = failState{groups: own}
	}
	for _, g := range r.alt {
		if v := own[g.group]; v != "" && own[g.field] == "" {
			own[g.field] = v
		}
	}
	if len(r.tuple) > 0 {
		tuples := map[string][]*string{}
		for _, g := range r.tuple {
			t, ok := tuples[g.field]
			if !ok {
				if v, ok := own[g.field]; ok {
					t = append(t, &v)
				} else {
					t = append(t, nil)
				}
			}
			if v, ok := own[g.group]; ok {
				t = append(t, &v)
			} else {
				t = append(t, nil)
			}
			tuples[g.field] = t
		}
		for field, t := range tuples {
			own[field] = pythonTuple(t)
		}
		_, fs.fidTuple = tuples["fid"]
	}
	if f.prefOK {
		merged := make(map[string]string, len(own)+len(f.pref.names))
		for i, n := range f.pref.names {
			if n == "content" {
				continue
			}
			if s, e := f.preSpans[2+2*i], f.preSpans[3+2*i]; s >= 0 {
				merged[n] = string(f.buf[s:e])
			}
		}
		for _, n := range r.names {
			delete(merged, n)
		}
		maps.Copy(merged, own)
		fs.groups = merged
	}
	return fs
}

// splitLines divides the buffer's lines into those the match covers (less
// the lines <SKIPLINES> skipped) and the rest, which stay in the buffer
// (failregex.py Regex.search). A match in the prefregex's content covers
// the lines the content came from.
func (f *Filter) splitLines(r *regex, buf []byte, org, cur []bufLine, fromContent bool) (matched, unmatched []bufLine) {
	if len(org) <= 1 || fromContent {
		return org, nil
	}
	start, end := f.m.spans[0], f.m.spans[1]
	lineStart := bytes.LastIndexByte(buf[:min(start+1, len(buf))], '\n') + 1
	lineEnd := len(buf)
	if end > 0 {
		if k := bytes.IndexByte(buf[end-1:], '\n'); k >= 0 {
			lineEnd = end - 1 + k + 1
		}
	}
	first := bytes.Count(buf[:lineStart], []byte{'\n'})
	last := min(bytes.Count(buf[:lineEnd], []byte{'\n'}), len(cur))
	matched = slices.Clone(cur[first:last])
	unmatched = slices.Clone(cur[:first])
	if r.skiplines > 0 {
		n := 0
		for _, skipped := range f.skippedLines(r, buf) {
			for k := n; k < len(matched); k++ {
				if cutText(matched[k]) == skipped {
					unmatched = append(unmatched, matched[k])
					matched = slices.Delete(matched, k, k+1)
					n = k
					break
				}
			}
		}
	}
	return matched, append(unmatched, cur[last:]...)
}

// skippedLines returns the lines the <SKIPLINES> groups of r consumed.
func (f *Filter) skippedLines(r *regex, buf []byte) []string {
	var text strings.Builder
	for i, n := range r.names {
		if strings.HasPrefix(n, "skiplines") {
			if v, ok := f.m.group(buf, i); ok {
				text.WriteString(v)
			}
		}
	}
	return splitLinesPython(text.String())
}

// splitLinesPython splits s as Python's str.splitlines() does for "\n",
// "\r" and "\r\n".
func splitLinesPython(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return out
}

func cutText(l bufLine) string {
	return string(l.orig[:l.cutStart]) + string(l.orig[l.cutEnd:])
}

// failure turns a failregex match into failures (the rest of filter.py
// findFailure). It returns false when the line's processing stops there.
func (f *Filter) failure(res *Result, regexIndex int, r *regex, fs *failState, matched []bufLine, now time.Time) bool {
	lines := make([]string, len(matched))
	for i, l := range matched {
		lines[i] = string(l.orig)
	}
	mlfid, hasMLF := fs.groups["mlfid"]
	if hasMLF {
		fs = f.merge(mlfid, fs, lines, now)
		if fs.groups["nofail"] != "" && !f.checkAll {
			return false
		}
	} else {
		// groups made fs for this match: it holds no lines yet.
		fs.matches = lines
	}
	fid, hasFID := fs.groups["fid"]
	var ids []ident
	switch {
	case fs.has("ip4"):
		ids = f.addressIDs(fs, fs.groups["ip4"], onlyIPv4, fid, hasFID)
	case fs.has("ip6"):
		ids = f.addressIDs(fs, fs.groups["ip6"], onlyIPv6, fid, hasFID)
	case fs.has("dns"):
		host := fs.groups["dns"]
		switch {
		case f.rawHost && (!hasFID || fid == host):
			ids = []ident{{id: host}}
		case f.rawHost:
			ids = []ident{f.fidIdent(fs, fid)}
		default:
			ids = f.resolve(host, now)
		}
	case hasFID:
		ids = []ident{f.fidIdentAs(fs, fid)}
	case hasMLF:
		// The ID is not known yet: remember the failure for the match that
		// tells it.
		fs.pending = true
		return f.checkAll
	default:
		f.log.Error("failregex matched without a failure ID", "regex", r.pattern)
		return true
	}
	// A multi-line ID's state stays in the cache and changes with later
	// lines: its failures get copies. Any other state is this match's.
	fields, matches := fs.groups, fs.matches
	if hasMLF {
		fields, matches = maps.Clone(fields), slices.Clone(matches)
	}
	var users []string
	if fs.users != nil {
		users = slices.Sorted(slices.Values(fs.users))
	}
	for _, id := range ids {
		res.Failures = append(res.Failures, Failure{
			ID:       id.id,
			Addr:     id.addr,
			Prefix:   id.prefix,
			Time:     res.Time,
			Regex:    regexIndex,
			NoFail:   fs.groups["nofail"] != "",
			Fields:   fields,
			Users:    users,
			Lines:    matches,
			Attempts: len(matches),
		})
	}
	if len(ids) > 0 && f.noDate {
		f.warnNoDate(now)
	}
	return true
}

func (fs *failState) has(group string) bool {
	_, ok := fs.groups[group]
	return ok
}

// addressIDs returns the ID of a match with an ip4 or ip6 group: the
// address, or the fid when it differs (then the address is the failure's
// Addr).
func (f *Filter) addressIDs(fs *failState, text string, fam family, fid string, hasFID bool) []ident {
	cidr := -1
	if c, ok := fs.groups["cidr"]; ok && c != "" {
		if n, err := strconv.Atoi(c); err == nil {
			cidr = n
		}
	}
	ip := addressIdent(text, fam, cidr)
	if !hasFID || fid == text {
		return append(f.ids[:0], ip)
	}
	id := f.fidIdent(fs, fid)
	id.addr, id.prefix = ip.addr, ip.prefix
	return append(f.ids[:0], id)
}

// fidIdent returns the ID of an <F-ID> that differs from the address: raw
// with RawHost, else parsed like any address text.
func (f *Filter) fidIdent(fs *failState, fid string) ident {
	if f.rawHost || fs.fidTuple {
		return ident{id: fid}
	}
	return textIdent(fid)
}

// fidIdentAs returns the ID of a match with an <F-ID> and no address
// group: fail2ban keeps it raw, but an ID that is an address also gives
// the failure's Addr.
func (f *Filter) fidIdentAs(fs *failState, fid string) ident {
	id := f.fidIdent(fs, fid)
	if !id.addr.IsValid() && !fs.fidTuple {
		if a := textIdent(fid); a.addr.IsValid() {
			id.addr, id.prefix = a.addr, a.prefix
		}
	}
	return id
}

// resolve turns a host name into failure IDs (ipdns.py textToIp): an
// address as written, else with usedns yes or warn each address it
// resolves to.
func (f *Filter) resolve(host string, now time.Time) []ident {
	if a, ok := parseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), anyFamily); ok {
		a = a.Unmap()
		return []ident{{id: formatAddr(a), addr: a}}
	}
	if f.useDNS != "yes" && f.useDNS != "warn" {
		return nil
	}
	addrs, ok := f.dns.get(host, now)
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
		found, err := f.resolver.LookupIPAddr(ctx, host)
		cancel()
		for _, a := range found {
			if na, ok := netip.AddrFromSlice(a.IP); ok {
				addrs = append(addrs, na.Unmap())
			}
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		addrs = slices.Compact(addrs)
		if err != nil && len(addrs) == 0 {
			f.log.Warn("unable to find a corresponding IP address", "host", host, "err", err)
		}
		f.dns.set(host, addrs, now)
		if len(addrs) > 0 && f.useDNS == "warn" {
			f.log.Warn("determined IP using DNS lookup", "host", host, "addrs", addrs)
		}
	}
	ids := make([]ident, len(addrs))
	for i, a := range addrs {
		ids[i] = ident{id: formatAddr(a), addr: a}
	}
	return ids
}

// warnNoDate logs, at most once a day, that a failure came from a line
// without a usable date.
func (f *Filter) warnNoDate(now time.Time) {
	if now.Before(f.noDateLog) {
		return
	}
	f.noDateLog = now.Add(24 * time.Hour)
	f.log.Warn("found a match but no valid date/time; please set a datepattern")
}

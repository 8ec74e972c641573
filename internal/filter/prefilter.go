package filter

import (
	"bytes"
	"slices"
)

// prefilter rejects the lines of a single-line filter that no regex can
// match, by looking for the literals every match contains (see
// requiredLiterals). Most lines of a busy log fail that test, and it costs
// a few substring searches and no allocation.
//
// Each literal is searched for by its rarest byte, then compared whole:
// the search skips from one occurrence of that byte to the next, and a
// literal's common bytes (quotes, slashes, spaces) would stop it at every
// field of the line. Which bytes are rare the prefilter learns from the
// first lines it sees.
type prefilter struct {
	pref []need // of the prefregex, all required
	// common holds the clauses every failregex has, tested once; fail
	// the rest of each failregex's, of which a line needs all of one.
	common []need
	fail   [][]need
	// ignore holds the clauses of ignoreregexes that run before the
	// prefregex: a line that may match one is looked at whatever else.
	ignore [][]need

	needles []*needle // each literal once
	// Counts of the bytes of the first lines, until learnLines.
	counts  [256]int
	learned int
	// cur is the text of the line last cut.
	cur text
}

// needle is a literal with the position of the byte to search for.
type needle struct {
	text []byte
	rare int
}

// need is a clause as the prefilter tests it: one of its literals must be
// in the line.
type need []*needle

// learnLines is how many lines the prefilter counts bytes in.
const learnLines = 64

// newPrefilter builds the prefilter of a single-line filter, or returns
// nil when the regexes yield no literals to test. earlyIgnore lists the
// ignoreregexes when they run first.
func newPrefilter(pref *regex, fail, earlyIgnore []*regex) *prefilter {
	p := &prefilter{}
	var failClauses [][]clause
	for _, r := range fail {
		if len(r.clauses) == 0 {
			failClauses = nil
			break
		}
		failClauses = append(failClauses, r.clauses)
	}
	var prefClauses []clause
	if pref != nil {
		prefClauses = pref.clauses
	}
	if len(prefClauses) == 0 && len(failClauses) == 0 {
		return nil
	}
	for _, r := range earlyIgnore {
		if len(r.clauses) == 0 {
			return nil
		}
		p.ignore = append(p.ignore, p.needs(r.clauses))
	}
	p.pref = p.needs(prefClauses)
	common, rest := factorCommon(failClauses)
	p.common = p.needs(common)
	for _, cs := range rest {
		p.fail = append(p.fail, p.needs(cs))
	}
	p.chooseRare()
	return p
}

// factorCommon splits the clauses of several regexes into those all have,
// and the rest of each.
func factorCommon(sets [][]clause) (common []clause, rest [][]clause) {
	if len(sets) < 2 {
		return nil, sets
	}
	for _, c := range sets[0] {
		shared := true
		for _, cs := range sets[1:] {
			shared = shared && slices.ContainsFunc(cs, c.equal)
		}
		if shared {
			common = append(common, c)
		}
	}
	for _, cs := range sets {
		rest = append(rest, slices.DeleteFunc(slices.Clone(cs), func(c clause) bool { return slices.ContainsFunc(common, c.equal) }))
	}
	return common, rest
}

// needs turns clauses into needs, sharing the needles of equal literals.
func (p *prefilter) needs(cs []clause) []need {
	out := make([]need, 0, len(cs))
	for _, c := range cs {
		n := make(need, 0, len(c))
		for _, lit := range c {
			k := slices.IndexFunc(p.needles, func(nd *needle) bool { return bytes.Equal(nd.text, lit) })
			if k < 0 {
				k = len(p.needles)
				p.needles = append(p.needles, &needle{text: lit})
			}
			n = append(n, p.needles[k])
		}
		out = append(out, n)
	}
	return out
}

// learn counts the bytes of the first lines, then picks each needle's
// rarest byte.
func (p *prefilter) learn(line []byte) {
	for _, c := range line {
		p.counts[c]++
	}
	if p.learned++; p.learned == learnLines {
		p.chooseRare()
	}
}

// chooseRare points each needle at its rarest byte so far, the last of
// equals, and puts the needs whose rare bytes are rarest first: they are
// the likeliest to be missing, and the quickest to look for.
func (p *prefilter) chooseRare() {
	for _, nd := range p.needles {
		for i, c := range nd.text {
			if p.counts[c] <= p.counts[nd.text[nd.rare]] {
				nd.rare = i
			}
		}
	}
	weight := func(n need) int {
		w := 0
		for _, nd := range n {
			w += p.counts[nd.text[nd.rare]]
		}
		return w
	}
	byWeight := func(a, b need) int { return weight(a) - weight(b) }
	slices.SortStableFunc(p.pref, byWeight)
	slices.SortStableFunc(p.common, byWeight)
	for _, ns := range p.fail {
		slices.SortStableFunc(ns, byWeight)
	}
	for _, ns := range p.ignore {
		slices.SortStableFunc(ns, byWeight)
	}
}

// clone returns a copy for another goroutine.
func (p *prefilter) clone() *prefilter {
	if p == nil {
		return nil
	}
	c := *p
	// The needs point at p's needles: rebuild them around copies.
	copies := make(map[*needle]*needle, len(p.needles))
	c.needles = nil
	for _, nd := range p.needles {
		cp := *nd
		copies[nd] = &cp
		c.needles = append(c.needles, &cp)
	}
	remap := func(ns []need) []need {
		out := make([]need, len(ns))
		for i, n := range ns {
			for _, nd := range n {
				out[i] = append(out[i], copies[nd])
			}
		}
		return out
	}
	remapAll := func(sets [][]need) [][]need {
		out := make([][]need, len(sets))
		for i, ns := range sets {
			out[i] = remap(ns)
		}
		return out
	}
	c.pref, c.common = remap(p.pref), remap(p.common)
	c.fail, c.ignore = remapAll(p.fail), remapAll(p.ignore)
	c.cur = text{}
	return &c
}

// neededByte returns a byte of a literal every text the regexes may match
// holds, the rarest in sample; false when there is none, or when lines
// that may match an ignoreregex that runs first are to be looked at
// whatever they hold.
func (p *prefilter) neededByte(sample [][]byte) (byte, bool) {
	if p == nil || len(p.ignore) > 0 {
		return 0, false
	}
	var counts [256]int
	for _, line := range sample {
		for _, c := range line {
			counts[c]++
		}
	}
	sets := [][]need{p.pref, p.common}
	if len(p.fail) == 1 {
		sets = append(sets, p.fail[0])
	}
	var best byte
	found := false
	for _, ns := range sets {
		for _, n := range ns {
			if len(n) != 1 {
				continue // one of several literals
			}
			for _, c := range n[0].text {
				if !found || counts[c] < counts[best] {
					best, found = c, true
				}
			}
		}
	}
	return best, found
}

// cut makes line, with the date at line[start:end] cut out, the text
// candidateCut and mayMatch test.
func (p *prefilter) cut(line []byte, start, end int) {
	p.cur = text{line: line, cutStart: start, cutEnd: end}
}

// candidateCut reports whether some regex may match line once the date at
// line[start:end] is cut out.
func (p *prefilter) candidateCut(line []byte, start, end int) bool {
	p.cut(line, start, end)
	return p.check(&p.cur)
}

// mayMatch reports whether failregex i may match the text last cut. The
// caller has checked that the line is a candidate.
func (p *prefilter) mayMatch(i int) bool {
	return len(p.fail) == 0 || all(p.fail[i], &p.cur)
}

// release drops the reference to the caller's line.
func (p *prefilter) release() { p.cur = text{} }

func (p *prefilter) check(t *text) bool {
	if p.learned < learnLines {
		p.learn(t.line)
	}
	if anyOf(p.ignore, t) {
		return true
	}
	if !all(p.pref, t) || !all(p.common, t) {
		return false
	}
	return len(p.fail) == 0 || anyOf(p.fail, t)
}

// anyOf reports whether t may satisfy all needs of one of sets.
func anyOf(sets [][]need, t *text) bool {
	for _, ns := range sets {
		if all(ns, t) {
			return true
		}
	}
	return false
}

func all(ns []need, t *text) bool {
	for _, n := range ns {
		if !t.hasOne(n) {
			return false
		}
	}
	return true
}

// text is what the regexes of a single-line filter see of a line: the line
// without its date.
type text struct {
	line             []byte
	cutStart, cutEnd int
}

// hasOne reports whether t may contain one of the literals of n.
func (t *text) hasOne(n need) bool {
	for _, nd := range n {
		if t.contains(nd) {
			return true
		}
	}
	return false
}

func (t *text) contains(nd *needle) bool {
	if t.cutEnd <= t.cutStart {
		return nd.index(t.line, 0) >= 0
	}
	// An occurrence in the line counts unless the date overlaps it; the
	// cut may also make one around it.
	for from := 0; ; {
		i := nd.index(t.line, from)
		if i < 0 {
			return straddles(t.line, nd.text, t.cutStart, t.cutEnd)
		}
		if i+len(nd.text) <= t.cutStart || i >= t.cutEnd {
			return true
		}
		from = i + 1
	}
}

// straddles reports whether cutting line[start:end] out of line joins
// the text before and after it into lit: whether for some k, the line
// ends in lit[:k] before the cut and goes on with lit[k:] after it.
func straddles(line, lit []byte, start, end int) bool {
	if start == 0 || end >= len(line) {
		return false
	}
	before, after := line[start-1], line[end]
	hi := min(len(lit)-1, start) + 1 // k < hi
	for k := max(1, len(lit)-(len(line)-end)); k < hi; k++ {
		j := bytes.IndexByte(lit[k:hi], after)
		if j < 0 {
			return false
		}
		k += j
		if lit[k-1] == before && bytes.Equal(line[start-k:start], lit[:k]) && bytes.Equal(line[end:end+len(lit)-k], lit[k:]) {
			return true
		}
	}
	return false
}

// index returns the first position from on where hay has the needle, or
// -1.
func (nd *needle) index(hay []byte, from int) int {
	lit, rare := nd.text, nd.rare
	last := len(hay) - len(lit) + rare // the last place the rare byte can be
	for i := from + rare; i <= last; i++ {
		j := bytes.IndexByte(hay[i:last+1], lit[rare])
		if j < 0 {
			return -1
		}
		i += j
		if bytes.Equal(hay[i-rare:i-rare+len(lit)], lit) {
			return i - rare
		}
	}
	return -1
}

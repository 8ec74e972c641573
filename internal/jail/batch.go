package jail

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/source"
)

// Helpers bounds the goroutines that jails start to match part of a batch
// of lines in parallel: the jails of one process share one, sized to the
// processors they may use beside their own goroutines, so that busy jails
// do not crowd each other out with helpers. A nil *Helpers starts none.
type Helpers struct {
	tokens chan struct{}
}

// NewHelpers returns a Helpers allowing n helpers at a time; with n below
// 1, none.
func NewHelpers(n int) *Helpers {
	return &Helpers{tokens: make(chan struct{}, max(n, 0))}
}

func (h *Helpers) acquire() bool {
	if h == nil {
		return false
	}
	select {
	case h.tokens <- struct{}{}:
		return true
	default:
		return false
	}
}

func (h *Helpers) release() { <-h.tokens }

// minParallel is the fewest lines a batch must have for a helper to match
// part of it: below that, starting one costs more than it saves, and a
// line or two (a ban in the making) is handled at once.
const minParallel = 128

// chunkLines is how many lines the helper's part of a batch is claimed in.
// The jail's goroutine, once done with its own part, claims what the
// helper has not, so a helper the machine is slow to run delays a batch by
// a chunk at most, not by its whole part.
const chunkLines = 32

// Shares of a batch the helper is offered, in thousandths: it starts at
// helperShare and moves by shareStep towards the side that had to wait,
// as the jail's goroutine also dates every line.
const (
	helperShare = 600
	minShare    = 100
	maxShare    = 900
	shareStep   = 10
)

// matcher is the state of one goroutine matching lines: its filter (the
// jail's, or the helper's clone) and the failures it found.
type matcher struct {
	filter *filter.Filter
	res    filter.Result
	found  []lineFailure
}

// lineFailure is a failure the filter found in line index of a batch.
type lineFailure struct {
	index   int
	failure filter.Failure
}

// match runs the regexes over lines, dated by dates, whose first is line
// first of the batch.
func (m *matcher) match(lines []source.Line, dates []filter.LineDate, first int, now time.Time) {
	for i := range lines {
		m.filter.Match(lines[i].Text, &dates[i], lineTime(lines[i], now), &m.res)
		for _, f := range m.res.Failures {
			m.found = append(m.found, lineFailure{index: first + i, failure: f})
		}
	}
}

// helped is the helper's part of one batch, claimed chunk by chunk by the
// helper and by the jail's goroutine. A helper that starts after the jail
// took every chunk touches nothing but claimed.
type helped struct {
	lines    []source.Line
	dates    []filter.LineDate
	now      time.Time
	chunks   int32
	claimed  atomic.Int32
	done     atomic.Int32
	finished chan struct{} // receives when the last chunk is done
}

// claim matches the chunks of p that are left, and returns how many it
// matched.
func (m *matcher) claim(p *helped) int {
	n := 0
	for {
		c := p.claimed.Add(1) - 1
		if c >= p.chunks {
			return n
		}
		from := int(c) * chunkLines
		to := min(from+chunkLines, len(p.lines))
		m.match(p.lines[from:to], p.dates[from:to], from, p.now)
		n++
		if p.done.Add(1) == p.chunks {
			p.finished <- struct{}{}
		}
	}
}

// Lines runs a batch of log lines through the jail, in order, as Line
// runs each: a line's time is its Time, or now when that is zero (file
// lines carry their date in their text). It reports what it found
// through emit.
//
// With Options.Helpers, a batch of many lines and a filter whose regexes
// see each line alone (filter.Independent), a helper goroutine matches the
// first part of the batch while the jail's goroutine dates the rest and
// matches it; the failures are then counted in the order of their lines,
// so the outcome is Line's, line after line.
func (j *Jail) Lines(ctx context.Context, lines []source.Line, now time.Time, emit func(Event)) {
	if len(lines) < minParallel || !j.independent || !j.helpers.acquire() {
		for i := range lines {
			j.Line(ctx, lines[i].Text, lineTime(lines[i], now), emit)
		}
		return
	}
	defer j.helpers.release()
	if j.helper == nil {
		j.helper = &matcher{filter: j.filter.Clone()}
		j.self = &matcher{filter: j.filter}
		j.share = helperShare
	}
	n := len(lines)
	if cap(j.dates) < n {
		j.dates = make([]filter.LineDate, n)
	}
	dates := j.dates[:n]
	k := n * j.share / 1000
	// Lines are dated in order, on this goroutine: the date detector
	// carries state from line to line.
	for i := range k {
		j.filter.Date(lines[i].Text, lineTime(lines[i], now), &dates[i])
	}
	p := &helped{
		lines: lines[:k], dates: dates[:k], now: now,
		chunks: int32((k + chunkLines - 1) / chunkLines), finished: make(chan struct{}, 1),
	}
	j.helper.found = j.helper.found[:0]
	j.self.found = j.self.found[:0]
	go j.helper.claim(p)
	for i := k; i < n; i++ {
		j.filter.Date(lines[i].Text, lineTime(lines[i], now), &dates[i])
	}
	j.self.match(lines[k:], dates[k:], k, now)
	switch {
	case p.done.Load() == p.chunks:
		j.share = min(j.share+shareStep, maxShare)
	case j.self.claim(p) > 0:
		j.share = max(j.share-shareStep, minShare)
	}
	if p.done.Load() < p.chunks {
		<-p.finished // the chunk the helper is on
	}

	j.lines.Add(uint64(n))
	// Each matcher found its failures in line order, chunk by chunk; the
	// jail's goroutine found its own part's before the chunks it claimed.
	found := append(j.helper.found, j.self.found...)
	slices.SortStableFunc(found, func(a, b lineFailure) int { return cmp.Compare(a.index, b.index) })
	last := -1
	for i := range found {
		lf := &found[i]
		if lf.index != last {
			j.matched.Add(1)
			last = lf.index
		}
		j.failure(ctx, &lf.failure, lineTime(lines[lf.index], now), emit)
	}
	clear(found) // the failures' strings and maps
	clear(j.self.found)
	j.helper.found = found[:0]
}

func lineTime(l source.Line, now time.Time) time.Time {
	if !l.Time.IsZero() {
		return l.Time // a journal entry's own time
	}
	return now
}

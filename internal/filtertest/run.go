package filtertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/linereader"
)

// A run reads the log in batches of lines and takes each through two
// stages: the filter's Date, which must see the lines in order because
// the date detector remembers where it found the last date, then its
// Match. With a filter whose lines are independent, workers each take a
// batch, fill it with the next block of the log, and match it with a
// clone of the filter. The blocks are numbered in the log's order, and
// the batches are added to the report in that order, so that the report
// is the one a single goroutine writes. From a regular file, the workers
// read their blocks at the same time, each at the block's offset; from a
// stream, one after the other, under a lock. With more than one date
// template, a worker dates its batch in turn: while it holds the lock, or,
// from a file, once the batch before is dated.
//
// With a single date template, the workers date their batches
// themselves, each from where its own last batch left the detector rather
// than from where the previous batch did, which is known only when the
// batch is added to the report. The batch's first line is then dated
// again from the true state: if that gives the same date and a state
// equivalent to the worker's (see filter.DateState), the worker dated
// every line as the true state would have; if not, the batch is dated and
// matched again. With one template, the detector's state is where it
// found the last date, so a guess that reads the first line the same way
// is right from there on.

// batchSize is the size of the blocks the log is read in.
const batchSize = 256 << 10

// batch is a block of lines on its way through a run.
type batch struct {
	buf   []byte
	lines [][]byte
	// dates holds each line's date; skip marks the lines fail2ban-regex
	// does not test, empty or starting with "#".
	dates []filter.LineDate
	skip  []bool
	// dated is set when the lines were dated from the true state; else
	// firstDated is the index of the first line dated, -1 for none, and
	// afterFirst and final are the worker's date states after it and
	// after the last line.
	dated             bool
	firstDated        int
	afterFirst, final filter.DateState
	// now is the current time the batch was dated with.
	now time.Time
	// out is what Match found, for the report.
	out tally
}

// resizeDates makes room for the date of each line. The dates are not
// cleared: Date fills in each date it is given, and the dates of the
// lines that are skipped are never read.
func (b *batch) resizeDates() {
	b.dates = slices.Grow(b.dates[:0], len(b.lines))[:len(b.lines)]
}

// tally is a report's worth of results, for some lines.
type tally struct {
	lines, matched, ignored, missed int
	failHits, ignoreHits, dateHits  []int
	prefHits                        int
	// The lines the report may list, as indices in the batch: the
	// collector copies those it lists, and no more than it lists.
	matchedLines, missedLines []int
	ignoredLines              []int
	failures                  [][]Hit // verbose: under each failregex
	// hits are for the hit callback, with the index of their line in
	// the batch for its number in the log.
	hits []Hit
}

func (t *tally) reset() {
	clear(t.failHits)
	clear(t.ignoreHits)
	clear(t.dateHits)
	for i := range t.failures {
		t.failures[i] = t.failures[i][:0]
	}
	*t = tally{
		failHits:     t.failHits,
		ignoreHits:   t.ignoreHits,
		dateHits:     t.dateHits,
		failures:     t.failures,
		matchedLines: t.matchedLines[:0],
		missedLines:  t.missedLines[:0],
		ignoredLines: t.ignoredLines[:0],
		hits:         t.hits[:0],
	}
}

// run is one run over a log.
type run struct {
	// filter is the filter the run was given. Its date state is the true
	// one: lines are dated with it in order, by the goroutines reading
	// or by those adding batches to the report.
	filter *filter.Filter
	opts   Options
	hit    func(Hit) error
	rep    *Report
	now    func() time.Time
	// bufSize is the capacity of a batch's buffer.
	bufSize int
	// added counts the lines of the batches added to the report.
	added int
	// state and lineDate are scratch for settle.
	state    filter.DateState
	lineDate filter.LineDate
	// redated counts the batches whose guessed dates were wrong.
	redated int
}

func (r *run) newBatch() *batch {
	nfail := len(r.rep.FailHits)
	return &batch{
		buf: make([]byte, 0, r.bufSize),
		out: tally{
			failHits:   make([]int, nfail),
			ignoreHits: make([]int, len(r.rep.IgnoreHits)),
			dateHits:   make([]int, len(r.rep.DateHits)),
			failures:   make([][]Hit, nfail),
		},
	}
}

// prepare readies the lines just read into b for dating and matching.
func (r *run) prepare(b *batch) {
	b.now = r.now()
	b.skip = b.skip[:0]
	for _, line := range b.lines {
		b.skip = append(b.skip, len(line) == 0 || line[0] == '#')
	}
}

// A feed fills batches with the blocks of the log, numbered from 0 in the
// log's order.
type feed interface {
	// fill fills b with the next block, its lines dated if the feed was
	// made to date them, and returns the block's number. It returns
	// false at the end of the log, after a read error and once stop was
	// called.
	fill(b *batch) (int64, bool)
	stop()
	// err returns the read error that ended the log early, if any, and
	// truncated how many lines were cut to the maximum length; both are
	// for when fill is done.
	err() error
	truncated() int
}

// streamFeed reads the blocks of the log one after the other.
type streamFeed struct {
	run *run
	// date is set when fill dates the lines: the goroutine reading a
	// block is the only one that sees the blocks in order.
	date    bool
	stopped atomic.Bool
	// reading is held while a block is read (and dated).
	reading sync.Mutex
	blocks  *linereader.Blocks // guarded by reading
	next    int64              // guarded by reading
	lines   int                // guarded by reading: lines read, for errors
	readErr error              // guarded by reading
}

func (s *streamFeed) fill(b *batch) (int64, bool) {
	s.reading.Lock()
	defer s.reading.Unlock()
	if s.stopped.Load() {
		return 0, false
	}
	var err error
	if b.buf, b.lines, err = s.blocks.Next(b.buf, b.lines); err != nil {
		if !errors.Is(err, io.EOF) {
			s.readErr = fmt.Errorf("line %d: %w", s.lines+1, err)
		}
		s.stopped.Store(true)
		return 0, false
	}
	s.lines += len(b.lines)
	s.run.prepare(b)
	if s.date {
		s.run.date(s.run.filter, b)
	}
	k := s.next
	s.next++
	return k, true
}

func (s *streamFeed) stop()          { s.stopped.Store(true) }
func (s *streamFeed) err() error     { return s.readErr }
func (s *streamFeed) truncated() int { return s.blocks.Truncated() }

// fileFeed reads the blocks of a regular file at their offsets, each in
// the worker that fills a batch with it, without a lock.
type fileFeed struct {
	run    *run
	blocks *linereader.BlocksAt
	// next is the number of the next block to read.
	next atomic.Int64
	// turn is set when fill dates the lines, which it does in the
	// blocks' order: a token passes from block to block, the worker that
	// dates block k waiting for it in turn[k%len(turn)] and passing it
	// on in the slot of block k+1. There is a slot for each of the run's
	// batches, and blocks are read only into batches, so the blocks
	// waiting for their turn have a slot each.
	turn    []chan struct{}
	stopped atomic.Bool
	mu      sync.Mutex
	readErr error // guarded by mu
}

// newFileFeed returns a feed that reads blocks for a run of nbatch
// batches; it dates the lines when date is set.
func newFileFeed(r *run, blocks *linereader.BlocksAt, nbatch int, date bool) *fileFeed {
	f := &fileFeed{run: r, blocks: blocks}
	if date {
		f.turn = make([]chan struct{}, nbatch)
		for i := range f.turn {
			f.turn[i] = make(chan struct{}, 1)
		}
		f.turn[0] <- struct{}{}
	}
	return f
}

func (f *fileFeed) fill(b *batch) (int64, bool) {
	if f.stopped.Load() {
		return 0, false
	}
	k := f.next.Add(1) - 1
	if k >= f.blocks.Len() {
		return 0, false
	}
	var err error
	if b.buf, b.lines, err = f.blocks.Block(k, b.buf, b.lines); err != nil {
		// The block is filled with no lines all the same, so that
		// the blocks after it, read already, find their turn and
		// their place in the report.
		f.mu.Lock()
		if f.readErr == nil {
			f.readErr = err
		}
		f.mu.Unlock()
		f.stopped.Store(true)
	}
	f.run.prepare(b)
	if f.turn != nil {
		n := int64(len(f.turn))
		<-f.turn[k%n]
		f.run.date(f.run.filter, b)
		f.turn[(k+1)%n] <- struct{}{}
	}
	return k, true
}

func (f *fileFeed) stop()          { f.stopped.Store(true) }
func (f *fileFeed) err() error     { return f.readErr }
func (f *fileFeed) truncated() int { return f.blocks.Truncated() }

// date dates the lines of b with f, which is in the true date state.
func (r *run) date(f *filter.Filter, b *batch) {
	b.dated, b.firstDated = true, -1
	b.resizeDates()
	for i, line := range b.lines {
		if !b.skip[i] {
			f.Date(line, b.now, &b.dates[i])
		}
	}
}

// settle makes sure that the lines of b, which a worker dated from a guessed
// state, have the dates the true state gives them; truth is in the true
// state, and is left in the state after b.
func (r *run) settle(truth *filter.Filter, b *batch, res *filter.Result) {
	if b.dated || b.firstDated < 0 {
		return
	}
	k := b.firstDated
	truth.Date(b.lines[k], b.now, &r.lineDate)
	truth.SaveDateState(&r.state)
	if r.lineDate.Equal(&b.dates[k]) && r.state.Equivalent(&b.afterFirst) {
		truth.RestoreDateState(&b.final)
		return
	}
	b.dates[k] = r.lineDate
	for i := k + 1; i < len(b.lines); i++ {
		if !b.skip[i] {
			truth.Date(b.lines[i], b.now, &b.dates[i])
		}
	}
	b.dated = true
	r.redated++
	r.match(truth, b, false, res)
}

// match runs f's regexes over the lines of b and tallies the results in
// b.out. With guess set, it dates each line first, from the state f is
// in, and saves the date states settle checks; else the lines are dated.
func (r *run) match(f *filter.Filter, b *batch, guess bool, res *filter.Result) {
	out := &b.out
	out.reset()
	opts := r.opts
	if guess {
		b.dated, b.firstDated = false, -1
		b.resizeDates()
	}
	dateHits := templateCounter{hits: out.dateHits, template: -1}
	needed := newNeededScan(f, b, !opts.matchAll)
	for i, line := range b.lines {
		if b.skip[i] {
			continue
		}
		if guess {
			f.Date(line, b.now, &b.dates[i])
			if b.firstDated < 0 {
				b.firstDated = i
				f.SaveDateState(&b.afterFirst)
			}
		}
		out.lines++
		d := &b.dates[i]
		dateHits.add(d.Template)
		if !needed.in(line) {
			// Match would find the line prefiltered.
			out.missed++
			out.missedLines = appendBounded(out.missedLines, i, opts.PrintAllMissed)
			continue
		}
		f.Match(line, d, b.now, res)
		if res.PrefMatched {
			out.prefHits++
		}
		nofail := false
		for _, fl := range res.Failures {
			nofail = nofail || fl.NoFail
		}
		switch {
		case res.Ignored || nofail:
			// fail2ban-regex counts a match that is no failure as ignored.
			out.ignored++
			if res.IgnoreRegex >= 0 && res.IgnoreRegex < len(out.ignoreHits) {
				out.ignoreHits[res.IgnoreRegex]++
			}
			out.ignoredLines = appendBounded(out.ignoredLines, i, opts.PrintAllIgnored)
		case len(res.Matched) > 0:
			out.matched++
			out.matchedLines = appendBounded(out.matchedLines, i, opts.PrintAllMatched)
		default:
			out.missed++
			out.missedLines = appendBounded(out.missedLines, i, opts.PrintAllMissed)
		}
		for _, k := range res.Matched {
			out.failHits[k]++
		}
		for _, fl := range res.Failures {
			if opts.Verbose && fl.Regex >= 0 && fl.Regex < len(out.failures) {
				out.failures[fl.Regex] = append(out.failures[fl.Regex], Hit{Host: fl.ID, Time: fl.Time.Format("Mon Jan 02 15:04:05 2006")})
			}
			if r.hit != nil {
				out.hits = append(out.hits, Hit{Line: i, Time: fl.Time.Format(time.RFC3339), Host: fl.ID, Fields: fl.Fields, Regex: fl.Regex + 1})
			}
		}
	}
	dateHits.flush()
	if guess {
		f.SaveDateState(&b.final)
	}
}

// neededScan tells the lines of a batch that hold the filter's needed byte
// (see filter.NeededByte) from those that do not, which no regex matches.
// It looks for the byte through the batch's buffer, where the lines lie in
// order, from one occurrence to the next: where the byte is rare, as in
// most lines of a busy log, that is one quick pass over the batch rather
// than a search and a call to Match per line.
type neededScan struct {
	buf  []byte
	c    byte
	next int // the offset in buf of the next occurrence, len(buf) for none
	on   bool
}

// neededSample is how many lines of a batch choose the needed byte.
const neededSample = 16

func newNeededScan(f *filter.Filter, b *batch, on bool) neededScan {
	if !on {
		return neededScan{}
	}
	c, ok := f.NeededByte(b.lines[:min(len(b.lines), neededSample)])
	return neededScan{buf: b.buf, c: c, next: -1, on: ok}
}

// in reports whether line, a line of the batch after the last one asked
// about, may hold the needed byte.
func (s *neededScan) in(line []byte) bool {
	if !s.on || len(line) == 0 {
		return true
	}
	// Where line starts in buf, when it lies there.
	start := cap(s.buf) - cap(line)
	if start < 0 || start+len(line) > len(s.buf) || &s.buf[start] != &line[0] {
		return true
	}
	if s.next < start {
		if k := bytes.IndexByte(s.buf[start:], s.c); k >= 0 {
			s.next = start + k
		} else {
			s.next = len(s.buf)
		}
	}
	return s.next < start+len(line)
}

// templateCounter counts the lines of each date template in hits a run of
// lines at a time. Lines in a row mostly have the same template, and hits,
// a small slice, may share a cache line with another batch's: written on
// every line, it would be taken back and forth between the workers.
type templateCounter struct {
	hits        []int
	template, n int
}

func (c *templateCounter) add(template int) {
	if template != c.template {
		c.flush()
		c.template = template
	}
	c.n++
}

func (c *templateCounter) flush() {
	if c.template >= 0 && c.template < len(c.hits) {
		c.hits[c.template] += c.n
	}
	c.n = 0
}

// add adds a batch's results to the report and passes on its hits.
func (r *run) add(b *batch) error {
	rep, out, opts := r.rep, &b.out, r.opts
	first := r.added + 1
	r.added += len(b.lines)
	rep.Lines += out.lines
	rep.Matched += out.matched
	rep.Ignored += out.ignored
	rep.Missed += out.missed
	rep.PrefHits += out.prefHits
	for i, n := range out.failHits {
		rep.FailHits[i] += n
	}
	for i, n := range out.ignoreHits {
		rep.IgnoreHits[i] += n
	}
	for i, n := range out.dateHits {
		rep.DateHits[i] += n
	}
	for i, hits := range out.failures {
		rep.failures[i] = append(rep.failures[i], hits...)
	}
	rep.MatchedLines = appendLines(rep.MatchedLines, b.lines, out.matchedLines, opts.PrintAllMatched)
	rep.MissedLines = appendLines(rep.MissedLines, b.lines, out.missedLines, opts.PrintAllMissed)
	rep.IgnoredLines = appendLines(rep.IgnoredLines, b.lines, out.ignoredLines, opts.PrintAllIgnored)
	if r.hit != nil {
		for _, h := range out.hits {
			h.Line += first
			if err := r.hit(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequential runs everything on the calling goroutine, from a feed that
// dates the lines.
func (r *run) sequential(in feed) error {
	b := r.newBatch()
	var res filter.Result
	for {
		if _, ok := in.fill(b); !ok {
			return in.err()
		}
		r.match(r.filter, b, false, &res)
		if err := r.add(b); err != nil {
			return err
		}
	}
}

// parallel runs workers that each take a free batch, fill it from in,
// match it and hand it in. The worker that hands in the batch the report
// waits for adds it to the report, and the batches handed in after it, as
// far as they follow each other, so that adding them wakes no goroutine
// of its own. A fixed set of nbatch batches circulates, which bounds the
// memory a run takes, and the batches handed in wait in a ring of nbatch
// slots: a worker numbers a batch only once it holds one, so the numbers
// given and not yet added are at most nbatch, with a slot each. The feed dates the
// lines unless the filter has a single date template, when the workers
// guess the dates and they are settled as the batches are added.
func (r *run) parallel(in feed, workers, nbatch int) error {
	speculate := r.filter.NumDateTemplates() == 1
	var (
		free   = make(chan *batch, nbatch)
		handed = make([]atomic.Pointer[batch], nbatch)
		// adding is set while a worker adds batches to the report: it
		// guards the report, r.filter's date state when the workers
		// guess the dates, and addErr and res.
		adding atomic.Bool
		addErr error
		res    filter.Result
		// waiting is the number of the batch the report waits for.
		waiting atomic.Int64
		failed  atomic.Bool
		wg      sync.WaitGroup
	)
	for range nbatch {
		free <- r.newBatch()
	}
	slot := func(k int64) *atomic.Pointer[batch] { return &handed[k%int64(nbatch)] }
	addHanded := func() {
		for adding.CompareAndSwap(false, true) {
			for {
				k := waiting.Load()
				b := slot(k).Swap(nil)
				if b == nil {
					break
				}
				if addErr == nil {
					r.settle(r.filter, b, &res)
					if addErr = r.add(b); addErr != nil {
						failed.Store(true)
						in.stop()
					}
				}
				waiting.Store(k + 1)
				free <- b
			}
			adding.Store(false)
			// A worker that handed in the next batch after the loop
			// looked found adding set and left the batch to this one.
			if slot(waiting.Load()).Load() == nil {
				return
			}
		}
	}
	// Each worker clones the filter itself, so that the clone's memory,
	// which it writes on every line, comes from the allocator of the
	// processor the worker runs on rather than lying next to another
	// worker's clone, in a cache line both would keep taking from each
	// other (runs took 13% longer). They clone a clone of r.filter,
	// which feeds may be dating batches with.
	proto := r.filter.Clone()
	for range workers {
		wg.Go(func() {
			f := proto.Clone()
			var res filter.Result
			for {
				b := <-free
				k, ok := in.fill(b)
				if !ok {
					free <- b
					return
				}
				if !failed.Load() {
					r.match(f, b, speculate, &res)
				}
				slot(k).Store(b)
				addHanded()
			}
		})
	}
	wg.Wait()
	if addErr != nil {
		return addErr
	}
	return in.err()
}

// appendBounded keeps up to maxListed+1 lines unless all are wanted: one
// more than can be listed, so the report knows there were too many.
func appendBounded(list []int, line int, all bool) []int {
	if !all && len(list) > maxListed {
		return list
	}
	return append(list, line)
}

// appendLines copies the lines at indices picked to list, bounded as
// appendBounded bounds them.
func appendLines(list []string, lines [][]byte, picked []int, all bool) []string {
	if !all {
		picked = picked[:min(len(picked), max(0, maxListed+1-len(list)))]
	}
	for _, i := range picked {
		list = append(list, string(lines[i]))
	}
	return list
}

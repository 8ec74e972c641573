package filtertest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/linereader"
)

// A run reads the log in batches of lines and takes each through two
// stages: the filter's Date, which must see the lines in order because
// the date detector remembers where it found the last date, then its
// Match. With a filter whose lines are independent, each worker takes the
// next batch, reading it under a lock that keeps the batches in order, and
// matches it with a clone of the filter, and a collector adds the batches'
// results to the report in the log's order, so that the report is the one
// a single goroutine writes. With more than one date template, a worker
// dates its batch while it holds the lock.
//
// With a single date template, the workers date their batches too, each
// from where its own last batch left the detector rather than from where
// the previous batch did, which only the collector knows once it reaches
// the batch. The collector then dates the batch's first line again from
// the true state: if that gives the same date and a state equivalent to
// the worker's (see filter.DateState), the worker dated every line as the
// true state would have; if not, the collector dates and matches the
// batch again. With one template, the detector's state is where it found
// the last date, so a guess that reads the first line the same way is
// right from there on.

// batchSize is the size of the blocks the log is read in.
const batchSize = 512 << 10

// batch is a block of lines on its way through a run.
type batch struct {
	buf   []byte
	lines [][]byte
	// first is the number of the first line in the log.
	first int
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
	// done is signalled when out is complete.
	done chan struct{}
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
	hits                      []Hit   // for the hit callback
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
	// one: lines are dated with it in order, by the goroutine reading or
	// by the collector.
	filter *filter.Filter
	opts   Options
	hit    func(Hit) error
	rep    *Report
	blocks *linereader.Blocks
	now    func() time.Time
	// block is the size of the blocks the log is read in.
	block int
	// lines counts the lines read.
	lines int
	// state and lineDate are the collector's scratch date state and line
	// date.
	state    filter.DateState
	lineDate filter.LineDate
	// redated counts the batches whose guessed dates were wrong.
	redated int
}

func (r *run) newBatch() *batch {
	nfail := len(r.rep.FailHits)
	return &batch{
		buf:  make([]byte, 0, r.block),
		done: make(chan struct{}, 1),
		out: tally{
			failHits:   make([]int, nfail),
			ignoreHits: make([]int, len(r.rep.IgnoreHits)),
			dateHits:   make([]int, len(r.rep.DateHits)),
			failures:   make([][]Hit, nfail),
		},
	}
}

// read fills b with the next lines. It returns io.EOF at the end of the
// log.
func (r *run) read(b *batch) error {
	var err error
	b.buf, b.lines, err = r.blocks.Next(b.buf, b.lines)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = fmt.Errorf("line %d: %w", r.lines+1, err)
		}
		return err
	}
	b.first = r.lines + 1
	r.lines += len(b.lines)
	b.now = r.now()
	b.skip = b.skip[:0]
	for _, line := range b.lines {
		b.skip = append(b.skip, len(line) == 0 || line[0] == '#')
	}
	return nil
}

// date dates the lines of b with f, which is in the true date state.
func (r *run) date(f *filter.Filter, b *batch) {
	b.dated, b.firstDated = true, -1
	b.dates = append(b.dates[:0], make([]filter.LineDate, len(b.lines))...)
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
		b.dates = append(b.dates[:0], make([]filter.LineDate, len(b.lines))...)
	}
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
		if d.Template >= 0 && d.Template < len(out.dateHits) {
			out.dateHits[d.Template]++
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
				out.hits = append(out.hits, Hit{Line: b.first + i, Time: fl.Time.Format(time.RFC3339), Host: fl.ID, Fields: fl.Fields, Regex: fl.Regex + 1})
			}
		}
	}
	if guess {
		f.SaveDateState(&b.final)
	}
}

// add adds a batch's results to the report and passes on its hits.
func (r *run) add(b *batch) error {
	rep, out, opts := r.rep, &b.out, r.opts
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
			if err := r.hit(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequential runs everything on the calling goroutine.
func (r *run) sequential() error {
	b := r.newBatch()
	var res filter.Result
	for {
		if err := r.read(b); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		r.date(r.filter, b)
		r.match(r.filter, b, false, &res)
		if err := r.add(b); err != nil {
			return err
		}
	}
}

// parallel runs workers that each read the next batch of the log, under
// a lock that keeps batches in order, then date and match it, while a
// collector checks the batches' dates and adds them to the report in the
// order they were read. With more than one date template, the workers date
// a batch while they hold the lock. A fixed set of batches circulates,
// which bounds the memory a run takes.
func (r *run) parallel(workers int) error {
	speculate := r.filter.NumDateTemplates() == 1
	nbatch := 4 * workers
	var (
		free    = make(chan *batch, nbatch)
		ordered = make(chan *batch, nbatch)
		// done is set at the end of the log, on a read error and when
		// the collector fails, failed when the collector fails.
		done, failed atomic.Bool
		reading      sync.Mutex
		readErr      error // guarded by reading
		wg           sync.WaitGroup
	)
	for range nbatch {
		free <- r.newBatch()
	}
	// next reads the next batch into b and queues it for the collector.
	next := func(b *batch) bool {
		reading.Lock()
		defer reading.Unlock()
		if done.Load() {
			return false
		}
		if err := r.read(b); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			done.Store(true)
			return false
		}
		if !speculate {
			r.date(r.filter, b)
		}
		ordered <- b
		return true
	}
	// Clone before any worker runs: some date batches with r.filter.
	clones := make([]*filter.Filter, workers)
	for i := range clones {
		clones[i] = r.filter.Clone()
	}
	for _, f := range clones {
		wg.Go(func() {
			var res filter.Result
			for {
				b := <-free
				if !next(b) {
					free <- b
					return
				}
				if !failed.Load() {
					r.match(f, b, speculate, &res)
				}
				b.done <- struct{}{}
			}
		})
	}
	collected := make(chan error, 1)
	go func() {
		var (
			err error
			res filter.Result
		)
		for b := range ordered {
			<-b.done
			if err == nil {
				r.settle(r.filter, b, &res)
				if err = r.add(b); err != nil {
					failed.Store(true)
					done.Store(true)
				}
			}
			free <- b
		}
		collected <- err
	}()
	wg.Wait()
	close(ordered)
	if err := <-collected; err != nil {
		return err
	}
	return readErr
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

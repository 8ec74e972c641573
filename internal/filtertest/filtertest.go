// Package filtertest runs one filter over a log and reports what every
// regular expression matched, in the layout of fail2ban-regex, so that an
// admin can check a filter against real logs before enabling a jail.
package filtertest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/pinjail/pinjail/internal/filter"
	"github.com/pinjail/pinjail/internal/linereader"
)

// maxListed is how many missed or ignored lines the report lists unless told
// to print all, as fail2ban-regex does.
const maxListed = 20

// Options select what the run records and prints.
type Options struct {
	// Verbose lists every regex, also those with no hit, and under each
	// the address and time of every match.
	Verbose         bool
	PrintAllMatched bool
	PrintAllMissed  bool
	PrintAllIgnored bool
	// Now resolves dates without a year; time.Now when nil. It is
	// called for each block of the log, by the goroutines that read it,
	// which may be several at once.
	Now func() time.Time
	// Workers is how many goroutines run the regexes when the filter sees
	// each line on its own (filter.Filter.Independent); GOMAXPROCS when 0.
	// The report is the same whatever the number.
	Workers int
	// blockSize, when set, is the size of the blocks the log is read in,
	// which then cuts lines at half of it: tests make blocks small to
	// cross many.
	blockSize int
	// matchAll, for tests, has Match look at every line, even those
	// without the filter's needed byte (see neededScan).
	matchAll bool
}

// Hit is one failure found, as the --json output prints it.
type Hit struct {
	Line   int               `json:"line"`
	Time   string            `json:"time"`
	Host   string            `json:"host"`
	Fields map[string]string `json:"fields,omitempty"`
	Regex  int               `json:"failregex"`
}

// Report is the outcome of a run.
type Report struct {
	// Lines counts the lines tested: as in fail2ban-regex, empty lines
	// and lines starting with "#" are skipped. A line is ignored when an
	// ignoreregex dropped it or a failregex matched it as no failure
	// (<F-NOFAIL>), else matched when a failregex matched it, else
	// missed.
	Lines, Matched, Ignored, Missed int
	// Truncated counts lines longer than the reader's maximum.
	Truncated  int
	FailHits   []int
	IgnoreHits []int
	PrefHits   int
	DateHits   []int
	Elapsed    time.Duration

	// Listed lines, bounded unless the options ask for all.
	MatchedLines, MissedLines, IgnoredLines []string
	// Under each failregex (verbose): address and time of each match.
	failures [][]Hit
}

// Run reads the log from r through f. When hit is not nil it is called for
// every failure found (the --json output), in the log's order.
//
// With more than one worker and a filter whose lines are independent, the
// workers read a regular file at the same time, each block at its own
// offset, from the file's offset up to the size the file has when the run
// starts, and leave the offset where it was: lines appended during the run
// are not read, and a file truncated during the run is an error
// (io.ErrUnexpectedEOF). Otherwise r is read to its end.
func Run(r io.Reader, f *filter.Filter, opts Options, hit func(Hit) error) (*Report, error) {
	start := time.Now()
	run := newRun(f, opts, hit)
	block, maxLine := batchSize, 0
	if opts.blockSize > 0 {
		block, maxLine = opts.blockSize, opts.blockSize/2-1
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	run.bufSize = block
	var (
		in  feed
		err error
	)
	if workers <= 1 || !f.Independent() {
		in = &streamFeed{run: run, blocks: linereader.NewBlocks(r, maxLine), date: true}
		err = run.sequential(in)
	} else {
		nbatch, date := 4*workers, f.NumDateTemplates() != 1
		if file, ok := regularFile(r); ok {
			blocks := linereader.NewBlocksAt(file, file.Size(), block, maxLine)
			run.bufSize = blocks.BufferSize()
			in = newFileFeed(run, blocks, nbatch, date)
		} else {
			in = &streamFeed{run: run, blocks: linereader.NewBlocks(r, maxLine), date: date}
		}
		err = run.parallel(in, workers, nbatch)
	}
	if err != nil {
		return nil, err
	}
	run.rep.Truncated = in.truncated()
	run.rep.Elapsed = time.Since(start)
	return run.rep, nil
}

// newRun returns a run of f with an empty report.
func newRun(f *filter.Filter, opts Options, hit func(Hit) error) *run {
	r := &run{
		filter: f,
		opts:   opts,
		hit:    hit,
		rep: &Report{
			FailHits:   make([]int, len(f.FailRegexes())),
			IgnoreHits: make([]int, len(f.IgnoreRegexes())),
			DateHits:   make([]int, f.NumDateTemplates()),
			failures:   make([][]Hit, len(f.FailRegexes())),
		},
		now: opts.Now,
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// regularFile returns the rest of r, from its offset to its size, when r
// is a regular file, whose blocks can be read at their offsets.
func regularFile(r io.Reader) (*io.SectionReader, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false
	}
	return io.NewSectionReader(f, off, max(st.Size()-off, 0)), true
}

// Header describes the run's inputs for the "Running tests" block.
type Header struct {
	Filter      string // e.g. "filter file : sshd, basedir: /etc/fail2ban" or "line : <regex>"
	Ignore      string // ignoreregex given on the command line, if any
	MaxLines    int
	DatePattern string
	Log         string
}

// WriteText writes the report in fail2ban-regex's layout.
func (rep *Report) WriteText(w io.Writer, h Header, f *filter.Filter, opts Options) error {
	p := &printer{w: w}
	p.f("\nRunning tests\n=============\n\n")
	p.f("Use   failregex %s\n", h.Filter)
	if h.Ignore != "" {
		p.f("Use ignoreregex line : %s\n", h.Ignore)
	}
	if h.MaxLines > 1 {
		p.f("Use         maxlines : %d\n", h.MaxLines)
	}
	if h.DatePattern != "" {
		p.f("Use      datepattern : %s\n", h.DatePattern)
	}
	p.f("Use         log file : %s\n", h.Log)
	p.f("Use         encoding : UTF-8\n\n\nResults\n=======\n\n")

	if pref := f.PrefRegex(); pref != "" {
		p.f("Prefregex: %d total\n|  %s\n`-\n\n", rep.PrefHits, pref)
	}
	p.regexBlock("Failregex", f.FailRegexes(), rep.FailHits, rep.failures, opts.Verbose)
	p.regexBlock("Ignoreregex", f.IgnoreRegexes(), rep.IgnoreHits, nil, opts.Verbose)

	p.f("Date template hits:\n|- [# of hits] date format\n")
	for _, i := range dateOrder(rep.DateHits, opts.Verbose) {
		p.f("|  [%d] %s\n", rep.DateHits[i], f.DateTemplateName(i))
	}
	p.f("`-\n\n")
	p.f("Lines: %d lines, %d ignored, %d matched, %d missed\n", rep.Lines, rep.Ignored, rep.Matched, rep.Missed)
	p.f("[processed in %.2f sec]\n\n", rep.Elapsed.Seconds())
	if rep.Truncated > 0 {
		p.f("Note: %d line(s) longer than %d bytes were cut to that length.\n\n", rep.Truncated, linereader.DefaultMaxLine)
	}
	if opts.PrintAllMatched {
		p.lines("Matched", rep.MatchedLines, rep.Matched, true, "matched")
	}
	p.lines("Ignored", rep.IgnoredLines, rep.Ignored, opts.PrintAllIgnored, "ignored")
	p.lines("Missed", rep.MissedLines, rep.Missed, opts.PrintAllMissed, "missed")
	return p.err
}

// dateOrder lists the templates to print: by hits, most first; without
// verbose only those with hits, unless none had any.
func dateOrder(hits []int, verbose bool) []int {
	var idx []int
	for i, n := range hits {
		if n > 0 || verbose {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return hits[idx[a]] > hits[idx[b]] })
	return idx
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) regexBlock(title string, regexes []string, hits []int, failures [][]Hit, verbose bool) {
	total := 0
	for _, n := range hits {
		total += n
	}
	p.f("%s: %d total\n", title, total)
	if len(regexes) > 0 && (total > 0 || verbose) {
		p.f("|-  #) [# of hits] regular expression\n")
		for i, re := range regexes {
			if hits[i] == 0 && !verbose {
				continue
			}
			p.f("|  %2d) [%d] %s\n", i+1, hits[i], re)
			if verbose && i < len(failures) {
				for _, h := range failures[i] {
					p.f("|      %s  %s\n", h.Host, h.Time)
				}
			}
		}
		p.f("`-\n")
	}
	p.f("\n")
}

func (p *printer) lines(title string, lines []string, total int, all bool, flag string) {
	if total == 0 {
		return
	}
	if !all && total > maxListed {
		p.f("%s line(s): too many to print.  Use --print-all-%s to print all %d lines\n", title, flag, total)
		return
	}
	p.f("|- %s line(s):\n", title)
	for _, l := range lines {
		p.f("|  %s\n", l)
	}
	p.f("`-\n")
}

// JSONWriter returns a hit callback that writes one JSON object per line.
func JSONWriter(w io.Writer) func(Hit) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(h Hit) error { return enc.Encode(h) }
}

// LiteralFilterName describes a regex given on the command line.
func LiteralFilterName(re string) string {
	return "line : " + re
}

// FileFilterName describes a filter read from a file or the config dir.
func FileFilterName(name, basedir string) string {
	return "filter file : " + name + ", basedir: " + basedir
}

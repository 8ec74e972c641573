// Package file follows log files as they grow, through rotation and
// truncation, and hands their complete lines to a callback, a batch of
// lines (those of one read) at a time.
//
// A [Follower] reads every file matching a set of glob patterns, including
// files that appear later, on a single goroutine. inotify (through
// fsnotify) watches the files' directories, never the files, and only wakes
// the reader up; a ticker polls as a safety net, and alone with the
// "polling" backend. Each wake-up reads every file to its end.
//
// # Rotation
//
// A file is identified by its device and inode, and its path is checked
// (stat) after each read:
//
//   - Rename and create (logrotate's default, used on the Pexip reverse
//     proxy): the renamed file keeps being read through its open descriptor
//     until it has not grown for [Options.RotateGrace], because nginx writes
//     to it until it reopens its logs on SIGUSR1. Meanwhile the new file at
//     the path is read from its start. No line is lost, and lines of each
//     file are delivered in order.
//   - copytruncate: a file smaller than the read offset, or whose first line
//     changed (fail2ban compares the first line's MD5), is read again from
//     offset 0. Lines written between logrotate's copy and its truncation
//     are lost; that race is inherent to copytruncate.
//   - A file renamed to a name that also matches a pattern keeps being
//     followed under that name, from where it was, rather than read again.
//
// Two limits follow from looking at paths rather than being told about
// every write: a file created and rotated away again between two looks is
// never seen (with inotify the look follows within milliseconds, with
// polling within [Options.PollInterval]), and a writer that pauses longer
// than RotateGrace before writing again to a rotated file loses those
// writes.
//
// # Positions and guarantees
//
// Only "\n"-terminated lines are delivered; a partial line waits for its
// end. Lines longer than [Options.MaxLineBytes] are cut to that length (and
// counted), so memory stays bounded whatever the input. Bytes are passed
// through unchanged: NUL bytes and invalid UTF-8 are the filter's business.
//
// [Follower.Positions] reports, for each path, the end of the last line
// handed to the callback: a batch's end is published before the batch is
// handed over. So state saved from inside the callback, once the batch is
// handled, pairs with a position past it, and a position saved between
// calls neither loses nor repeats a line when restored with
// [Options.Start] (delivery is at least once: lines are repeated only if
// the process stops inside the callback). While a rotated
// file is still being drained, its path's position is the rotated file's:
// a restart then finds it again by inode in the same directory and drains
// it first, which may repeat lines of the new file (at least once, never
// lost). A saved position is used only if the file's first line still has
// the saved hash; otherwise the file is read from its start, and the
// caller drops lines older than its window.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pinjail/pinjail/internal/source"
)

// Defaults for the zero fields of [Options].
const (
	DefaultMaxLineBytes        = 64 << 10
	DefaultPollInterval        = time.Second
	DefaultPollingPollInterval = 250 * time.Millisecond
	DefaultRotateGrace         = 5 * time.Second
)

// readBufferBytes is the size of the read buffer. Large reads keep the
// syscall count low when a file grows fast.
const readBufferBytes = 256 << 10

// Path is one log path of a jail.
type Path struct {
	// Pattern is a file path, possibly with filepath.Match wildcards.
	Pattern string
	// Tail starts files found at startup without a saved position at
	// their end rather than their start (fail2ban's "logpath = x tail").
	Tail bool
}

// Options configure a [Follower]. The zero value follows with inotify and
// the default limits.
type Options struct {
	// Backend is the jail's backend: "", "auto", "pyinotify" and "gamin"
	// use inotify with polling as a safety net; "polling" only polls.
	Backend string
	// PollInterval is how often every file is checked even without a
	// notification: DefaultPollInterval with inotify,
	// DefaultPollingPollInterval when polling.
	PollInterval time.Duration
	// RotateGrace is how long a file that left its path (renamed or
	// deleted) is still read after it last grew; DefaultRotateGrace when
	// zero.
	RotateGrace time.Duration
	// MaxLineBytes bounds the bytes kept of a line before its newline;
	// DefaultMaxLineBytes when zero.
	MaxLineBytes int
	// Start holds the positions saved by an earlier run, keyed by path. A
	// position is used when the file at its path still has the saved
	// first-line hash and is at least Offset long, as fail2ban does;
	// otherwise the file is read from its start, after the rest of the
	// file the position was taken in if a rotation left that file in the
	// same directory (found by inode).
	Start map[string]Position
	// Logger receives rotations and errors; nil discards them.
	Logger *slog.Logger
}

// Follower follows the files matching a set of paths. Create it with
// [New] and run it with [Follower.Run]; the other methods may be called
// from any goroutine.
type Follower struct {
	paths   []Path
	notify  bool
	poll    time.Duration
	grace   time.Duration
	maxLine int
	log     *slog.Logger

	// The following fields belong to the goroutine in Run.
	buf     []byte
	batch   []source.Line          // the lines of one read, handed out together
	start   map[string]Position    // saved positions not used yet
	current map[string]*tailedFile // the file at each matched path
	failed  map[string]string      // paths that could not be opened, with the error
	watcher *fsnotify.Watcher

	running atomic.Bool
	lines   atomic.Uint64
	cut     atomic.Uint64
	rotated atomic.Uint64

	// mu guards the files slice, and the pub, pubSize and closed fields
	// of its elements, which Run's goroutine writes and the accessors
	// read; the other fields of the elements belong to Run's goroutine.
	mu    sync.Mutex
	files []*tailedFile // open files, in the order they were opened
}

// tailedFile is one open log file.
type tailedFile struct {
	path  string // the matched path the file is known under, or last was
	f     *os.File
	id    fileID
	split splitter // split.off is the read offset
	// committed is the end of the last line handed out.
	committed int64
	size      int64 // at the last look
	head      firstLine
	// draining is set once the file left its path; it is read until it
	// has not grown for the grace period.
	draining   bool
	lastGrowth time.Time
	closed     bool   // written under Follower.mu
	lastErr    string // last error logged, to log each error once

	pub     Position // guarded by Follower.mu
	pubSize int64    // guarded by Follower.mu
}

// New returns a Follower of the files matching paths.
func New(paths []Path, opts Options) (*Follower, error) {
	if len(paths) == 0 {
		return nil, errors.New("file: no log path")
	}
	fl := &Follower{
		paths:   make([]Path, len(paths)),
		poll:    opts.PollInterval,
		grace:   opts.RotateGrace,
		maxLine: opts.MaxLineBytes,
		log:     opts.Logger,
		start:   make(map[string]Position, len(opts.Start)),
		current: make(map[string]*tailedFile),
		failed:  make(map[string]string),
	}
	for i, p := range paths {
		if p.Pattern == "" {
			return nil, errors.New("file: empty log path")
		}
		if _, err := filepath.Match(p.Pattern, ""); err != nil {
			return nil, fmt.Errorf("file: log path %q: %w", p.Pattern, err)
		}
		fl.paths[i] = Path{Pattern: filepath.Clean(p.Pattern), Tail: p.Tail}
	}
	switch opts.Backend {
	case "", "auto", "pyinotify", "gamin":
		fl.notify = true
		if fl.poll <= 0 {
			fl.poll = DefaultPollInterval
		}
	case "polling":
		if fl.poll <= 0 {
			fl.poll = DefaultPollingPollInterval
		}
	default:
		return nil, fmt.Errorf("file: backend %q cannot follow files (want auto, pyinotify, gamin or polling)", opts.Backend)
	}
	if fl.grace <= 0 {
		fl.grace = DefaultRotateGrace
	}
	if fl.maxLine <= 0 {
		fl.maxLine = DefaultMaxLineBytes
	}
	if fl.log == nil {
		fl.log = slog.New(slog.DiscardHandler)
	}
	for path, pos := range opts.Start {
		fl.start[filepath.Clean(path)] = pos
	}
	// The buffer must hold a whole maximal line to find where tail mode
	// starts.
	fl.buf = make([]byte, max(readBufferBytes, fl.maxLine+1))
	return fl, nil
}

// Run follows the files, calling handle with their complete lines, until
// ctx is done; then it closes the files and returns nil. Each call hands
// over the lines of one read of one file, in order. It fails only when
// called twice. Run must not be called concurrently with itself.
func (fl *Follower) Run(ctx context.Context, handle func([]source.Line)) error {
	if !fl.running.CompareAndSwap(false, true) {
		return errors.New("file: Follower.Run called twice")
	}
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if fl.notify {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			fl.log.Warn("inotify unavailable, polling only", "err", err)
		} else {
			defer w.Close()
			fl.watcher = w
			events, errs = w.Events, w.Errors
		}
	}
	defer fl.closeAll()
	tick := time.NewTicker(fl.poll)
	defer tick.Stop()

	fl.rescan(true)
	fl.pass(ctx, handle)
	for {
		rescan := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			rescan = true
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if !fl.relevant(ev) {
				continue
			}
			rescan = ev.Has(fsnotify.Create | fsnotify.Rename | fsnotify.Remove)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// On an overflow events were lost: look at everything.
			rescan = true
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				fl.log.Warn("inotify", "err", err)
			}
		}
		// Fold the notifications queued meanwhile into one pass.
	coalesce:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					events = nil
					break coalesce
				}
				rescan = rescan || ev.Has(fsnotify.Create|fsnotify.Rename|fsnotify.Remove)
			case _, ok := <-errs:
				if !ok {
					errs = nil
					break coalesce
				}
				rescan = true
			default:
				break coalesce
			}
		}
		if rescan {
			fl.rescan(false)
		}
		fl.pass(ctx, handle)
	}
}

// relevant reports whether ev may concern a followed file. Writes to other
// files of the directory are ignored, except while a rotated file, whose
// new name may match no pattern, is being drained.
func (fl *Follower) relevant(ev fsnotify.Event) bool {
	if ev.Has(fsnotify.Create | fsnotify.Rename | fsnotify.Remove) {
		return true
	}
	for _, p := range fl.paths {
		if ok, _ := filepath.Match(p.Pattern, ev.Name); ok {
			return true
		}
	}
	for _, tf := range fl.files {
		if tf.draining {
			return true
		}
	}
	return false
}

// rescan looks for files matching the patterns that are not followed yet,
// and watches their directories. initial is set for the scan at startup,
// the only one where tail mode applies.
func (fl *Follower) rescan(initial bool) {
	for _, p := range fl.paths {
		matches, _ := filepath.Glob(p.Pattern) // the pattern was checked in New
		for _, path := range matches {
			if fl.current[path] == nil {
				fl.discover(path, initial && p.Tail)
			}
		}
		if initial && len(matches) == 0 {
			fl.log.Info("no log file matches yet; waiting for one", "path", p.Pattern)
		}
	}
	if fl.watcher != nil {
		fl.watchDirs()
	}
}

// watchDirs adds an inotify watch on each directory that holds or may hold
// matching files; a directory that was removed lost its watch and gets a
// new one when it comes back.
func (fl *Follower) watchDirs() {
	watched := fl.watcher.WatchList()
	for _, p := range fl.paths {
		dir := filepath.Dir(p.Pattern)
		dirs := []string{dir}
		if hasMeta(dir) {
			dirs, _ = filepath.Glob(dir)
		}
		for _, d := range dirs {
			if slices.Contains(watched, d) {
				continue
			}
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				continue
			}
			if err := fl.watcher.Add(d); err != nil {
				fl.logOnce(d, "cannot watch directory; polling it", err)
				continue
			}
			watched = append(watched, d)
			delete(fl.failed, d)
		}
	}
}

func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// discover starts following the file at path, unless it is already
// followed under another name.
func (fl *Follower) discover(path string, tail bool) {
	fi, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fl.logOnce(path, "cannot stat log file", err)
		}
		return
	}
	if !fi.Mode().IsRegular() {
		return
	}
	id := idOf(fi)
	for _, tf := range fl.files {
		if tf.id != id || tf.closed {
			continue
		}
		if tf.draining {
			// A rotated file renamed to a name that matches too: go
			// on from where it was.
			fl.log.Info("following renamed log file under its new name", "path", tf.path, "new", path)
			tf.draining = false
			tf.path = path
			fl.current[path] = tf
			fl.publish(tf)
		}
		return
	}
	tf, err := fl.open(path, tail)
	if err != nil {
		fl.logOnce(path, "cannot open log file", err)
		return
	}
	fl.current[path] = tf
}

// open opens the file at path and sets where reading starts: at the saved
// position if the file still is the one it was saved for, at the end in
// tail mode, at the start otherwise.
func (fl *Follower) open(path string, tail bool) (*tailedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	tf, err := fl.newTailed(path, f)
	if err != nil {
		return nil, err
	}
	start := int64(0)
	pos, saved := fl.start[path]
	delete(fl.start, path)
	switch {
	case saved && pos.FirstLineHash != "" && pos.FirstLineHash == tf.head.sum && pos.Offset <= tf.size:
		start = pos.Offset
	case saved && pos.FirstLineHash != "":
		fl.log.Info("log file changed since the saved position; reading it from the start", "path", path)
		// Added first, the rotated file is read first.
		fl.resumeRotated(path, pos)
	case tail && !saved:
		if start, err = tailStart(f, tf.size, fl.maxLine, fl.buf); err != nil {
			f.Close()
			return nil, err
		}
	}
	tf.split.reset(start)
	tf.committed = start
	fl.add(tf)
	delete(fl.failed, path)
	fl.log.Debug("following log file", "path", path, "offset", start, "hash", tf.head.sum)
	return tf, nil
}

// newTailed prepares following the open file f, known as path, from its
// start; f is closed on error.
func (fl *Follower) newTailed(path string, f *os.File) (*tailedFile, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	tf := &tailedFile{
		path:       path,
		f:          f,
		id:         idOf(fi),
		size:       fi.Size(),
		split:      splitter{maxLine: fl.maxLine},
		lastGrowth: time.Now(),
	}
	if err := tf.head.update(f, tf.size, fl.buf); err != nil {
		f.Close()
		return nil, err
	}
	return tf, nil
}

// add appends tf to the followed files.
func (fl *Follower) add(tf *tailedFile) {
	fl.mu.Lock()
	fl.files = append(fl.files, tf)
	fl.mu.Unlock()
	fl.publish(tf)
}

// resumeRotated looks in path's directory for the file a saved position
// was taken in, renamed by a rotation while pinjail was down, and drains it
// from that position.
func (fl *Follower) resumeRotated(path string, pos Position) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || idOf(fi).ino != pos.Inode {
			continue
		}
		old := filepath.Join(dir, e.Name())
		f, err := os.Open(old)
		if err != nil {
			return
		}
		hash, err := hashFile(f, fi.Size(), fl.buf)
		if err != nil || hash != pos.FirstLineHash || pos.Offset > fi.Size() {
			f.Close()
			return
		}
		tf, err := fl.newTailed(path, f)
		if err != nil {
			return
		}
		tf.draining = true
		tf.split.reset(pos.Offset)
		tf.committed = pos.Offset
		fl.add(tf)
		fl.log.Info("draining log file rotated while stopped", "path", path, "rotated", old, "offset", pos.Offset)
		return
	}
}

// pass reads every followed file to its end, oldest first, and retires
// drained files.
func (fl *Follower) pass(ctx context.Context, handle func([]source.Line)) {
	now := time.Now()
	// Files opened during the pass (a path's new file after a rotation)
	// are appended, and read in the same pass.
	for i := 0; i < len(fl.files) && ctx.Err() == nil; i++ {
		tf := fl.files[i]
		if tf.draining {
			fl.drain(ctx, tf, now, handle)
		} else {
			fl.follow(ctx, tf, handle)
		}
	}
	fl.mu.Lock()
	fl.files = slices.DeleteFunc(fl.files, func(tf *tailedFile) bool { return tf.closed })
	fl.mu.Unlock()
}

// follow reads the file at a path, starting over if it was truncated or
// rewritten, then checks whether the path still names it.
func (fl *Follower) follow(ctx context.Context, tf *tailedFile, handle func([]source.Line)) {
	fi, err := tf.f.Stat()
	if err != nil {
		fl.fileError(tf, "cannot stat log file", err)
		return
	}
	size := fi.Size()
	reason := ""
	if size < tf.split.off {
		reason = "truncated"
	} else if size > tf.split.off {
		rewritten, err := tf.head.rewritten(tf.f, fl.buf)
		if err != nil {
			fl.fileError(tf, "cannot read log file", err)
			return
		}
		if rewritten {
			reason = "first line changed"
		}
	}
	if reason != "" {
		fl.log.Info("log file truncated; reading it from the start", "path", tf.path, "reason", reason, "offset", tf.split.off, "size", size)
		fl.rotated.Add(1)
		tf.split.reset(0)
		tf.committed = 0
		tf.head = firstLine{}
	}
	tf.size = size
	if !tf.head.done {
		if err := tf.head.update(tf.f, size, fl.buf); err != nil {
			fl.fileError(tf, "cannot read log file", err)
			return
		}
	}
	fl.publish(tf)
	if _, err := fl.read(ctx, tf, handle); err != nil {
		fl.fileError(tf, "cannot read log file", err)
		return
	}

	fi, err = os.Stat(tf.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fl.log.Debug("log file left its path; draining it", "path", tf.path)
	case err != nil:
		fl.fileError(tf, "cannot stat log path", err)
		return
	case idOf(fi) != tf.id:
		fl.log.Info("log file rotated; draining the old one and reading the new one", "path", tf.path)
	default:
		tf.lastErr = ""
		return
	}
	fl.rotated.Add(1)
	tf.draining = true
	tf.lastGrowth = time.Now()
	delete(fl.current, tf.path)
	fl.discover(tf.path, false)
}

// drain reads a file that left its path, and closes it once it has not
// grown for the grace period.
func (fl *Follower) drain(ctx context.Context, tf *tailedFile, now time.Time, handle func([]source.Line)) {
	fi, err := tf.f.Stat()
	if err == nil {
		tf.size = fi.Size()
	}
	grew, err := fl.read(ctx, tf, handle)
	if grew {
		tf.lastGrowth = now
	}
	if err != nil || tf.size < tf.split.off || now.Sub(tf.lastGrowth) >= fl.grace {
		if err != nil {
			fl.log.Warn("cannot read rotated log file; dropping it", "path", tf.path, "err", err)
		}
		if tf.split.pending() {
			fl.log.Debug("rotated log file ends with an unterminated line; dropped", "path", tf.path)
		}
		tf.f.Close()
		fl.mu.Lock()
		tf.closed = true
		fl.mu.Unlock()
	}
}

// read hands the complete lines of tf from its read offset to its end to
// handle, and reports whether there was anything to read.
func (fl *Follower) read(ctx context.Context, tf *tailedFile, handle func([]source.Line)) (grew bool, err error) {
	for ctx.Err() == nil {
		n, err := tf.f.ReadAt(fl.buf, tf.split.off)
		if n > 0 {
			grew = true
			fl.deliver(tf, fl.buf[:n], handle)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return grew, nil
			}
			return grew, err
		}
	}
	return grew, nil
}

// deliver splits chunk, the bytes of tf at its read offset, into lines and
// hands them to handle in one batch.
func (fl *Follower) deliver(tf *tailedFile, chunk []byte, handle func([]source.Line)) {
	cut := tf.split.truncated
	fl.batch = fl.batch[:0]
	tf.split.feed(chunk, func(text []byte, end int64) {
		fl.batch = append(fl.batch, source.Line{Path: tf.path, Text: text, Offset: end})
	})
	tf.size = max(tf.size, tf.split.off)
	if c := tf.split.truncated - cut; c > 0 {
		fl.cut.Add(c)
	}
	if len(fl.batch) == 0 {
		fl.publish(tf)
		return
	}
	// The position moves past the batch before the callback sees it, so
	// that state saved from inside the callback (counts that include
	// these lines) pairs with a position that excludes them on resume.
	tf.committed = fl.batch[len(fl.batch)-1].Offset
	fl.publish(tf)
	handle(fl.batch)
	fl.lines.Add(uint64(len(fl.batch)))
}

// publish makes tf's position visible to Positions and Lag.
func (fl *Follower) publish(tf *tailedFile) {
	fl.mu.Lock()
	tf.pub = Position{Path: tf.path, Inode: tf.id.ino, Offset: tf.committed, FirstLineHash: tf.head.sum}
	tf.pubSize = tf.size
	fl.mu.Unlock()
}

func (fl *Follower) closeAll() {
	for _, tf := range fl.files {
		if !tf.closed {
			tf.f.Close()
		}
	}
}

// fileError logs err for tf unless it is the error logged last time.
func (fl *Follower) fileError(tf *tailedFile, msg string, err error) {
	if s := err.Error(); s != tf.lastErr {
		tf.lastErr = s
		fl.log.Warn(msg, "path", tf.path, "err", err)
	}
}

// logOnce logs err for path unless it is the error logged last time.
func (fl *Follower) logOnce(path, msg string, err error) {
	if s := err.Error(); s != fl.failed[path] {
		fl.failed[path] = s
		fl.log.Warn(msg, "path", path, "err", err)
	}
}

// Positions returns, for each followed path, the position just past the
// last line handed to the callback, ordered by path. While a rotated file
// is drained, its path's position is the rotated file's. Before Run it is
// empty.
func (fl *Follower) Positions() []Position {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	out := make([]Position, 0, len(fl.files))
	seen := make(map[string]bool, len(fl.files))
	// Files are in opening order: a path's drained file comes before its
	// new one.
	for _, tf := range fl.files {
		if tf.closed || seen[tf.pub.Path] {
			continue
		}
		seen[tf.pub.Path] = true
		out = append(out, tf.pub)
	}
	slices.SortFunc(out, func(a, b Position) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Lag returns how many bytes of the followed files, as large as they were
// at the last look, have not been delivered yet.
func (fl *Follower) Lag() int64 {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	var lag int64
	for _, tf := range fl.files {
		if !tf.closed && tf.pubSize > tf.pub.Offset {
			lag += tf.pubSize - tf.pub.Offset
		}
	}
	return lag
}

// LinesRead returns how many lines were handed to the callback.
func (fl *Follower) LinesRead() uint64 { return fl.lines.Load() }

// LinesTruncated returns how many of those lines were cut to MaxLineBytes.
func (fl *Follower) LinesTruncated() uint64 { return fl.cut.Load() }

// Rotations returns how many rotations and truncations were detected.
func (fl *Follower) Rotations() uint64 { return fl.rotated.Load() }

var _ source.Source = (*Follower)(nil)

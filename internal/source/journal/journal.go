// Package journal follows the systemd journal for the jails whose backend
// is "systemd", by running `journalctl --follow --output=json` and turning
// each entry into the line fail2ban makes of it:
// "HOSTNAME IDENT[PID]: MESSAGE", timed by the entry.
//
// journalctl rather than sd-journal keeps the binary free of cgo and of
// libsystemd's journal file format. The matches of the jail's filter
// (journalmatch) become journalctl arguments. journalctl must be systemd
// 236 or later (--output-fields).
//
// # Positions and guarantees
//
// [Reader.Cursor] is the cursor of the last entry handed to the callback;
// it moves past a batch of entries before the batch is handed over.
// Started with it, a Reader continues with the next entry, so a saved
// cursor neither loses nor repeats entries. Without one it starts at
// [Options.Since] (the jail's now − findtime, where fail2ban starts too),
// or with new entries only. A cursor is followed however old it is, where
// fail2ban starts at the later of its saved time and now − findtime: the
// caller drops lines older than its window. If journalctl exits, it is
// started again from the last cursor after a delay that doubles while it
// keeps failing; if it fails before any entry with a saved cursor, the
// cursor is dropped for Since.
package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pinjail/pinjail/internal/source"
)

// Name is the Line.Path of journal lines; fail2ban's database names the
// journal the same way.
const Name = "systemd-journal"

// Defaults for the zero fields of [Options].
const (
	DefaultCommand       = "journalctl"
	DefaultMaxEntryBytes = 1 << 20
	DefaultRestartDelay  = time.Second
	MaxRestartDelay      = time.Minute
)

// stopGrace is how long journalctl has to exit after SIGTERM before it
// is killed.
const stopGrace = 5 * time.Second

// maxBatch bounds the entries handed to the callback at once. A batch
// holds the entries journalctl had written when the first was read, up to
// this many.
const maxBatch = 256

// Options configure a [Reader]. The zero value follows new entries of the
// whole journal.
type Options struct {
	// Command is the journalctl program, looked up in PATH;
	// DefaultCommand when empty.
	Command string
	// Matches are the filter's journalmatch lines, such as
	// "_SYSTEMD_UNIT=sshd.service + _COMM=sshd".
	Matches []string
	// Args are more journalctl arguments, such as those of
	// [BackendArgs].
	Args []string
	// Cursor is the cursor saved by an earlier run: reading resumes after
	// its entry.
	Cursor string
	// Since is where reading starts without a cursor; zero starts with
	// the entries that come after startup.
	Since time.Time
	// MaxEntryBytes bounds one entry's JSON; longer entries are skipped.
	// DefaultMaxEntryBytes when zero.
	MaxEntryBytes int
	// RestartDelay is the first wait before starting journalctl again
	// after it exited; DefaultRestartDelay when zero.
	RestartDelay time.Duration
	// Logger receives journalctl's failures; nil discards them.
	Logger *slog.Logger
}

// Reader follows the journal. Create it with [New] and run it with
// [Reader.Run]; the other methods may be called from any goroutine.
type Reader struct {
	command  string
	args     []string // Args and the matches
	since    time.Time
	maxEntry int
	delay    time.Duration
	log      *slog.Logger

	// The following fields belong to the goroutine in Run.
	entry entry
	long  []byte // an entry longer than the read buffer
	// The batch being gathered: its entries' texts one after the other in
	// text, where each ends at its ends element, and its last cursor.
	batch []source.Line
	text  []byte
	ends  []int
	last  []byte

	running  atomic.Bool
	lines    atomic.Uint64
	skipped  atomic.Uint64
	restarts atomic.Uint64

	mu     sync.Mutex
	cursor []byte // guarded by mu
}

// New returns a Reader, or an error naming a journalmatch term that is
// not FIELD=VALUE.
func New(opts Options) (*Reader, error) {
	matches, err := matchArgs(opts.Matches)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	r := &Reader{
		command:  opts.Command,
		args:     append(append([]string(nil), opts.Args...), matches...),
		since:    opts.Since,
		maxEntry: opts.MaxEntryBytes,
		delay:    opts.RestartDelay,
		log:      opts.Logger,
		cursor:   []byte(opts.Cursor),
	}
	if r.command == "" {
		r.command = DefaultCommand
	}
	if r.maxEntry <= 0 {
		r.maxEntry = DefaultMaxEntryBytes
	}
	if r.delay <= 0 {
		r.delay = DefaultRestartDelay
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Cursor returns the cursor of the last entry handed to the callback, or
// the starting cursor if there was none.
func (r *Reader) Cursor() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.cursor)
}

// LinesRead returns how many entries were handed to the callback.
func (r *Reader) LinesRead() uint64 { return r.lines.Load() }

// EntriesSkipped returns how many entries could not be read: malformed or
// longer than MaxEntryBytes.
func (r *Reader) EntriesSkipped() uint64 { return r.skipped.Load() }

// Restarts returns how many times journalctl was started again.
func (r *Reader) Restarts() uint64 { return r.restarts.Load() }

// Run runs journalctl and calls handle with each entry until ctx is done,
// then stops journalctl and returns nil. It returns an error when the
// command cannot be found, or when called twice.
func (r *Reader) Run(ctx context.Context, handle func([]source.Line)) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("journal: Reader.Run called twice")
	}
	path, err := exec.LookPath(r.command)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	delay := r.delay
	for {
		started := time.Now()
		resumed := r.Cursor() != ""
		n, err := r.runOnce(ctx, path, handle)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 || time.Since(started) > MaxRestartDelay {
			delay = r.delay
		}
		if resumed && r.lines.Load() == 0 && !r.since.IsZero() {
			// The saved cursor may be what journalctl rejects (it
			// names an entry of another journal, or is garbled); the
			// entries that matter are after Since anyway.
			r.log.Warn("journalctl failed with the saved cursor; starting from the jail's find time", "since", r.since)
			r.mu.Lock()
			r.cursor = r.cursor[:0]
			r.mu.Unlock()
		}
		r.log.Warn("journalctl exited; restarting it", "err", err, "entries", n, "after", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, MaxRestartDelay)
		r.restarts.Add(1)
	}
}

// commandArgs returns journalctl's arguments, resuming after the cursor.
func (r *Reader) commandArgs() []string {
	args := []string{"--follow", "--output=json", "--output-fields=" + outputFields, "--all", "--no-pager", "--quiet"}
	switch cursor := r.Cursor(); {
	case cursor != "":
		args = append(args, "--after-cursor="+cursor, "--no-tail")
	case !r.since.IsZero():
		args = append(args, "--since=@"+strconv.FormatInt(r.since.Unix(), 10), "--no-tail")
	default:
		args = append(args, "--lines=0")
	}
	return append(args, r.args...)
}

// runOnce runs journalctl until it exits or ctx is done, and returns how
// many entries it delivered and why it ended.
func (r *Reader) runOnce(ctx context.Context, path string, handle func([]source.Line)) (int, error) {
	cmd := exec.Command(path, r.commandArgs()...)
	// Its own process group, so that stopping it also stops whatever it
	// runs (a wrapper script, a pager it should not start).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	out, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return 0, fmt.Errorf("journal: start %s: %w", path, err)
	}
	exited := make(chan struct{})
	stopOnCancel := context.AfterFunc(ctx, func() { stopGroup(cmd.Process.Pid, exited) })

	n, readErr := r.read(out, handle)
	out.Close()
	if readErr != nil {
		stopGroup(cmd.Process.Pid, exited)
	}
	waitErr := cmd.Wait()
	close(exited)
	stopOnCancel()
	if readErr != nil {
		return n, fmt.Errorf("journal: read journalctl output: %w", readErr)
	}
	if msg := bytes.TrimSpace(stderr.bytes()); len(msg) > 0 {
		return n, fmt.Errorf("journal: %s: %v: %s", path, waitErr, msg)
	}
	if waitErr == nil {
		waitErr = errors.New("exited")
	}
	return n, fmt.Errorf("journal: %s: %w", path, waitErr)
}

// stopGroup asks the process group pgid to terminate, and kills it if it
// has not exited after stopGrace.
func stopGroup(pgid int, exited <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	go func() {
		select {
		case <-exited:
		case <-time.After(stopGrace):
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
}

// read hands the entries journalctl writes to out to handle until out
// ends, and returns how many there were.
func (r *Reader) read(out io.Reader, handle func([]source.Line)) (int, error) {
	br := bufio.NewReaderSize(out, 64<<10)
	n := 0
	tooLong := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong && len(r.long)+len(line) <= r.maxEntry {
				r.long = append(r.long, line...)
			} else {
				tooLong = true
			}
			continue
		}
		switch {
		case tooLong:
			tooLong = false
			r.long = r.long[:0]
			r.skipped.Add(1)
			r.log.Warn("journal entry too long; skipped", "max", r.maxEntry)
		case len(r.long) > 0:
			line = append(r.long, line...)
			r.long = r.long[:0]
			fallthrough
		case len(line) > 0:
			if r.entryLine(line) {
				n++
			}
		}
		if len(r.batch) > 0 && (err != nil || len(r.batch) >= maxBatch || !lineBuffered(br)) {
			r.flush(handle)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}

// lineBuffered reports whether br holds a whole line of journalctl's
// output, which it can return without waiting for journalctl.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// entryLine decodes one line of journalctl's output and adds the entry to
// the batch; it reports whether there was an entry.
func (r *Reader) entryLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		// journalctl's own messages, such as "-- No entries --".
		if len(line) > 0 {
			r.log.Debug("journalctl", "output", string(line))
		}
		return false
	}
	if err := r.entry.parse(line); err != nil {
		r.skipped.Add(1)
		r.log.Warn("malformed journal entry; skipped", "err", err)
		return false
	}
	r.text = r.entry.appendLine(r.text)
	r.ends = append(r.ends, len(r.text))
	r.batch = append(r.batch, source.Line{Path: Name, Time: r.entry.time()})
	if cursor := r.entry.field(fieldCursor); len(cursor) > 0 {
		r.last = append(r.last[:0], cursor...)
	}
	return true
}

// flush hands the batch to handle, after moving the cursor past it.
func (r *Reader) flush(handle func([]source.Line)) {
	start := 0
	for i, end := range r.ends {
		r.batch[i].Text = r.text[start:end:end]
		start = end
	}
	if len(r.last) > 0 {
		r.mu.Lock()
		r.cursor = append(r.cursor[:0], r.last...)
		r.mu.Unlock()
	}
	handle(r.batch)
	r.lines.Add(uint64(len(r.batch)))
	r.batch, r.text, r.ends, r.last = r.batch[:0], r.text[:0], r.ends[:0], r.last[:0]
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf)
}

var _ source.Source = (*Reader)(nil)

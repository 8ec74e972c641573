// Package store keeps pinjail's state across restarts in one SQLite file:
// bans, to restore them on start, recognise repeat offenders for
// bantime.increment and report on them; where each jail stopped reading its
// logs; and the failures counted towards bans that have not happened yet.
//
// The model follows fail2ban's database (its bips, bans and logs tables)
// with a schema of its own. All instants are stored as unix milliseconds,
// ban lengths as whole seconds with -1 meaning permanent, and log lines and
// filter captures as JSON.
//
// The tables, whose columns schema.go documents:
//
//	bans             the latest ban of each ID in each jail: restored on start, counted for bantime.increment
//	ban_history      one row per ban, for reports
//	log_positions    where each jail stopped reading each log file
//	journal_cursors  where each jail stopped reading the systemd journal
//	failure_tickets  failures not yet enough for a ban, kept across restarts and crashes
//	schema_version   how many of this package's migrations the file has had
//
// The file runs in WAL mode with synchronous=NORMAL: a committed
// transaction survives the process being killed, though not necessarily a
// power cut (fail2ban, with synchronous=OFF, promises less). Writes go through a
// single connection, so they never contend for the lock; reads use a small
// pool of their own and see the last committed state. Group writes that
// happen together in a [Batch] to commit them in one transaction.
//
// pinjail must start even when its state is lost, so [Open] moves a file
// that is not a usable pinjail database aside, logs where it went, and
// starts with an empty one.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options configure a [Store]. The zero value is ready to use.
type Options struct {
	// Logger receives the warning about a database moved aside. Nil
	// discards logs.
	Logger *slog.Logger
	// Now is the clock for update times, Purge and corrupt-file names. Nil
	// means time.Now.
	Now func() time.Time
}

// Store is pinjail's persistent state. Its methods are safe for concurrent
// use.
type Store struct {
	log  *slog.Logger
	now  func() time.Time
	path string // "" when in memory

	writer *sql.DB // one connection: SQLite has one writer at a time anyway
	reader *sql.DB // the writer itself when in memory

	write        [numWriteStmts]*sql.Stmt // prepared on writer
	countInJail  *sql.Stmt                // prepared on reader
	countOverall *sql.Stmt                // prepared on reader

	banned *bannedIDs
}

// readConns bounds the read pool. Reads are short point lookups and scans;
// more connections than cores buys nothing.
const readConns = 4

// minPageSize is SQLite's smallest page size, so the smallest non-empty
// database file.
const minPageSize = 512

// walSizeLimit is the size the write-ahead log is cut back to after a
// checkpoint.
const walSizeLimit = 64 << 20

// busyTimeout is how long a statement waits for a lock held by another
// process (an operator's sqlite3 shell, say) before failing.
const busyTimeout = 5 * time.Second

// Open opens the database at path, creating it and its directory (mode
// 0700) if needed, and brings its schema up to date. A path of "" or
// ":memory:" gives a store that lives only as long as the process, for
// tests and replays.
//
// If the file is not a database, fails SQLite's quick_check, or holds a
// schema this version of pinjail does not know (another program's, or a
// newer pinjail's), Open renames it, with its -wal and -shm files, to
// path.corrupt-TIMESTAMP, logs a warning naming both paths, and starts
// afresh. Errors that say nothing about the file's content, such as
// permissions or another process holding a lock, are returned instead.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{log: opts.Logger, now: opts.Now, banned: newBannedIDs()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	ctx := context.Background()
	if path == "" || path == ":memory:" {
		if err := s.openMemory(ctx); err != nil {
			return nil, fmt.Errorf("store: open in-memory database: %w", err)
		}
		return s, nil
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.path = abs
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	err = s.openFile(ctx)
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		aside, moveErr := moveAside(abs, s.now())
		if moveErr != nil {
			return nil, fmt.Errorf("store: open %s: %w; moving it aside failed: %w", abs, err, moveErr)
		}
		s.log.Warn("store: database unusable, moved it aside and started an empty one; bans, histories and log positions in it are not restored",
			"path", abs, "moved_to", aside, "reason", corrupt.Error())
		err = s.openFile(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	return s, nil
}

// openMemory opens an in-memory database. Every connection to ":memory:"
// is a database of its own, so reads and writes share one connection, which
// must never be closed while the store is open.
func (s *Store) openMemory(ctx context.Context) error {
	db, err := sql.Open("sqlite", ":memory:?"+url.Values{"_foreign_keys": {"1"}}.Encode())
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	s.writer, s.reader = db, db
	err = s.prepareWriter(ctx, 0)
	if err == nil {
		err = s.prepareReader(ctx)
	}
	if err != nil {
		s.closeStmts()
		db.Close()
		return err
	}
	return nil
}

// openFile opens s.path. Errors that show the file's content is unusable
// are *corruptError; it leaves nothing open when it fails.
func (s *Store) openFile(ctx context.Context) error {
	// SQLite creates files with mode 0644 and gives -wal and -shm the main
	// file's mode; log lines and the addresses in them are not for everyone.
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// SQLite takes a file shorter than its smallest page for an empty
	// database, but it never writes one: such a file lost its content.
	if fi, err := os.Stat(s.path); err != nil {
		return err
	} else if size := fi.Size(); size > 0 && size < minPageSize {
		return &corruptError{reason: fmt.Sprintf("%d bytes, too short for an SQLite database", size)}
	}

	// journal_mode is not in the DSN: it is written to the file, which
	// must not change before check has found it to be ours.
	s.writer, err = sql.Open("sqlite", fileDSN(s.path, url.Values{
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		// A burst of bans can grow the log to hundreds of megabytes,
		// and SQLite keeps the file at its largest unless told.
		"_pragma": {fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)},
		// With one writer connection a deferred transaction cannot
		// deadlock on lock upgrade within this process, but another
		// process may be reading: take the write lock at BEGIN.
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)

	version, err := s.check(ctx)
	if err == nil {
		_, err = s.writer.ExecContext(ctx, `PRAGMA journal_mode = WAL`)
	}
	if err == nil {
		err = s.prepareWriter(ctx, version)
	}
	if err != nil {
		s.writer.Close()
		return classify(err)
	}

	s.reader, err = sql.Open("sqlite", fileDSN(s.path, url.Values{
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_query_only":   {"1"},
	}))
	if err == nil {
		s.reader.SetMaxOpenConns(readConns)
		s.reader.SetMaxIdleConns(readConns)
		err = s.prepareReader(ctx)
	}
	if err != nil {
		s.closeStmts()
		s.writer.Close()
		if s.reader != nil {
			s.reader.Close()
		}
		return classify(err)
	}
	return nil
}

// check verifies the file behind s.writer and returns its schema version.
func (s *Store) check(ctx context.Context) (int, error) {
	rows, err := s.writer.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return 0, fmt.Errorf("quick_check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, fmt.Errorf("quick_check: %w", err)
		}
		if line != "ok" && len(problems) < 3 {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("quick_check: %w", err)
	}
	if len(problems) > 0 {
		return 0, &corruptError{reason: fmt.Sprintf("quick_check: %q", problems)}
	}
	return schemaVersion(ctx, s.writer)
}

// prepareWriter migrates the schema from version and prepares the write
// statements.
func (s *Store) prepareWriter(ctx context.Context, version int) error {
	if err := migrate(ctx, s.writer, version); err != nil {
		return err
	}
	if version > 0 && version < len(migrations) {
		s.log.Info("store: upgraded database schema", "path", s.path, "from", version, "to", len(migrations))
	}
	for id, query := range writeSQL {
		st, err := s.writer.PrepareContext(ctx, query)
		if err != nil {
			s.closeStmts()
			return fmt.Errorf("prepare %q: %w", query, err)
		}
		s.write[id] = st
	}
	if err := s.banned.load(ctx, s.writer); err != nil {
		s.closeStmts()
		return err
	}
	return nil
}

func (s *Store) prepareReader(ctx context.Context) error {
	var err error
	if s.countInJail, err = s.reader.PrepareContext(ctx, countInJailSQL); err != nil {
		return fmt.Errorf("prepare %q: %w", countInJailSQL, err)
	}
	if s.countOverall, err = s.reader.PrepareContext(ctx, countOverallSQL); err != nil {
		return fmt.Errorf("prepare %q: %w", countOverallSQL, err)
	}
	return nil
}

func (s *Store) closeStmts() error {
	var errs []error
	for i, st := range s.write {
		if st != nil {
			errs = append(errs, st.Close())
			s.write[i] = nil
		}
	}
	for _, st := range []*sql.Stmt{s.countInJail, s.countOverall} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.countInJail, s.countOverall = nil, nil
	return errors.Join(errs...)
}

// Close closes the database. SQLite folds the write-ahead log back into the
// main file when the last connection closes.
func (s *Store) Close() error {
	errs := []error{s.closeStmts()}
	if s.reader != s.writer {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// fileDSN builds a URI for the driver. The file: form lets any path through,
// even one with '?' or '#' in it.
func fileDSN(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}
	return u.String()
}

// corruptError reports that a file's content is not a usable pinjail
// database.
type corruptError struct {
	reason string
	err    error
}

func (e *corruptError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return e.reason
}

func (e *corruptError) Unwrap() error { return e.err }

// classify wraps err in a *corruptError unless it says nothing about the
// file's content: a missing permission, a lock held elsewhere, a full disk,
// an I/O failure. Anything else SQLite reports while opening, checking,
// migrating or preparing means the file is damaged or foreign, and a stuck
// daemon would be worse than a fresh database.
func classify(err error) error {
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return err
	}
	var sqliteErr *sqlite.Error
	if !errors.As(err, &sqliteErr) {
		return err
	}
	switch sqliteErr.Code() & 0xff {
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
		sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_INTERRUPT,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_AUTH:
		return err
	}
	return &corruptError{err: err}
}

// moveAside renames path and its -wal and -shm companions to
// path.corrupt-TIMESTAMP (and -wal, -shm after that, so SQLite still pairs
// them if someone opens the moved file to recover what it can). It returns
// the new name of the main file.
func moveAside(path string, now time.Time) (string, error) {
	stamp := now.UTC().Format("20060102T150405Z")
	aside := path + ".corrupt-" + stamp
	for n := 1; ; n++ {
		if _, err := os.Lstat(aside); err != nil {
			break // free, or unreadable and Rename will say why
		}
		aside = fmt.Sprintf("%s.corrupt-%s.%d", path, stamp, n)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, err
		}
	}
	return aside, nil
}

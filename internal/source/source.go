// Package source defines what the log sources of the daemon hand to the
// jails: one [Line] per log record, delivered in batches to a callback by a
// [Source] that runs until its context ends.
//
// The implementations are [github.com/pinjail/pinjail/internal/source/file],
// which follows log files through rotation and truncation, and
// [github.com/pinjail/pinjail/internal/source/journal], which follows the
// systemd journal. Both deliver each record at least once: the position a
// source reports for persistence (a file offset, a journal cursor) never
// passes a record that has not been handed to the callback, so a crash
// repeats records rather than losing them. A source moves that position
// past a batch before handing the batch over, so that state the callback
// saves after handling the batch pairs with a position past it.
//
// Batches let the daemon pay once per batch, not once per line, for what
// does not depend on the line: reading the clock, taking the jail's lock,
// putting the resulting bans into effect.
package source

import (
	"context"
	"time"
)

// Line is one log record.
type Line struct {
	// Path names where the line came from: the log file's path, or the
	// journal's name for journal entries.
	Path string
	// Text is the record without its line terminator. It is only valid
	// during the callback that receives it: sources reuse the memory.
	Text []byte
	// Offset is the file offset just after the line's newline; resuming
	// there continues with the next line. It is 0 for journal entries.
	Offset int64
	// Time is the record's time when the source knows it (journal
	// entries). It is zero for file lines, whose time the filter finds in
	// Text.
	Time time.Time
}

// Source delivers log lines.
type Source interface {
	// Run calls handle with batches of lines, each batch holding at
	// least one line, in order per file, until ctx is done, and then
	// returns nil; it returns an error only when it cannot follow its logs
	// at all. A batch holds the lines that were ready together, so a line
	// is handed over as soon as it is read, never held back for more.
	// handle runs on Run's goroutine and must keep neither the slice nor
	// Line.Text after it returns.
	Run(ctx context.Context, handle func([]Line)) error
}

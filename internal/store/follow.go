package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Position is where a jail stopped reading a log file. On start the reader
// resumes at Offset only if the file still has the same Inode and
// FirstLineHash, as fail2ban does, since a rotated file starts afresh.
type Position struct {
	Path          string
	Inode         uint64
	Offset        int64
	FirstLineHash string // hex MD5 of the first line; "" until that line is complete
}

// Positions returns the positions saved for jail, ordered by path.
func (s *Store) Positions(ctx context.Context, jail string) ([]Position, error) {
	rows, err := s.reader.QueryContext(ctx,
		`SELECT path, inode, byte_offset, first_line_md5 FROM log_positions WHERE jail = ? ORDER BY path`, jail)
	if err != nil {
		return nil, fmt.Errorf("store: log positions of jail %s: %w", jail, err)
	}
	defer rows.Close()
	var out []Position
	for rows.Next() {
		var p Position
		var inode int64
		if err := rows.Scan(&p.Path, &inode, &p.Offset, &p.FirstLineHash); err != nil {
			return nil, fmt.Errorf("store: log positions of jail %s: %w", jail, err)
		}
		p.Inode = uint64(inode)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: log positions of jail %s: %w", jail, err)
	}
	return out, nil
}

// Cursor returns the journal cursor saved for jail, or "" if there is none.
func (s *Store) Cursor(ctx context.Context, jail string) (string, error) {
	var cursor string
	err := s.reader.QueryRowContext(ctx, `SELECT cursor FROM journal_cursors WHERE jail = ?`, jail).Scan(&cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: journal cursor of jail %s: %w", jail, err)
	}
	return cursor, nil
}

// Ticket is the failures of one ID in one jail that have not led to a ban
// yet.
type Ticket struct {
	ID          string
	First, Last time.Time // first and latest failure, stored to the millisecond
	Count       int
	Matches     []string // the log lines of the failures, the last few only
}

// Tickets returns the failure tickets saved for jail, ordered by ID.
func (s *Store) Tickets(ctx context.Context, jail string) ([]Ticket, error) {
	rows, err := s.reader.QueryContext(ctx,
		`SELECT id, first_at, last_at, failures, matches FROM failure_tickets WHERE jail = ? ORDER BY id`, jail)
	if err != nil {
		return nil, fmt.Errorf("store: failure tickets of jail %s: %w", jail, err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		var t Ticket
		var first, last int64
		var matches sql.RawBytes
		if err := rows.Scan(&t.ID, &first, &last, &t.Count, &matches); err != nil {
			return nil, fmt.Errorf("store: failure tickets of jail %s: %w", jail, err)
		}
		t.First, t.Last = time.UnixMilli(first), time.UnixMilli(last)
		if t.Matches, err = decodeMatches(matches); err != nil {
			return nil, fmt.Errorf("store: failure ticket of %s in jail %s: decode matches %q: %w", t.ID, jail, matches, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: failure tickets of jail %s: %w", jail, err)
	}
	return out, nil
}

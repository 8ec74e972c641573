package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// Batch collects writes for [Store.Apply] to commit in one transaction, so
// that a burst of bans costs one commit rather than one each. The zero value
// is an empty batch. A Batch copies what it is given, so the caller may
// reuse its slices at once; it is not safe for concurrent use.
//
// Invalid input, such as a ban without a jail, is reported by Apply, which
// then writes nothing.
type Batch struct {
	ops []func(*writeTx) error
}

// Len returns the number of writes in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b, keeping its memory for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}

// AddBan records a ban: it appends r to the history and makes it the
// jail's current ban of r.ID, replacing any earlier one.
func (b *Batch) AddBan(r BanRecord) {
	row, err := encodeBan(r)
	b.ops = append(b.ops, func(w *writeTx) error {
		if err != nil {
			return err
		}
		w.store.banned.add(row.id)
		if err := w.exec(stmtInsertHistory, row.jail, row.id, row.bannedAt, row.banSeconds, row.count, row.failures, row.fields, row.matches); err != nil {
			return fmt.Errorf("add ban of %s in jail %s: %w", row.id, row.jail, err)
		}
		if err := w.exec(stmtUpsertBan, row.jail, row.id, row.bannedAt, row.banSeconds, row.count, row.failures, row.fields); err != nil {
			return fmt.Errorf("add ban of %s in jail %s: %w", row.id, row.jail, err)
		}
		return nil
	})
}

// RemoveBan forgets id in jail: its current ban and its history, as
// fail2ban's unbanip does, so a later ban starts counting from one again.
func (b *Batch) RemoveBan(jail, id string) {
	b.ops = append(b.ops, func(w *writeTx) error {
		if err := w.exec(stmtDeleteBan, jail, id); err != nil {
			return fmt.Errorf("remove ban of %s in jail %s: %w", id, jail, err)
		}
		if err := w.exec(stmtDeleteHistory, jail, id); err != nil {
			return fmt.Errorf("remove ban of %s in jail %s: %w", id, jail, err)
		}
		return nil
	})
}

// RemoveAllBans forgets every ban and all ban history of jail, as
// fail2ban's "unban --all" does. The jail must be named: there is no
// wildcard, so that a missing name cannot wipe every jail.
func (b *Batch) RemoveAllBans(jail string) {
	b.ops = append(b.ops, func(w *writeTx) error {
		if jail == "" {
			return fmt.Errorf("remove all bans: no jail named")
		}
		if err := w.exec(stmtDeleteJailBans, jail); err != nil {
			return fmt.Errorf("remove all bans of jail %s: %w", jail, err)
		}
		if err := w.exec(stmtDeleteJailHistory, jail); err != nil {
			return fmt.Errorf("remove all bans of jail %s: %w", jail, err)
		}
		return nil
	})
}

// SavePositions records where jail stopped reading each file in ps,
// replacing what was saved for those paths. Other paths keep theirs.
func (b *Batch) SavePositions(jail string, ps []Position) {
	ps = slices.Clone(ps)
	b.ops = append(b.ops, func(w *writeTx) error {
		for _, p := range ps {
			if jail == "" || p.Path == "" {
				return fmt.Errorf("save position %q of jail %q: empty jail or path", p.Path, jail)
			}
			if err := w.exec(stmtUpsertPosition, jail, p.Path, int64(p.Inode), p.Offset, p.FirstLineHash, w.now); err != nil {
				return fmt.Errorf("save position of %s in jail %s: %w", p.Path, jail, err)
			}
		}
		return nil
	})
}

// SaveCursor records where jail stopped reading the systemd journal.
func (b *Batch) SaveCursor(jail, cursor string) {
	b.ops = append(b.ops, func(w *writeTx) error {
		if jail == "" || cursor == "" {
			return fmt.Errorf("save journal cursor %q of jail %q: empty jail or cursor", cursor, jail)
		}
		if err := w.exec(stmtUpsertCursor, jail, cursor, w.now); err != nil {
			return fmt.Errorf("save journal cursor of jail %s: %w", jail, err)
		}
		return nil
	})
}

// SaveTickets replaces jail's failure tickets with ts, whose IDs must be
// distinct.
func (b *Batch) SaveTickets(jail string, ts []Ticket) {
	rows, err := encodeTickets(ts)
	b.ops = append(b.ops, func(w *writeTx) error {
		if jail == "" {
			return fmt.Errorf("save failure tickets: no jail named")
		}
		if err != nil {
			return fmt.Errorf("save failure tickets of jail %s: %w", jail, err)
		}
		if err := w.exec(stmtDeleteJailTickets, jail); err != nil {
			return fmt.Errorf("save failure tickets of jail %s: %w", jail, err)
		}
		for _, r := range rows {
			if err := w.exec(stmtInsertTicket, jail, r.id, r.firstAt, r.lastAt, r.failures, r.matches); err != nil {
				return fmt.Errorf("save failure ticket of %s in jail %s: %w", r.id, jail, err)
			}
		}
		return nil
	})
}

// UpdateTickets changes jail's failure tickets: it deletes those of the
// dropped IDs, then adds or replaces the tickets in changed, whose IDs
// must be distinct. Saving what changed since the last save, rather than
// every ticket with SaveTickets, keeps a save cheap however many IDs are
// failing.
func (b *Batch) UpdateTickets(jail string, changed []Ticket, dropped []string) {
	rows, err := encodeTickets(changed)
	dropped = slices.Clone(dropped)
	b.ops = append(b.ops, func(w *writeTx) error {
		if jail == "" {
			return fmt.Errorf("update failure tickets: no jail named")
		}
		if err != nil {
			return fmt.Errorf("update failure tickets of jail %s: %w", jail, err)
		}
		for _, id := range dropped {
			if err := w.exec(stmtDeleteTicket, jail, id); err != nil {
				return fmt.Errorf("delete failure ticket of %s in jail %s: %w", id, jail, err)
			}
		}
		for _, r := range rows {
			if err := w.exec(stmtUpsertTicket, jail, r.id, r.firstAt, r.lastAt, r.failures, r.matches); err != nil {
				return fmt.Errorf("save failure ticket of %s in jail %s: %w", r.id, jail, err)
			}
		}
		return nil
	})
}

// Apply commits the writes in b, in order, in one transaction: all of them
// or, on error, none. It leaves b as it is; Reset it to reuse it.
func (s *Store) Apply(ctx context.Context, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	// Statements run without ctx's cancellation: given a context that can
	// end, the driver starts a goroutine per statement to watch it, which
	// cost a third of the time of a ban. ctx is checked between writes.
	w := writeTx{ctx: context.WithoutCancel(ctx), tx: tx, store: s, now: s.now().UnixMilli()}
	for _, op := range b.ops {
		err := ctx.Err()
		if err == nil {
			err = op(&w)
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// AddBan records one ban; see [Batch.AddBan].
func (s *Store) AddBan(ctx context.Context, r BanRecord) error {
	var b Batch
	b.AddBan(r)
	return s.Apply(ctx, &b)
}

// RemoveBan forgets id in jail; see [Batch.RemoveBan].
func (s *Store) RemoveBan(ctx context.Context, jail, id string) error {
	var b Batch
	b.RemoveBan(jail, id)
	return s.Apply(ctx, &b)
}

// RemoveAllBans forgets every ban of jail; see [Batch.RemoveAllBans].
func (s *Store) RemoveAllBans(ctx context.Context, jail string) error {
	var b Batch
	b.RemoveAllBans(jail)
	return s.Apply(ctx, &b)
}

// SavePositions records log positions; see [Batch.SavePositions].
func (s *Store) SavePositions(ctx context.Context, jail string, ps []Position) error {
	var b Batch
	b.SavePositions(jail, ps)
	return s.Apply(ctx, &b)
}

// SaveCursor records a journal cursor; see [Batch.SaveCursor].
func (s *Store) SaveCursor(ctx context.Context, jail, cursor string) error {
	var b Batch
	b.SaveCursor(jail, cursor)
	return s.Apply(ctx, &b)
}

// SaveTickets replaces jail's failure tickets; see [Batch.SaveTickets].
func (s *Store) SaveTickets(ctx context.Context, jail string, ts []Ticket) error {
	var b Batch
	b.SaveTickets(jail, ts)
	return s.Apply(ctx, &b)
}

// UpdateTickets changes jail's failure tickets; see [Batch.UpdateTickets].
func (s *Store) UpdateTickets(ctx context.Context, jail string, changed []Ticket, dropped []string) error {
	var b Batch
	b.UpdateTickets(jail, changed, dropped)
	return s.Apply(ctx, &b)
}

// writeTx is one transaction of [Store.Apply]. It binds each prepared
// statement to the transaction once, however many writes use it.
type writeTx struct {
	ctx   context.Context
	tx    *sql.Tx
	store *Store
	now   int64 // unix milliseconds, for updated_at columns
	bound [numWriteStmts]*sql.Stmt
}

func (w *writeTx) exec(id writeStmt, args ...any) error {
	st := w.bound[id]
	if st == nil {
		st = w.tx.StmtContext(w.ctx, w.store.write[id])
		w.bound[id] = st
	}
	_, err := st.ExecContext(w.ctx, args...)
	return err
}

// writeStmt names a statement in writeSQL.
type writeStmt int

const (
	stmtInsertHistory writeStmt = iota
	stmtUpsertBan
	stmtDeleteBan
	stmtDeleteHistory
	stmtDeleteJailBans
	stmtDeleteJailHistory
	stmtUpsertPosition
	stmtUpsertCursor
	stmtDeleteJailTickets
	stmtInsertTicket
	stmtUpsertTicket
	stmtDeleteTicket
	numWriteStmts
)

var writeSQL = [numWriteStmts]string{
	stmtInsertHistory: `INSERT INTO ban_history (jail, id, banned_at, ban_seconds, ban_count, failures, fields, matches)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	stmtUpsertBan: `INSERT INTO bans (jail, id, banned_at, ban_seconds, ban_count, failures, fields)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (jail, id) DO UPDATE SET banned_at = excluded.banned_at, ban_seconds = excluded.ban_seconds,
			ban_count = excluded.ban_count, failures = excluded.failures, fields = excluded.fields`,
	stmtDeleteBan:         `DELETE FROM bans WHERE jail = ? AND id = ?`,
	stmtDeleteHistory:     `DELETE FROM ban_history WHERE jail = ? AND id = ?`,
	stmtDeleteJailBans:    `DELETE FROM bans WHERE jail = ?`,
	stmtDeleteJailHistory: `DELETE FROM ban_history WHERE jail = ?`,
	stmtUpsertPosition: `INSERT INTO log_positions (jail, path, inode, byte_offset, first_line_md5, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (jail, path) DO UPDATE SET inode = excluded.inode, byte_offset = excluded.byte_offset,
			first_line_md5 = excluded.first_line_md5, updated_at = excluded.updated_at`,
	stmtUpsertCursor: `INSERT INTO journal_cursors (jail, cursor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (jail) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
	stmtDeleteJailTickets: `DELETE FROM failure_tickets WHERE jail = ?`,
	stmtInsertTicket: `INSERT INTO failure_tickets (jail, id, first_at, last_at, failures, matches)
		VALUES (?, ?, ?, ?, ?, ?)`,
	stmtUpsertTicket: `INSERT INTO failure_tickets (jail, id, first_at, last_at, failures, matches)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (jail, id) DO UPDATE SET first_at = excluded.first_at, last_at = excluded.last_at,
			failures = excluded.failures, matches = excluded.matches`,
	stmtDeleteTicket: `DELETE FROM failure_tickets WHERE jail = ? AND id = ?`,
}

type ticketRow struct {
	id              string
	firstAt, lastAt int64
	failures        int64
	matches         string
}

// encodeTickets encodes ts, stopping at the first that cannot be.
func encodeTickets(ts []Ticket) ([]ticketRow, error) {
	rows := make([]ticketRow, len(ts))
	for i, t := range ts {
		var err error
		if rows[i], err = encodeTicket(t); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func encodeTicket(t Ticket) (ticketRow, error) {
	if t.ID == "" {
		return ticketRow{}, fmt.Errorf("ticket without an ID")
	}
	if t.First.IsZero() || t.Last.IsZero() {
		return ticketRow{}, fmt.Errorf("ticket of %s: first or last failure time missing", t.ID)
	}
	js, err := encodeMatches(t.Matches)
	if err != nil {
		return ticketRow{}, fmt.Errorf("ticket of %s: encode matches: %w", t.ID, err)
	}
	return ticketRow{
		id:       t.ID,
		firstAt:  t.First.UnixMilli(),
		lastAt:   t.Last.UnixMilli(),
		failures: int64(t.Count),
		matches:  js,
	}, nil
}

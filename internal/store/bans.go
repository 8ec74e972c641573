package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Permanent is the BanTime of a ban that never ends, fail2ban's bantime = -1.
const Permanent time.Duration = -1

// BanRecord is one ban of one ID in one jail.
type BanRecord struct {
	Jail string
	ID   string // the banned IP address or prefix, as text
	// Time is when the ban started. It is stored to the millisecond.
	Time time.Time
	// BanTime is how long the ban lasts, stored to the second. Any
	// negative value means permanent and reads back as [Permanent].
	BanTime time.Duration
	// Count is how many times the ID has been banned in the jail, this
	// ban included. Values below 1 are stored as 1.
	Count    int
	Failures int               // failures that led to the ban
	Fields   map[string]string // values captured by the filter's <F-*> groups
	// Matches are the log lines behind the ban, the last few only.
	// [Store.ActiveBans] leaves them out; see [Store.BanMatches].
	Matches []string
}

// banRow is a BanRecord as stored.
type banRow struct {
	jail, id        string
	bannedAt        int64
	banSeconds      int64
	count           int64
	failures        int64
	fields, matches string
}

func encodeBan(r BanRecord) (banRow, error) {
	if r.Jail == "" || r.ID == "" {
		return banRow{}, fmt.Errorf("ban of %q in jail %q: empty jail or ID", r.ID, r.Jail)
	}
	if r.Time.IsZero() {
		return banRow{}, fmt.Errorf("ban of %s in jail %s: no ban time", r.ID, r.Jail)
	}
	row := banRow{
		jail:       r.Jail,
		id:         r.ID,
		bannedAt:   r.Time.UnixMilli(),
		banSeconds: -1,
		count:      max(int64(r.Count), 1),
		failures:   int64(r.Failures),
	}
	if r.BanTime >= 0 {
		row.banSeconds = int64(r.BanTime.Round(time.Second) / time.Second)
	}
	var err error
	if row.fields, err = encodeFields(r.Fields); err != nil {
		return banRow{}, fmt.Errorf("ban of %s in jail %s: encode fields: %w", r.ID, r.Jail, err)
	}
	if row.matches, err = encodeMatches(r.Matches); err != nil {
		return banRow{}, fmt.Errorf("ban of %s in jail %s: encode matches: %w", r.ID, r.Jail, err)
	}
	return row, nil
}

// banColumns are the columns scanBans reads, in order; history queries
// add matches.
const banColumns = `jail, id, banned_at, ban_seconds, ban_count, failures, fields`

// scanBans reads rows of banColumns, and matches after them if
// withMatches.
func scanBans(rows *sql.Rows, withMatches bool) ([]BanRecord, error) {
	defer rows.Close()
	var (
		out                       []BanRecord
		jail, id, fields, matches sql.RawBytes
		bannedAt, banSeconds      int64
		count, failures           int64
		lastJail                  string
	)
	dest := []any{&jail, &id, &bannedAt, &banSeconds, &count, &failures, &fields}
	if withMatches {
		dest = append(dest, &matches)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		// Restoring bans reads many rows of few jails: share the name.
		if string(jail) != lastJail {
			lastJail = string(jail)
		}
		r := BanRecord{
			Jail:     lastJail,
			ID:       string(id),
			Time:     time.UnixMilli(bannedAt),
			BanTime:  Permanent,
			Count:    int(count),
			Failures: int(failures),
		}
		if banSeconds >= 0 {
			r.BanTime = time.Duration(banSeconds) * time.Second
		}
		var err error
		if r.Fields, err = decodeFields(fields); err != nil {
			return nil, fmt.Errorf("ban of %s in jail %s: decode fields %q: %w", r.ID, r.Jail, fields, err)
		}
		if withMatches {
			if r.Matches, err = decodeMatches(matches); err != nil {
				return nil, fmt.Errorf("ban of %s in jail %s: decode matches %q: %w", r.ID, r.Jail, matches, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ActiveBans returns the bans still in force at now, in jail or, for "", in
// every jail, ordered by jail and ID. A ban is in force while its start plus
// its ban time is after now, or forever if permanent. These are the bans to
// restore on start; capping them to the jail's current maximum ban time is
// the caller's business.
//
// The records come without their matches, which would multiply the time a
// restore of many bans takes while only an action's <matches> tag wants
// them: [Store.BanMatches] reads them for one ban.
func (s *Store) ActiveBans(ctx context.Context, jail string, now time.Time) ([]BanRecord, error) {
	query := `SELECT ` + banColumns + ` FROM bans WHERE (ban_seconds < 0 OR banned_at + ban_seconds * 1000 > ?)`
	args := []any{now.UnixMilli()}
	if jail != "" {
		query += ` AND jail = ?`
		args = append(args, jail)
	}
	rows, err := s.reader.QueryContext(ctx, query+` ORDER BY jail, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: active bans: %w", err)
	}
	bans, err := scanBans(rows, false)
	if err != nil {
		return nil, fmt.Errorf("store: active bans: %w", err)
	}
	return bans, nil
}

// BanMatches returns the log lines behind the latest ban of id in jail, or
// nil if it has none or is not known.
func (s *Store) BanMatches(ctx context.Context, jail, id string) ([]string, error) {
	var matches []byte
	err := s.reader.QueryRowContext(ctx, `SELECT h.matches FROM bans b
		JOIN ban_history h ON h.jail = b.jail AND h.id = b.id AND h.banned_at = b.banned_at
		WHERE b.jail = ? AND b.id = ? ORDER BY h.rowid DESC LIMIT 1`, jail, id).Scan(&matches)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: matches of %s in jail %s: %w", id, jail, err)
	}
	m, err := decodeMatches(matches)
	if err != nil {
		return nil, fmt.Errorf("store: matches of %s in jail %s: decode %q: %w", id, jail, matches, err)
	}
	return m, nil
}

// HistoryQuery selects bans from the history. Zero fields select everything.
type HistoryQuery struct {
	Jail  string
	ID    string
	Since time.Time // bans that started at or after Since
	Limit int       // at most this many, the newest; 0 means no limit
}

// History returns the bans q selects, newest first, matches included.
// Unlike ActiveBans it includes bans that have ended, until Purge removes
// them.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]BanRecord, error) {
	var where []string
	var args []any
	if q.Jail != "" {
		where, args = append(where, `jail = ?`), append(args, q.Jail)
	}
	if q.ID != "" {
		where, args = append(where, `id = ?`), append(args, q.ID)
	}
	if !q.Since.IsZero() {
		where, args = append(where, `banned_at >= ?`), append(args, q.Since.UnixMilli())
	}
	query := `SELECT ` + banColumns + `, matches FROM ban_history`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY banned_at DESC, rowid DESC`
	if q.Limit > 0 {
		query, args = query+` LIMIT ?`, append(args, q.Limit)
	}
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: ban history: %w", err)
	}
	bans, err := scanBans(rows, true)
	if err != nil {
		return nil, fmt.Errorf("store: ban history: %w", err)
	}
	return bans, nil
}

const (
	countInJailSQL  = `SELECT ban_count, banned_at FROM bans WHERE jail = ? AND id = ?`
	countOverallSQL = `SELECT coalesce(sum(ban_count), 0), max(banned_at) FROM bans WHERE id = ?`
)

// BanCount returns how many times id has been banned in jail and when its
// latest ban started, from the latest ban kept for it, as fail2ban's
// bantime.increment reads it. With overall it sums the counts over every
// jail and takes the latest start of all (bantime.overalljails). An ID
// never banned, or forgotten by Purge or RemoveBan, has count 0 and a zero
// time.
func (s *Store) BanCount(jail, id string, overall bool) (count int, last time.Time, err error) {
	if !s.banned.mayHold(id) {
		return 0, time.Time{}, nil
	}
	var row *sql.Row
	if overall {
		row = s.countOverall.QueryRow(id)
	} else {
		row = s.countInJail.QueryRow(jail, id)
	}
	var bannedAt sql.NullInt64 // NULL: the overall sum found no rows
	err = row.Scan(&count, &bannedAt)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !bannedAt.Valid {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: ban count of %s in jail %s: %w", id, jail, err)
	}
	return count, time.UnixMilli(bannedAt.Int64), nil
}

// outdatedFactor is fail2ban's: a current-ban row is kept until the purge
// age plus three times its ban time have passed since the ban started, so
// the IDs banned longest are remembered longest.
const outdatedFactor = 3

// Purge forgets what is older than age, with fail2ban's dbpurgeage rules:
// current-ban rows of bans that started before now-age, unless permanent,
// and only once start + 3*bantime is also before now-age; history rows of
// bans that started before now-age, except the row of a ban still kept as
// current, which holds its matches; and failure tickets whose last failure
// is before now-age. Log positions and journal cursors are kept. It returns
// the number of rows removed.
func (s *Store) Purge(ctx context.Context, age time.Duration) (int, error) {
	if age < 0 {
		return 0, fmt.Errorf("store: purge: negative age %v", age)
	}
	cutoff := s.now().Add(-age).UnixMilli()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: purge: %w", err)
	}
	defer tx.Rollback()
	var removed int64
	for _, step := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM bans WHERE banned_at < ? AND ban_seconds >= 0 AND banned_at + ban_seconds * ? < ?`,
			[]any{cutoff, outdatedFactor * 1000, cutoff}},
		{`DELETE FROM ban_history WHERE banned_at < ? AND NOT EXISTS (SELECT 1 FROM bans b
			WHERE b.jail = ban_history.jail AND b.id = ban_history.id AND b.banned_at = ban_history.banned_at)`,
			[]any{cutoff}},
		{`DELETE FROM failure_tickets WHERE last_at < ?`, []any{cutoff}},
	} {
		res, err := tx.ExecContext(ctx, step.query, step.args...)
		if err != nil {
			return 0, fmt.Errorf("store: purge: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("store: purge: %w", err)
		}
		removed += n
	}
	ids, err := s.banned.read(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("store: purge: %w", err)
	}
	if err := s.banned.commit(tx, ids); err != nil {
		return 0, fmt.Errorf("store: purge: %w", err)
	}
	s.log.Debug("store: purged", "older_than", age, "rows", removed)
	return int(removed), nil
}

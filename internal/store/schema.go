package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] upgrades the schema from version i to version i+1, so
// len(migrations) is the version this package writes. Entries are never
// edited once released: a change to the schema is a new entry.
//
// The comments inside each CREATE statement are kept by SQLite, so they show
// up in `sqlite3 pinjail.db .schema` for whoever inspects a live file.
var migrations = []string{
	// Version 1.
	`
CREATE TABLE schema_version (
	version INTEGER NOT NULL  -- one row: the number of migrations applied
) STRICT;
INSERT INTO schema_version (version) VALUES (0);

CREATE TABLE bans (
	-- The latest ban of each ID in each jail, like fail2ban's bips. A row
	-- outlives its ban until Purge, so repeat offenders are recognised.
	-- Its matches are in its ban_history row, to keep this table, which
	-- is read whole on start, small.
	jail        TEXT    NOT NULL,
	id          TEXT    NOT NULL,             -- IP address or prefix, as text
	banned_at   INTEGER NOT NULL,             -- unix milliseconds
	ban_seconds INTEGER NOT NULL,             -- -1: permanent
	ban_count   INTEGER NOT NULL DEFAULT 1,   -- bans of this ID so far, this one included
	failures    INTEGER NOT NULL DEFAULT 0,   -- failures that led to this ban
	fields      TEXT    NOT NULL DEFAULT '{}', -- JSON object: the filter's <F-*> captures
	PRIMARY KEY (jail, id)
) STRICT, WITHOUT ROWID;
-- For BanCount over all jails. There is no index on banned_at: only the
-- hourly Purge filters on it, and scanning this narrow table then costs
-- less than updating another index on every ban.
CREATE INDEX bans_id ON bans (id);

CREATE TABLE ban_history (
	-- One row per ban, like fail2ban's bans table. Columns as in bans.
	jail        TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	banned_at   INTEGER NOT NULL,
	ban_seconds INTEGER NOT NULL,
	ban_count   INTEGER NOT NULL DEFAULT 1,
	failures    INTEGER NOT NULL DEFAULT 0,
	fields      TEXT    NOT NULL DEFAULT '{}',
	matches     TEXT    NOT NULL DEFAULT '[]' -- JSON array: the log lines behind the ban
) STRICT;
CREATE INDEX ban_history_jail_id ON ban_history (jail, id, banned_at);
CREATE INDEX ban_history_banned_at ON ban_history (banned_at);

CREATE TABLE log_positions (
	-- Where a jail stopped reading each log file.
	jail           TEXT    NOT NULL,
	path           TEXT    NOT NULL,
	inode          INTEGER NOT NULL,             -- uint64 stored as its int64 bit pattern
	byte_offset    INTEGER NOT NULL,
	first_line_md5 TEXT    NOT NULL DEFAULT '',  -- hex; '' while the first line is incomplete
	updated_at     INTEGER NOT NULL,             -- unix milliseconds
	PRIMARY KEY (jail, path)
) STRICT, WITHOUT ROWID;

CREATE TABLE journal_cursors (
	-- Where a jail stopped reading the systemd journal.
	jail       TEXT    NOT NULL PRIMARY KEY,
	cursor     TEXT    NOT NULL,
	updated_at INTEGER NOT NULL                  -- unix milliseconds
) STRICT, WITHOUT ROWID;

CREATE TABLE failure_tickets (
	-- Failures counted towards a ban that has not happened yet, so the
	-- counts survive a restart or a crash.
	jail     TEXT    NOT NULL,
	id       TEXT    NOT NULL,
	first_at INTEGER NOT NULL,                   -- unix milliseconds
	last_at  INTEGER NOT NULL,                   -- unix milliseconds
	failures INTEGER NOT NULL,
	matches  TEXT    NOT NULL DEFAULT '[]',      -- JSON array of log lines
	PRIMARY KEY (jail, id)
) STRICT, WITHOUT ROWID;
`,
}

// schemaVersion returns the version recorded in db: 0 for a database without
// tables. A database holding tables but no version, or a version this
// package does not know, is reported as corrupt.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var tables int
	var versioned bool
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return 0, fmt.Errorf("list tables: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list tables: %w", err)
		}
		tables++
		versioned = versioned || name == "schema_version"
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("list tables: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("list tables: %w", err)
	}
	if tables == 0 {
		return 0, nil
	}
	if !versioned {
		return 0, &corruptError{reason: fmt.Sprintf("%d tables but no schema_version table: not a pinjail database", tables)}
	}
	var version, count int
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version), -1), count(*) FROM schema_version`).Scan(&version, &count)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if count != 1 || version < 1 || version > len(migrations) {
		return 0, &corruptError{reason: fmt.Sprintf("schema version %d (%d rows), this pinjail knows 1 to %d", version, count, len(migrations))}
	}
	return version, nil
}

// migrate brings db from version from to the latest, one transaction per
// step so that a crash leaves a consistent, resumable state.
func migrate(ctx context.Context, db *sql.DB, from int) error {
	for v := from; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
	}
	return nil
}

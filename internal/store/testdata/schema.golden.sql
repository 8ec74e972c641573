CREATE TABLE schema_version (
	version INTEGER NOT NULL  -- one row: the number of migrations applied
) STRICT;
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

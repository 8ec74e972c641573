package store

import (
	"bytes"
	"database/sql"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// epoch is the tests' "now": a round instant so expiry arithmetic is easy
// to read.
var epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return epoch }

// openTemp opens a store in a new file under t.TempDir and closes it when
// the test ends.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pinjail.db")
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

// rawDB opens path with database/sql directly, to look at what Store wrote.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sub", "pinjail.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddBan(t.Context(), BanRecord{Jail: "sshd", ID: "192.0.2.1", Time: epoch, BanTime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Dir(path), os.ModeDir | 0o700},
		{filepath.Dir(filepath.Dir(path)), os.ModeDir | 0o700},
		{path, 0o600},
		{path + "-wal", 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal (it persists in the file)", mode)
	}
}

func TestConnectionPragmas(t *testing.T) {
	s, _ := openTemp(t)
	for _, db := range []*sql.DB{s.writer, s.reader} {
		for pragma, want := range map[string]int{
			"synchronous":  1, // NORMAL
			"foreign_keys": 1,
			"busy_timeout": int(busyTimeout.Milliseconds()),
		} {
			var got int
			if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("PRAGMA %s = %d, want %d", pragma, got, want)
			}
		}
	}
	var limit int
	if err := s.writer.QueryRow(`PRAGMA journal_size_limit`).Scan(&limit); err != nil || limit != walSizeLimit {
		t.Errorf("writer journal_size_limit = %d, %v; want %d", limit, err, walSizeLimit)
	}
	if _, err := s.reader.Exec(`DELETE FROM bans`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSchemaGolden pins the schema a new database gets, so that a change to
// it is deliberate and comes with a migration.
func TestSchemaGolden(t *testing.T) {
	_, path := openTemp(t)
	rows, err := rawDB(t, path).Query(`SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got bytes.Buffer
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			t.Fatal(err)
		}
		got.WriteString(stmt + ";\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "schema.golden.sql")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("schema differs from %s (run go test -update if the change is deliberate):\n%s", golden, got.String())
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pinjail.db")
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	want := BanRecord{Jail: "sshd", ID: "2001:db8::/64", Time: epoch, BanTime: time.Hour, Count: 2, Failures: 5,
		Matches: []string{"line one", "line two"}, Fields: map[string]string{"user": "root"}}
	var b Batch
	b.AddBan(want)
	b.SavePositions("sshd", []Position{{Path: "/var/log/auth.log", Inode: 42, Offset: 1234, FirstLineHash: "d41d8cd98f00b204e9800998ecf8427e"}})
	b.SaveCursor("sshd", "s=abc;i=1")
	b.SaveTickets("sshd", []Ticket{{ID: "192.0.2.9", First: epoch.Add(-time.Minute), Last: epoch, Count: 2}})
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Errorf("%s-wal left behind by Close", path)
	}

	s, err = Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bans, err := s.ActiveBans(ctx, "", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if history, err := s.History(ctx, HistoryQuery{}); err != nil || len(history) != 1 || !equalBan(history[0], want) {
		t.Errorf("after reopen History = %+v, %v; want [%+v]", history, err, want)
	}
	want.Matches = nil
	if len(bans) != 1 || !equalBan(bans[0], want) {
		t.Errorf("after reopen ActiveBans = %+v, want [%+v]", bans, want)
	}
	if ps, err := s.Positions(ctx, "sshd"); err != nil || len(ps) != 1 || ps[0].Offset != 1234 {
		t.Errorf("after reopen Positions = %+v, %v", ps, err)
	}
	if c, err := s.Cursor(ctx, "sshd"); err != nil || c != "s=abc;i=1" {
		t.Errorf("after reopen Cursor = %q, %v", c, err)
	}
	if ts, err := s.Tickets(ctx, "sshd"); err != nil || len(ts) != 1 || ts[0].Count != 2 {
		t.Errorf("after reopen Tickets = %+v, %v", ts, err)
	}
}

func TestMemory(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		t.Run(strings.TrimSpace(path+" "), func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(path, Options{Now: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Several writes and reads, concurrently: all must see one
			// database, not one per connection.
			done := make(chan error)
			for i := range 4 {
				go func() {
					done <- s.AddBan(ctx, BanRecord{Jail: "j", ID: string(rune('a' + i)), Time: epoch, BanTime: time.Hour})
				}()
			}
			for range 4 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			bans, err := s.ActiveBans(ctx, "", epoch)
			if err != nil || len(bans) != 4 {
				t.Fatalf("ActiveBans = %d bans, %v; want 4", len(bans), err)
			}
			if _, err := os.Stat(":memory:"); err == nil {
				t.Error("created a file named :memory:")
			}
		})
	}
}

func TestOpenPathWithURISyntax(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?name#%41.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCursor(t.Context(), "j", "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at %q: %v", path, err)
	}
}

func TestOpenErrorsThatAreNotCorruption(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be says nothing about a database's
	// content: report it, move nothing.
	path := filepath.Join(dir, "pinjail.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Open left %d entries in %s, want just the directory", len(entries), dir)
	}

	// A parent that is a file cannot be created.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(filepath.Join(blocker, "pinjail.db"), Options{}); err == nil {
		s.Close()
		t.Fatal("Open under a regular file succeeded")
	}
}

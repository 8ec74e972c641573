package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validDB returns the bytes of a closed pinjail database holding n bans,
// large enough to span many pages.
func validDB(t testing.TB, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := range n {
		b.AddBan(BanRecord{Jail: "sshd", ID: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Time: epoch, BanTime: time.Hour,
			Matches: []string{strings.Repeat("x", 100)}})
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dbWith returns the bytes of a database built by running stmts on a fresh
// pinjail database.
func dbWith(t testing.TB, stmts ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edited.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func foreignDB(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foreign.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE bips (ip TEXT, jail TEXT); INSERT INTO bips VALUES ('192.0.2.1', 'sshd')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpenMovesUnusableFilesAside(t *testing.T) {
	valid := validDB(t, 2000)
	pageSize := 4096
	damaged := bytes.Clone(valid)
	mid := len(damaged) / 2 / pageSize * pageSize
	copy(damaged[mid:mid+pageSize], bytes.Repeat([]byte{0xff}, pageSize))

	for _, c := range []struct {
		name     string
		main     []byte
		wal      []byte // written as path-wal when not nil
		reason   string // in the logged warning
		keepData bool   // not corrupt: the bans in valid must still be there
	}{
		{name: "short text", main: []byte("this is not a database\n"), reason: "too short"},
		{name: "text", main: bytes.Repeat([]byte("this is not a database\n"), 100), reason: "not a database"},
		{name: "zeros", main: make([]byte, 8192), reason: "not a database"},
		{name: "header only", main: valid[:100], reason: "too short"},
		{name: "truncated mid-page", main: valid[:len(valid)/2+100], reason: "malformed"},
		{name: "truncated at a page boundary", main: valid[:len(valid)/2/pageSize*pageSize], reason: "quick_check"},
		{name: "damaged page", main: damaged, reason: "quick_check"},
		{name: "garbage beside a garbage wal", main: []byte("junk"), wal: []byte("more junk"), reason: "too short"},
		{name: "another program's database", main: foreignDB(t), reason: "not a pinjail database"},
		{name: "future schema", main: dbWith(t, `UPDATE schema_version SET version = 99`), reason: "schema version 99"},
		{name: "schema version missing", main: dbWith(t, `DELETE FROM schema_version`), reason: "schema version -1"},
		{name: "schema damaged", main: dbWith(t, `DROP TABLE failure_tickets`), reason: "no such table"},
		{name: "valid beside a garbage wal", main: valid, wal: bytes.Repeat([]byte("wal?"), 2000), keepData: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pinjail.db")
			if err := os.WriteFile(path, c.main, 0o600); err != nil {
				t.Fatal(err)
			}
			if c.wal != nil {
				if err := os.WriteFile(path+"-wal", c.wal, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			s, err := Open(path, Options{Logger: log, Now: fixedClock})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()

			bans, err := s.ActiveBans(t.Context(), "", epoch)
			if err != nil {
				t.Fatal(err)
			}
			aside := path + ".corrupt-20260501T120000Z"
			if c.keepData {
				if len(bans) != 2000 {
					t.Errorf("ActiveBans = %d bans, want the 2000 in the file", len(bans))
				}
				if logs.Len() != 0 {
					t.Errorf("logged %s", logs.String())
				}
				if _, err := os.Stat(aside); err == nil {
					t.Errorf("%s exists", aside)
				}
				return
			}

			if len(bans) != 0 {
				t.Errorf("the fresh database has %d bans", len(bans))
			}
			moved, err := os.ReadFile(aside)
			if err != nil {
				t.Fatalf("nothing moved aside: %v", err)
			}
			if !bytes.Equal(moved, c.main) {
				t.Errorf("%s differs from the file that was at %s", aside, path)
			}
			if c.wal != nil {
				if moved, err := os.ReadFile(aside + "-wal"); err != nil || !bytes.Equal(moved, c.wal) {
					t.Errorf("-wal not moved to %s-wal: %v", aside, err)
				}
			}
			for _, want := range []string{"level=WARN", "path=" + path, "moved_to=" + aside, c.reason} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}

			// The fresh database works, and survives a reopen.
			if err := s.AddBan(t.Context(), BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(path, Options{Logger: log, Now: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			if bans, err := s.ActiveBans(t.Context(), "", epoch); err != nil || len(bans) != 1 {
				t.Errorf("after reopen ActiveBans = %v, %v; want one ban", ids(bans), err)
			}
		})
	}
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pinjail.db")
	for i := range 3 {
		if err := os.WriteFile(path, fmt.Appendf(nil, "garbage %d", i), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{Now: fixedClock})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Replace the fresh database with garbage again for the next
		// round, at the same clock reading.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"pinjail.db.corrupt-20260501T120000Z", "pinjail.db.corrupt-20260501T120000Z.1", "pinjail.db.corrupt-20260501T120000Z.2"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(data) != fmt.Sprintf("garbage %d", i) {
			t.Errorf("%s = %q, %v; want garbage %d", name, data, err, i)
		}
	}
}

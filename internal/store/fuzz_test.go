package store

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// liveWAL returns the main file and write-ahead log of a store that has not
// been closed, as a crash leaves them.
func liveWAL(t testing.TB) (main, wal []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "live.db")
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := crashWrites(s); err != nil {
		t.Fatal(err)
	}
	if main, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if wal, err = os.ReadFile(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	return main, wal
}

// FuzzOpen feeds arbitrary bytes as the database file and its write-ahead
// log. Open must never fail on content, only move it aside, and the store
// it returns must work.
func FuzzOpen(f *testing.F) {
	valid := validDB(f, 50)
	main, wal := liveWAL(f)
	f.Add([]byte(nil), []byte(nil))
	f.Add([]byte("not a database"), []byte(nil))
	f.Add(valid, []byte(nil))
	f.Add(valid[:len(valid)/2], []byte(nil))
	f.Add(valid[:100], []byte(nil))
	f.Add(main, wal)
	f.Add(main, wal[:len(wal)/2])
	f.Add([]byte(nil), wal)
	f.Add(dbWith(f, `UPDATE schema_version SET version = 2`), []byte(nil))
	f.Add(foreignDB(f), []byte(nil))
	// Header fields SQLite trusts: page size, reserved bytes, page count,
	// schema cookie, text encoding.
	for _, edit := range []struct {
		off int
		val []byte
	}{
		{16, []byte{0x00, 0x01}}, {16, []byte{0x03, 0x00}}, {20, []byte{0xff}},
		{28, []byte{0xff, 0xff, 0xff, 0xff}}, {40, []byte{0, 0, 0, 9}}, {56, []byte{0, 0, 0, 3}},
	} {
		d := bytes.Clone(valid)
		copy(d[edit.off:], edit.val)
		f.Add(d, []byte(nil))
	}
	// The WAL header's page size and checksum salts.
	for _, off := range []int{8, 16, 24} {
		w := bytes.Clone(wal)
		binary.BigEndian.PutUint32(w[off:], 0xdeadbeef)
		f.Add(main, w)
	}

	f.Fuzz(func(t *testing.T, main, wal []byte) {
		path := filepath.Join(t.TempDir(), "pinjail.db")
		if err := os.WriteFile(path, main, 0o600); err != nil {
			t.Fatal(err)
		}
		if len(wal) > 0 {
			if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(path, Options{Now: fixedClock})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		ctx := t.Context()
		if err := s.AddBan(ctx, BanRecord{Jail: "fuzz", ID: "192.0.2.1", Time: epoch, BanTime: time.Hour}); err != nil {
			t.Fatalf("AddBan: %v", err)
		}
		bans, err := s.ActiveBans(ctx, "fuzz", epoch)
		if err != nil || len(bans) != 1 {
			t.Fatalf("ActiveBans = %v, %v; want the one ban", ids(bans), err)
		}
		if _, err := s.ActiveBans(ctx, "", epoch); err != nil {
			t.Fatalf("ActiveBans of every jail: %v", err)
		}
		if n, _, err := s.BanCount("fuzz", "192.0.2.1", true); err != nil || n < 1 {
			t.Fatalf("BanCount = %d, %v", n, err)
		}
		if _, err := s.Purge(ctx, 0); err != nil {
			t.Fatalf("Purge: %v", err)
		}
	})
}

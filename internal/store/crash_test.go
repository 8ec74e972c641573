package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashEnv tells the test binary, run again as a child, to write to the
// database it names and then kill itself.
const crashEnv = "PINJAIL_STORE_CRASH_DB"

// TestKilledProcessKeepsCommittedWrites runs a child that commits writes and
// dies by SIGKILL without closing the store: everything it committed must
// be there on the next Open, read back from the write-ahead log.
func TestKilledProcessKeepsCommittedWrites(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		writeAndDie(path)
		return
	}
	path := filepath.Join(t.TempDir(), "pinjail.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcessKeepsCommittedWrites$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() ||
		exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no write-ahead log left by the killed child (%v): the test proves nothing", err)
	}

	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkCrashWrites(t, s)
}

func writeAndDie(path string) {
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := crashWrites(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

func crashWrites(s *Store) error {
	var b Batch
	for i := range 500 {
		b.AddBan(BanRecord{Jail: "sshd", ID: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Time: epoch, BanTime: time.Hour})
	}
	b.SavePositions("sshd", []Position{{Path: "/var/log/auth.log", Inode: 7, Offset: 4096}})
	if err := s.Apply(context.Background(), &b); err != nil {
		return err
	}
	if err := s.SaveTickets(context.Background(), "sshd", []Ticket{{ID: "192.0.2.1", First: epoch, Last: epoch, Count: 4}}); err != nil {
		return err
	}
	return s.AddBan(context.Background(), BanRecord{Jail: "pexip", ID: "192.0.2.2", Time: epoch, BanTime: Permanent})
}

func checkCrashWrites(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	if bans, err := s.ActiveBans(ctx, "sshd", epoch); err != nil || len(bans) != 500 {
		t.Errorf("sshd bans = %d, %v; want 500", len(bans), err)
	}
	if bans, err := s.ActiveBans(ctx, "pexip", epoch); err != nil || len(bans) != 1 {
		t.Errorf("pexip bans = %d, %v; want 1", len(bans), err)
	}
	if ts, err := s.Tickets(ctx, "sshd"); err != nil || len(ts) != 1 || ts[0].Count != 4 {
		t.Errorf("failure tickets = %+v, %v; want the one with 4 failures", ts, err)
	}
	if ps, err := s.Positions(ctx, "sshd"); err != nil || len(ps) != 1 || ps[0].Offset != 4096 {
		t.Errorf("positions = %+v, %v", ps, err)
	}
}

// TestSecondOpenSeesUnclosedWrites opens the file again while the first
// store is still open, with its writes only in the write-ahead log.
func TestSecondOpenSeesUnclosedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pinjail.db")
	first, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := crashWrites(first); err != nil {
		t.Fatal(err)
	}
	second, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	checkCrashWrites(t, second)
}

func TestConcurrentUse(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*4)
	for w := range workers {
		jail := fmt.Sprintf("jail%d", w%2)
		wg.Go(func() {
			var b Batch
			for i := range perWorker {
				r := BanRecord{Jail: jail, ID: fmt.Sprintf("w%d-%d", w, i), Time: epoch, BanTime: time.Hour, Count: 1}
				if i%2 == 0 {
					b.AddBan(r)
					continue
				}
				if err := s.AddBan(ctx, r); err != nil {
					errs <- err
					return
				}
			}
			if err := s.Apply(ctx, &b); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			for i := range perWorker {
				if _, _, err := s.BanCount(jail, fmt.Sprintf("w%d-%d", w, i), i%2 == 0); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				if _, err := s.ActiveBans(ctx, "", epoch); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for i := range 10 {
				ts := []Ticket{{ID: fmt.Sprint(i), First: epoch, Last: epoch, Count: i}}
				if err := s.SaveTickets(ctx, fmt.Sprintf("tickets%d", w), ts); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	bans, err := s.ActiveBans(ctx, "", epoch)
	if err != nil || len(bans) != workers*perWorker {
		t.Errorf("ActiveBans = %d, %v; want %d", len(bans), err, workers*perWorker)
	}
	for w := range workers {
		count, _, err := s.BanCount(fmt.Sprintf("jail%d", w%2), fmt.Sprintf("w%d-0", w), false)
		if err != nil || count != 1 {
			t.Errorf("BanCount(w%d-0) = %d, %v", w, count, err)
		}
		if ts, err := s.Tickets(ctx, fmt.Sprintf("tickets%d", w)); err != nil || len(ts) != 1 || ts[0].Count != 9 {
			t.Errorf("Tickets(tickets%d) = %+v, %v; want the last save", w, ts, err)
		}
	}
}

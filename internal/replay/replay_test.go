package replay_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/replay"
	"github.com/pinjail/pinjail/internal/rplog"
)

// TestPexipGuesserBanned replays a generated RP log with the built-in
// configuration: a PIN guesser is banned once, at its tenth 403 (Pexip's
// stock numbers), a single correct join is not, and the ban is not repeated
// while it holds.
func TestPexipGuesserBanned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.access.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := rplog.NewWriter(f, 1)
	t0 := time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	guesser := netip.MustParseAddr("198.51.100.66")
	joiner := netip.MustParseAddr("203.0.113.9")
	if _, err := w.Join(rplog.PexRTC, joiner, "meet.alice", t0); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := w.Guess(guesser, "meet.bob", t0.Add(time.Duration(i)*5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Traffic(rplog.TrafficOptions{Start: t0, Lines: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg, err := config.Load("", config.Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	var bans []replay.Ban
	sums, err := replay.Run(context.Background(), cfg, []string{path}, replay.Options{Jails: []string{"pexiprp"}},
		func(ev jail.Event) error {
			if ev.Kind == jail.Ban {
				bans = append(bans, replay.BanFromEvent(ev))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var guesserBans int
	for _, b := range bans {
		switch b.IP {
		case guesser.String():
			guesserBans++
			// Join accounting holds 5 403s of an attempt; the sixth shows
			// it is no join, and the first five of them reach maxretry.
			if b.Failures != 5 || b.BanTime != 300*time.Second {
				t.Errorf("guesser ban %+v, want 5 failures, 300s", b)
			}
			if want := t0.Add(5 * 5 * time.Second); !b.Time.Equal(want) {
				t.Errorf("guesser banned at %v, want %v (its sixth 403)", b.Time, want)
			}
		case joiner.String():
			t.Errorf("a single correct join was banned: %+v", b)
		}
	}
	// 30 guesses at 5 s intervals span 145 s, inside one 300 s ban.
	if guesserBans != 1 {
		t.Errorf("guesser banned %d times, want 1", guesserBans)
	}
	if len(sums) != 1 || sums[0].Lines == 0 || sums[0].Bans != uint64(len(bans)) {
		t.Errorf("summary %+v does not match %d bans", sums, len(bans))
	}
}

func TestUnknownJail(t *testing.T) {
	cfg, err := config.Load("", config.Options{Builtin: builtin.FS()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Run(context.Background(), cfg, nil, replay.Options{Jails: []string{"nope"}}, nil); err == nil {
		t.Fatal("unknown jail accepted")
	}
}

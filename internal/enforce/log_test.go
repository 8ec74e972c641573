package enforce

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLog(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var out bytes.Buffer
	l := NewLog(slog.New(slog.NewTextHandler(&out, nil)), clock.now)

	if err := l.Start(ctx, Spec{Jail: "web", Ports: "https"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, Spec{Jail: "bad", Block: "tarpit"}); err == nil {
		t.Error("Start accepted block tarpit")
	}
	host := netip.MustParsePrefix("192.0.2.1/32")
	net64 := netip.MustParsePrefix("2001:db8::/64")
	l.Add(Ban{Jail: "web", Prefix: host, Timeout: time.Minute})
	l.Add(Ban{Jail: "web", Prefix: net64})
	l.Add(Ban{Jail: "nope", Prefix: host})
	err := l.Commit(ctx)
	var ce *CommitError
	if !errors.As(err, &ce) || len(ce.Failed) != 1 || !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Commit = %v, want one ErrNotStarted", err)
	}

	clock.t = clock.t.Add(20 * time.Second)
	want := []Ban{{Jail: "web", Prefix: host, Timeout: 40 * time.Second}, {Jail: "web", Prefix: net64}}
	if got := l.Banned("web"); !reflect.DeepEqual(got, want) {
		t.Errorf("Banned = %v, want %v", got, want)
	}

	// The simulated kernel expires the host ban; Reconcile restores it.
	clock.t = clock.t.Add(time.Minute)
	if got := l.Banned("web"); len(got) != 1 {
		t.Errorf("after expiry Banned = %v, want the /64 only", got)
	}
	n, err := l.Reconcile(ctx, func(string) []Ban {
		return []Ban{{Jail: "web", Prefix: host, Timeout: time.Hour}, {Jail: "web", Prefix: net64}}
	})
	if n != 1 || err != nil {
		t.Errorf("Reconcile = %d, %v; want 1, nil", n, err)
	}

	l.Delete("web", net64)
	if err := l.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.Banned("web"); len(got) != 1 || got[0].Prefix != host {
		t.Errorf("after unban Banned = %v", got)
	}
	if err := l.Flush(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx, "nope"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Flush of unknown jail = %v", err)
	}
	if err := l.Stop(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if got := l.Banned("web"); got != nil {
		t.Errorf("after Stop Banned = %v", got)
	}

	var ops []Op
	for _, r := range l.Records() {
		ops = append(ops, r.Op)
	}
	wantOps := []Op{OpStart, OpBan, OpBan, OpRestore, OpUnban, OpFlush, OpStop}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("records = %v, want %v", ops, wantOps)
	}
	if r := l.Records()[0]; r.Match.String() != "tcp dport 443 drop" {
		t.Errorf("start record rule = %q", r.Match.String())
	}
	for _, want := range []string{"op=start jail=web rule=\"tcp dport 443 drop\"", "op=ban jail=web prefix=192.0.2.1/32 timeout=1m0s", "op=restore"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out.String())
		}
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func equalBan(a, b BanRecord) bool {
	return a.Jail == b.Jail && a.ID == b.ID && a.Time.Equal(b.Time) && a.BanTime == b.BanTime &&
		a.Count == b.Count && a.Failures == b.Failures &&
		slices.Equal(a.Matches, b.Matches) && maps.Equal(a.Fields, b.Fields)
}

func ids(bans []BanRecord) []string {
	var out []string
	for _, b := range bans {
		out = append(out, b.Jail+"/"+b.ID)
	}
	return out
}

func TestBanRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name     string
		in, want BanRecord
	}{
		{
			name: "full",
			in: BanRecord{Jail: "pexip", ID: "192.0.2.7", Time: epoch, BanTime: 10 * time.Minute, Count: 3, Failures: 6,
				Matches: []string{`conference "x" PIN wrong`, "line 2"}, Fields: map[string]string{"alias": "x", "user": "ü \"q\""}},
			want: BanRecord{Jail: "pexip", ID: "192.0.2.7", Time: epoch, BanTime: 10 * time.Minute, Count: 3, Failures: 6,
				Matches: []string{`conference "x" PIN wrong`, "line 2"}, Fields: map[string]string{"alias": "x", "user": "ü \"q\""}},
		},
		{
			name: "permanent",
			in:   BanRecord{Jail: "j", ID: "2001:db8::1", Time: epoch, BanTime: Permanent, Count: 1},
			want: BanRecord{Jail: "j", ID: "2001:db8::1", Time: epoch, BanTime: Permanent, Count: 1},
		},
		{
			name: "any negative ban time is permanent",
			in:   BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: -time.Hour, Count: 1},
			want: BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: Permanent, Count: 1},
		},
		{
			name: "count below one is one",
			in:   BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour},
			want: BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour, Count: 1},
		},
		{
			name: "time to the millisecond, ban time to the second",
			in:   BanRecord{Jail: "j", ID: "a", Time: epoch.Add(1234567 * time.Nanosecond), BanTime: 1500 * time.Millisecond, Count: 1},
			want: BanRecord{Jail: "j", ID: "a", Time: epoch.Add(time.Millisecond), BanTime: 2 * time.Second, Count: 1},
		},
		{
			name: "empty matches and fields read back as nil",
			in:   BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour, Count: 1, Matches: []string{}, Fields: map[string]string{}},
			want: BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour, Count: 1},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := openTemp(t)
			if err := s.AddBan(t.Context(), c.in); err != nil {
				t.Fatal(err)
			}
			history, err := s.History(t.Context(), HistoryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(history) != 1 || !equalBan(history[0], c.want) {
				t.Errorf("History = %+v,\nwant [%+v]", history, c.want)
			}
			active, err := s.ActiveBans(t.Context(), "", epoch)
			if err != nil {
				t.Fatal(err)
			}
			withoutMatches := c.want
			withoutMatches.Matches = nil
			if len(active) != 1 || !equalBan(active[0], withoutMatches) {
				t.Errorf("ActiveBans = %+v,\nwant [%+v]", active, withoutMatches)
			}
			matches, err := s.BanMatches(t.Context(), c.in.Jail, c.in.ID)
			if err != nil || !slices.Equal(matches, c.want.Matches) {
				t.Errorf("BanMatches = %q, %v; want %q", matches, err, c.want.Matches)
			}
		})
	}
}

func TestAddBanRejectsIncompleteRecords(t *testing.T) {
	s, _ := openTemp(t)
	for _, r := range []BanRecord{
		{ID: "a", Time: epoch},
		{Jail: "j", Time: epoch},
		{Jail: "j", ID: "a"},
	} {
		if err := s.AddBan(t.Context(), r); err == nil {
			t.Errorf("AddBan(%+v) succeeded", r)
		}
	}
}

func TestActiveBansExpiry(t *testing.T) {
	s, _ := openTemp(t)
	var b Batch
	for _, r := range []BanRecord{
		{Jail: "sshd", ID: "ends-before", Time: epoch.Add(-2 * time.Hour), BanTime: time.Hour},
		{Jail: "sshd", ID: "ends-at-now", Time: epoch.Add(-time.Hour), BanTime: time.Hour},
		{Jail: "sshd", ID: "ends-after", Time: epoch.Add(-time.Hour), BanTime: time.Hour + time.Second},
		{Jail: "sshd", ID: "permanent-old", Time: epoch.AddDate(-5, 0, 0), BanTime: Permanent},
		{Jail: "pexip", ID: "starts-later", Time: epoch.Add(time.Minute), BanTime: time.Minute},
		{Jail: "pexip", ID: "zero-length", Time: epoch, BanTime: 0},
	} {
		b.AddBan(r)
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		jail string
		now  time.Time
		want []string
	}{
		{"", epoch, []string{"pexip/starts-later", "sshd/ends-after", "sshd/permanent-old"}},
		{"sshd", epoch, []string{"sshd/ends-after", "sshd/permanent-old"}},
		{"pexip", epoch, []string{"pexip/starts-later"}},
		{"nosuch", epoch, nil},
		{"", epoch.Add(-90 * time.Minute), []string{"pexip/starts-later", "pexip/zero-length", "sshd/ends-after", "sshd/ends-at-now", "sshd/ends-before", "sshd/permanent-old"}},
		{"", epoch.AddDate(100, 0, 0), []string{"sshd/permanent-old"}},
	} {
		got, err := s.ActiveBans(t.Context(), c.jail, c.now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), c.want) {
			t.Errorf("ActiveBans(%q, %v) = %v, want %v", c.jail, c.now, ids(got), c.want)
		}
	}
}

func TestAddBanReplacesCurrentAndAppendsHistory(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	first := BanRecord{Jail: "j", ID: "a", Time: epoch.Add(-time.Hour), BanTime: 10 * time.Minute, Count: 1, Matches: []string{"m1"}}
	second := BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: 20 * time.Minute, Count: 2, Fields: map[string]string{"f": "v"}}
	for _, r := range []BanRecord{first, second} {
		if err := s.AddBan(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	active, err := s.ActiveBans(ctx, "j", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || !equalBan(active[0], second) {
		t.Errorf("ActiveBans = %+v, want only the second ban", active)
	}
	if m, err := s.BanMatches(ctx, "j", "a"); err != nil || m != nil {
		t.Errorf("BanMatches = %q, %v; want the second ban's, none", m, err)
	}
	history, err := s.History(ctx, HistoryQuery{Jail: "j", ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 || !equalBan(history[0], second) || !equalBan(history[1], first) {
		t.Errorf("History = %+v, want second then first", history)
	}
}

func TestHistoryQuery(t *testing.T) {
	s, _ := openTemp(t)
	var b Batch
	for i, r := range []struct{ jail, id string }{
		{"sshd", "a"}, {"sshd", "b"}, {"pexip", "a"}, {"sshd", "a"}, {"pexip", "c"},
	} {
		b.AddBan(BanRecord{Jail: r.jail, ID: r.id, Time: epoch.Add(time.Duration(i) * time.Minute), BanTime: time.Minute})
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    HistoryQuery
		want []string
	}{
		{HistoryQuery{}, []string{"pexip/c", "sshd/a", "pexip/a", "sshd/b", "sshd/a"}},
		{HistoryQuery{Jail: "sshd"}, []string{"sshd/a", "sshd/b", "sshd/a"}},
		{HistoryQuery{ID: "a"}, []string{"sshd/a", "pexip/a", "sshd/a"}},
		{HistoryQuery{Jail: "sshd", ID: "a"}, []string{"sshd/a", "sshd/a"}},
		{HistoryQuery{Since: epoch.Add(2 * time.Minute)}, []string{"pexip/c", "sshd/a", "pexip/a"}},
		{HistoryQuery{Limit: 2}, []string{"pexip/c", "sshd/a"}},
		{HistoryQuery{Jail: "none"}, nil},
	} {
		got, err := s.History(t.Context(), c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), c.want) {
			t.Errorf("History(%+v) = %v, want %v", c.q, ids(got), c.want)
		}
	}
}

func TestBanCount(t *testing.T) {
	s, _ := openTemp(t)
	var b Batch
	for _, r := range []BanRecord{
		{Jail: "sshd", ID: "a", Time: epoch.Add(-3 * time.Hour), BanTime: time.Minute, Count: 1},
		{Jail: "sshd", ID: "a", Time: epoch.Add(-2 * time.Hour), BanTime: 2 * time.Minute, Count: 2},
		{Jail: "pexip", ID: "a", Time: epoch.Add(-time.Hour), BanTime: time.Minute, Count: 1},
		{Jail: "recidive", ID: "a", Time: epoch.Add(-4 * time.Hour), BanTime: Permanent, Count: 4},
		{Jail: "sshd", ID: "b", Time: epoch, BanTime: time.Minute, Count: 1},
	} {
		b.AddBan(r)
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		jail, id  string
		overall   bool
		wantCount int
		wantLast  time.Time
	}{
		// The count is the one stored with the latest ban, not the number
		// of history rows: the ban engine decides it, as in fail2ban.
		{"sshd", "a", false, 2, epoch.Add(-2 * time.Hour)},
		{"pexip", "a", false, 1, epoch.Add(-time.Hour)},
		{"recidive", "a", false, 4, epoch.Add(-4 * time.Hour)},
		{"sshd", "a", true, 7, epoch.Add(-time.Hour)},
		{"", "a", true, 7, epoch.Add(-time.Hour)},
		{"sshd", "b", false, 1, epoch},
		{"pexip", "b", false, 0, time.Time{}},
		{"sshd", "never", false, 0, time.Time{}},
		{"sshd", "never", true, 0, time.Time{}},
	} {
		count, last, err := s.BanCount(c.jail, c.id, c.overall)
		if err != nil {
			t.Fatal(err)
		}
		if count != c.wantCount || !last.Equal(c.wantLast) {
			t.Errorf("BanCount(%q, %q, %v) = %d, %v; want %d, %v", c.jail, c.id, c.overall, count, last, c.wantCount, c.wantLast)
		}
	}
}

func TestRemoveBans(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	var b Batch
	for _, r := range []struct{ jail, id string }{{"sshd", "a"}, {"sshd", "b"}, {"pexip", "a"}, {"pexip", "b"}} {
		b.AddBan(BanRecord{Jail: r.jail, ID: r.id, Time: epoch, BanTime: time.Hour})
	}
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}

	if err := s.RemoveBan(ctx, "sshd", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveBan(ctx, "sshd", "never banned"); err != nil {
		t.Errorf("RemoveBan of an unknown ID: %v", err)
	}
	if err := s.RemoveAllBans(ctx, "pexip"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAllBans(ctx, ""); err == nil {
		t.Error(`RemoveAllBans("") succeeded`)
	}

	active, err := s.ActiveBans(ctx, "", epoch)
	if err != nil {
		t.Fatal(err)
	}
	history, err := s.History(ctx, HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sshd/b"}
	if !slices.Equal(ids(active), want) || !slices.Equal(ids(history), want) {
		t.Errorf("after removals ActiveBans = %v, History = %v; want %v in both", ids(active), ids(history), want)
	}
	if m, err := s.BanMatches(ctx, "sshd", "a"); m != nil || err != nil {
		t.Errorf("BanMatches after RemoveBan = %q, %v", m, err)
	}
	if n, _, _ := s.BanCount("sshd", "a", false); n != 0 {
		t.Errorf("BanCount after RemoveBan = %d, want 0: a pardon restarts the count", n)
	}
}

func TestPurge(t *testing.T) {
	const age = 24 * time.Hour
	cutoff := epoch.Add(-age)
	s, _ := openTemp(t)
	ctx := t.Context()
	var b Batch
	for _, r := range []BanRecord{
		// Started after the cutoff: everything stays.
		{Jail: "j", ID: "recent", Time: cutoff.Add(time.Second), BanTime: time.Minute},
		// Started before the cutoff, start + 3*bantime also before: gone.
		{Jail: "j", ID: "old-short", Time: cutoff.Add(-time.Hour), BanTime: 10 * time.Minute},
		// An earlier ban of old-long, superseded: its history goes.
		{Jail: "j", ID: "old-long", Time: cutoff.Add(-3 * time.Hour), BanTime: 10 * time.Minute, Matches: []string{"earlier"}},
		// Started before the cutoff but start + 3*bantime after it: the
		// current row stays for bantime.increment, and so does its
		// history row, which holds its matches.
		{Jail: "j", ID: "old-long", Time: cutoff.Add(-time.Hour), BanTime: 30 * time.Minute, Count: 2, Matches: []string{"later"}},
		// Permanent bans are never purged from the current rows.
		{Jail: "j", ID: "old-permanent", Time: cutoff.Add(-100 * age), BanTime: Permanent},
	} {
		b.AddBan(r)
	}
	b.SaveTickets("j", []Ticket{
		{ID: "fresh", First: cutoff.Add(-time.Hour), Last: cutoff.Add(time.Second), Count: 1},
		{ID: "stale", First: cutoff.Add(-time.Hour), Last: cutoff.Add(-time.Second), Count: 1},
	})
	b.SavePositions("j", []Position{{Path: "/var/log/x", Offset: 1}})
	b.SaveCursor("j", "cursor")
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}

	removed, err := s.Purge(ctx, age)
	if err != nil {
		t.Fatal(err)
	}
	// Current: old-short. History: old-short, the earlier old-long.
	// Tickets: stale.
	if removed != 4 {
		t.Errorf("Purge removed %d rows, want 4", removed)
	}
	history, err := s.History(ctx, HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"j/recent", "j/old-long", "j/old-permanent"}; !slices.Equal(ids(history), want) {
		t.Errorf("History after purge = %v, want %v", ids(history), want)
	}
	if m, err := s.BanMatches(ctx, "j", "old-long"); err != nil || !slices.Equal(m, []string{"later"}) {
		t.Errorf("BanMatches(old-long) after purge = %q, %v; want [later]", m, err)
	}
	for _, c := range []struct {
		id   string
		want int
	}{{"recent", 1}, {"old-short", 0}, {"old-long", 2}, {"old-permanent", 1}} {
		if n, _, err := s.BanCount("j", c.id, false); err != nil || n != c.want {
			t.Errorf("BanCount(%s) after purge = %d, %v; want %d", c.id, n, err, c.want)
		}
		// The IDs BanCount looks up are those left in bans.
		if s.banned.mayHold(c.id) != (c.want > 0) {
			t.Errorf("after purge, %s in the banned IDs = %v, want %v", c.id, !(c.want > 0), c.want > 0)
		}
	}
	if ts, err := s.Tickets(ctx, "j"); err != nil || len(ts) != 1 || ts[0].ID != "fresh" {
		t.Errorf("Tickets after purge = %+v, %v; want only fresh", ts, err)
	}
	if ps, _ := s.Positions(ctx, "j"); len(ps) != 1 {
		t.Errorf("Purge removed log positions")
	}
	if c, _ := s.Cursor(ctx, "j"); c != "cursor" {
		t.Errorf("Purge removed the journal cursor")
	}

	if removed, err := s.Purge(ctx, age); err != nil || removed != 0 {
		t.Errorf("second Purge = %d, %v; want 0", removed, err)
	}
	if _, err := s.Purge(ctx, -time.Second); err == nil {
		t.Error("Purge with a negative age succeeded")
	}
}

func TestApplyIsAtomic(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	var b Batch
	b.AddBan(BanRecord{Jail: "j", ID: "good", Time: epoch, BanTime: time.Hour})
	b.SaveCursor("j", "c")
	b.AddBan(BanRecord{Jail: "j", ID: "no time"})
	err := s.Apply(ctx, &b)
	if err == nil || !strings.Contains(err.Error(), "no time") {
		t.Fatalf("Apply = %v, want an error naming the bad ban", err)
	}
	if bans, _ := s.ActiveBans(ctx, "", epoch); len(bans) != 0 {
		t.Errorf("a failed Apply left %v", ids(bans))
	}
	if c, _ := s.Cursor(ctx, "j"); c != "" {
		t.Errorf("a failed Apply left cursor %q", c)
	}

	if b.Len() != 3 {
		t.Errorf("Len = %d, want 3", b.Len())
	}
	b.Reset()
	if err := s.Apply(ctx, &b); err != nil || b.Len() != 0 {
		t.Errorf("Apply of an empty batch = %v, Len %d", err, b.Len())
	}
}

func TestApplyCanceled(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var b Batch
	b.AddBan(BanRecord{Jail: "j", ID: "a", Time: epoch, BanTime: time.Hour})
	if err := s.Apply(ctx, &b); err == nil {
		t.Fatal("Apply with a canceled context succeeded")
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatalf("Apply after a canceled one: %v", err)
	}
}

// TestBanCountReopened checks that BanCount knows the bans of an earlier
// run, which it answers from memory for IDs never banned.
func TestBanCountReopened(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	at := fixedClock().Add(-time.Minute)
	if err := s.AddBan(ctx, BanRecord{Jail: "j", ID: "192.0.2.1", Time: at, BanTime: time.Hour, Count: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		jail, id string
		overall  bool
		want     int
	}{
		{"j", "192.0.2.1", false, 3},
		{"other", "192.0.2.1", true, 3},
		{"other", "192.0.2.1", false, 0},
		{"j", "192.0.2.2", false, 0},
		{"j", "192.0.2.2", true, 0},
	} {
		if n, _, err := s.BanCount(c.jail, c.id, c.overall); err != nil || n != c.want {
			t.Errorf("BanCount(%s, %s, %v) after reopening = %d, %v; want %d", c.jail, c.id, c.overall, n, err, c.want)
		}
	}
}

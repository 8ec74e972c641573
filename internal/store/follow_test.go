package store

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestPositions(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	first := []Position{
		{Path: "/var/log/b.log", Inode: math.MaxUint64, Offset: math.MaxInt64, FirstLineHash: "0cc175b9c0f1b6a831c399e269772661"},
		{Path: "/var/log/a.log", Inode: 1, Offset: 0},
	}
	if err := s.SavePositions(ctx, "sshd", first); err != nil {
		t.Fatal(err)
	}
	// A later save replaces the paths it names and keeps the others.
	first[1].Offset = 99 // the store must have copied the slice
	if err := s.SavePositions(ctx, "sshd", []Position{{Path: "/var/log/a.log", Inode: 2, Offset: 10}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePositions(ctx, "other", []Position{{Path: "/var/log/a.log", Inode: 3, Offset: 30}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Positions(ctx, "sshd")
	if err != nil {
		t.Fatal(err)
	}
	want := []Position{
		{Path: "/var/log/a.log", Inode: 2, Offset: 10},
		{Path: "/var/log/b.log", Inode: math.MaxUint64, Offset: math.MaxInt64, FirstLineHash: "0cc175b9c0f1b6a831c399e269772661"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Positions = %+v, want %+v", got, want)
	}
	if got, err := s.Positions(ctx, "nosuch"); err != nil || got != nil {
		t.Errorf("Positions of an unknown jail = %+v, %v", got, err)
	}
	for _, bad := range []struct {
		jail string
		p    Position
	}{{"", Position{Path: "/x"}}, {"j", Position{}}} {
		if err := s.SavePositions(ctx, bad.jail, []Position{bad.p}); err == nil {
			t.Errorf("SavePositions(%q, %+v) succeeded", bad.jail, bad.p)
		}
	}

	var updated int64
	if err := s.reader.QueryRow(`SELECT updated_at FROM log_positions WHERE jail = 'sshd' AND path = '/var/log/a.log'`).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if updated != epoch.UnixMilli() {
		t.Errorf("updated_at = %d, want the store clock's %d", updated, epoch.UnixMilli())
	}
}

func TestCursor(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	if c, err := s.Cursor(ctx, "sshd"); err != nil || c != "" {
		t.Errorf("Cursor before any save = %q, %v", c, err)
	}
	for _, c := range []string{"s=1;i=1", "s=1;i=2"} {
		if err := s.SaveCursor(ctx, "sshd", c); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.Cursor(ctx, "sshd"); err != nil || c != "s=1;i=2" {
		t.Errorf("Cursor = %q, %v; want the latest", c, err)
	}
	if c, _ := s.Cursor(ctx, "other"); c != "" {
		t.Errorf("Cursor of another jail = %q", c)
	}
	if err := s.SaveCursor(ctx, "sshd", ""); err == nil {
		t.Error("SaveCursor of an empty cursor succeeded")
	}
}

func TestTickets(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	ts := []Ticket{
		{ID: "192.0.2.2", First: epoch.Add(-time.Minute), Last: epoch, Count: 2, Matches: []string{"l1", "l2"}},
		{ID: "192.0.2.1", First: epoch.Add(1500 * time.Microsecond), Last: epoch.Add(time.Hour), Count: 1},
	}
	if err := s.SaveTickets(ctx, "sshd", ts); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTickets(ctx, "other", ts[:1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tickets(ctx, "sshd")
	if err != nil {
		t.Fatal(err)
	}
	want := []Ticket{
		{ID: "192.0.2.1", First: epoch.Add(time.Millisecond), Last: epoch.Add(time.Hour), Count: 1},
		{ID: "192.0.2.2", First: epoch.Add(-time.Minute), Last: epoch, Count: 2, Matches: []string{"l1", "l2"}},
	}
	if !slices.EqualFunc(got, want, equalTicket) {
		t.Errorf("Tickets = %+v,\nwant %+v", got, want)
	}

	// Saving replaces the jail's whole set, and only that jail's.
	if err := s.SaveTickets(ctx, "sshd", ts[1:]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tickets(ctx, "sshd"); len(got) != 1 || got[0].ID != "192.0.2.1" {
		t.Errorf("Tickets after replacing = %+v", got)
	}
	if err := s.SaveTickets(ctx, "sshd", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tickets(ctx, "sshd"); got != nil {
		t.Errorf("Tickets after saving none = %+v", got)
	}
	if got, _ := s.Tickets(ctx, "other"); len(got) != 1 {
		t.Errorf("saving sshd's tickets touched other's: %+v", got)
	}

	for _, bad := range []Ticket{{First: epoch, Last: epoch}, {ID: "a", Last: epoch}, {ID: "a", First: epoch}} {
		if err := s.SaveTickets(ctx, "sshd", []Ticket{bad}); err == nil {
			t.Errorf("SaveTickets(%+v) succeeded", bad)
		}
	}
	if err := s.SaveTickets(ctx, "", nil); err == nil {
		t.Error(`SaveTickets("") succeeded`)
	}
}

func equalTicket(a, b Ticket) bool {
	return a.ID == b.ID && a.First.Equal(b.First) && a.Last.Equal(b.Last) && a.Count == b.Count && slices.Equal(a.Matches, b.Matches)
}

func TestUpdateTickets(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	ticket := func(id string, count int) Ticket {
		return Ticket{ID: id, First: epoch, Last: epoch.Add(time.Duration(count) * time.Second), Count: count, Matches: []string{id}}
	}
	if err := s.SaveTickets(ctx, "sshd", []Ticket{ticket("a", 1), ticket("b", 1), ticket("c", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTickets(ctx, "other", []Ticket{ticket("a", 7)}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name    string
		changed []Ticket
		dropped []string
		want    []Ticket
	}{
		{"change and add", []Ticket{ticket("b", 2), ticket("d", 1)}, nil,
			[]Ticket{ticket("a", 1), ticket("b", 2), ticket("c", 1), ticket("d", 1)}},
		{"drop", nil, []string{"a", "c", "never-saved"},
			[]Ticket{ticket("b", 2), ticket("d", 1)}},
		// Dropped and failing again since the last save: the drop comes
		// first.
		{"drop and add again", []Ticket{ticket("b", 1)}, []string{"b"},
			[]Ticket{ticket("b", 1), ticket("d", 1)}},
		{"nothing", nil, nil, []Ticket{ticket("b", 1), ticket("d", 1)}},
	} {
		if err := s.UpdateTickets(ctx, "sshd", step.changed, step.dropped); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got, err := s.Tickets(ctx, "sshd"); err != nil || !slices.EqualFunc(got, step.want, equalTicket) {
			t.Fatalf("%s: Tickets = %+v, %v;\nwant %+v", step.name, got, err, step.want)
		}
	}
	if got, _ := s.Tickets(ctx, "other"); len(got) != 1 || got[0].Count != 7 {
		t.Errorf("updating sshd's tickets touched other's: %+v", got)
	}
	if err := s.UpdateTickets(ctx, "sshd", []Ticket{{ID: "e", Last: epoch}}, nil); err == nil {
		t.Error("UpdateTickets of a ticket without a first time succeeded")
	}
	if err := s.UpdateTickets(ctx, "", nil, []string{"b"}); err == nil {
		t.Error(`UpdateTickets("") succeeded`)
	}
}

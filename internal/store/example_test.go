package store_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/pinjail/pinjail/internal/store"
)

// A burst of bans is committed in one transaction, then restored as a
// daemon does on start.
func ExampleStore_Apply() {
	ctx := context.Background()
	s, err := store.Open(":memory:", store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var b store.Batch
	b.AddBan(store.BanRecord{Jail: "pexip", ID: "192.0.2.10", Time: start, BanTime: time.Hour, Count: 1, Failures: 5})
	b.AddBan(store.BanRecord{Jail: "pexip", ID: "2001:db8:1::/64", Time: start, BanTime: store.Permanent, Count: 3})
	b.SaveTickets("pexip", []store.Ticket{{ID: "192.0.2.11", First: start, Last: start, Count: 2}})
	if err := s.Apply(ctx, &b); err != nil {
		log.Fatal(err)
	}

	bans, err := s.ActiveBans(ctx, "pexip", start.Add(2*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	for _, ban := range bans {
		fmt.Println(ban.ID, ban.BanTime == store.Permanent)
	}
	count, _, err := s.BanCount("pexip", "2001:db8:1::/64", false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("banned", count, "times")
	// Output:
	// 2001:db8:1::/64 true
	// banned 3 times
}

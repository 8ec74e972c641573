package rplog_test

import (
	"fmt"
	"log"
	"net/netip"
	"os"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

// A scenario: a guesser tries PINs on a meeting while a web app user joins
// it with one typo. The lines come out in time order.
func ExampleWriter_Join() {
	w := rplog.NewWriter(os.Stdout, 1)
	start := time.Date(2024, time.May, 14, 9, 2, 11, 0, time.UTC)
	user := netip.MustParseAddr("198.51.100.23")
	guesser := netip.MustParseAddr("203.0.113.7")

	end, err := w.Join(rplog.PexRTCTypo, user, "meet.alice%40example.com", start)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if err := w.Guess(guesser, "meet.alice%40example.com", start.Add(time.Duration(i)*5*time.Second)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("joined after", end.Sub(start), "with", w.Counts().PINFailures, "PIN failures in the log")
	// Output:
	// 198.51.100.23 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 73 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "403" "0.036"
	// 203.0.113.7 - - [14/May/2024:09:02:11 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443" "403" "0.041"
	// 203.0.113.7 - - [14/May/2024:09:02:16 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443" "403" "0.041"
	// 198.51.100.23 - - [14/May/2024:09:02:17 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "403" "0.036"
	// 203.0.113.7 - - [14/May/2024:09:02:21 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 46 "-" "python-requests/2.31.0" "10.44.0.11:443" "403" "0.041"
	// 198.51.100.23 - - [14/May/2024:09:02:24 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 403 73 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "403" "0.036"
	// 198.51.100.23 - - [14/May/2024:09:02:30 +0000]  "POST /api/client/v2/conferences/meet.alice%40example.com/request_token HTTP/1.1" 200 2211 "https://meet.example.com/webapp/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" "10.44.0.11:443" "200" "0.094"
	// joined after 19s with 6 PIN failures in the log
}

// An IPv6 attacker rotating through its /64: every guess from another
// address, all of them in one network.
func ExampleHostIn() {
	attacker := netip.MustParsePrefix("2001:db8:a77a:1::/64")
	for _, n := range []uint64{0x1f, 0x5eed_0000_0001, 1<<64 - 1} {
		addr, err := rplog.HostIn(attacker, n)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(addr)
	}
	// Output:
	// 2001:db8:a77a:1::1f
	// 2001:db8:a77a:1:0:5eed:0:1
	// 2001:db8:a77a:1:ffff:ffff:ffff:ffff
}

package report

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
)

var t0 = time.Date(2024, time.May, 14, 9, 0, 0, 0, time.UTC)

// at returns t0 plus s seconds.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// events builds jail events tersely for the tests.
type events []jail.Event

func (e *events) attempt(jailName, id, alias string, t time.Time) {
	*e = append(*e, jail.Event{Kind: jail.Attempt, Jail: jailName, ID: id, Addr: addrOf(id), Time: t, Fields: fields(alias)})
}

func (e *events) failure(jailName, id, alias string, t time.Time) {
	*e = append(*e, jail.Event{Kind: jail.Failure, Jail: jailName, ID: id, Addr: addrOf(id), Time: t, Fields: fields(alias)})
}

func (e *events) ignored(jailName, id, alias string, t time.Time) {
	*e = append(*e, jail.Event{Kind: jail.Ignored, Jail: jailName, ID: id, Addr: addrOf(id), Time: t, Fields: fields(alias)})
}

func (e *events) ban(jailName, id, alias string, t time.Time, d time.Duration, failures int) {
	*e = append(*e, jail.Event{
		Kind: jail.Ban, Jail: jailName, ID: id, Addr: addrOf(id), Time: t,
		BanTime: d, Failures: failures, Fields: fields(alias),
	})
}

func (e *events) attack(jailName, alias string, t time.Time) {
	*e = append(*e, jail.Event{Kind: jail.Attack, Jail: jailName, Time: t, Fields: fields(alias)})
}

func addrOf(id string) netip.Addr {
	a, _ := netip.ParseAddr(id)
	return a
}

func fields(alias string) map[string]string {
	if alias == "" {
		return nil
	}
	return map[string]string{"alias": alias}
}

// scenario is a morning on a reverse proxy, as the jails would report it:
//   - a PIN guesser on meet.bob, banned at its sixth 403 (join accounting
//     released five failures), still guessing while banned, and banned
//     again ten minutes later;
//   - a distributed attack on meet.alice: eleven addresses with a few 403s
//     each put the room under attack at 09:03, which bans them all, and
//     again at 09:40;
//   - a user joining meet.carol after a PIN prompt: an attempt, forgiven;
//   - an allow-listed address failing on meet.bob;
//   - an IPv6 /64 guessing on meet.dave;
//   - a room alias that is markup, which must come out escaped;
//   - an sshd jail with one permanent ban and no rooms.
func scenario() events {
	var e events
	const rp = "pexiprp"
	guesser := "198.51.100.66"
	for i := range 30 {
		t := at(5 * i)
		e.attempt(rp, guesser, "meet.bob", t)
		if i == 5 {
			for j := range 5 {
				e.failure(rp, guesser, "meet.bob", at(5*j))
			}
			e.ban(rp, guesser, "meet.bob", t, 5*time.Minute, 5)
		}
	}
	for i := range 6 {
		t := at(600 + 5*i)
		e.attempt(rp, guesser, "meet.bob", t)
		if i == 5 {
			for j := range 5 {
				e.failure(rp, guesser, "meet.bob", at(600+5*j))
			}
			e.ban(rp, guesser, "meet.bob", t, 10*time.Minute, 5)
		}
	}

	var attackers []string
	for i := 1; i <= 11; i++ {
		id := fmt.Sprintf("203.0.113.%d", i)
		attackers = append(attackers, id)
		e.attempt(rp, id, "meet.alice", at(60+i*5))
		e.attempt(rp, id, "meet.alice", at(120+i*5))
		e.failure(rp, id, "meet.alice", at(120+i*5))
	}
	e.attack(rp, "meet.alice", at(180))
	for _, id := range attackers {
		e.ban(rp, id, "meet.alice", at(180), 5*time.Minute, 1)
	}
	e.attempt(rp, "203.0.113.77", "meet.alice", at(2400))
	e.attack(rp, "meet.alice", at(2400))
	e.ban(rp, "203.0.113.77", "meet.alice", at(2400), 5*time.Minute, 1)

	e.attempt(rp, "192.0.2.10", "meet.carol", at(200))

	for i := range 3 {
		e.attempt(rp, "10.0.0.5", "meet.bob", at(300+i))
		e.ignored(rp, "10.0.0.5", "meet.bob", at(300+i))
	}

	v6 := "2001:db8:1::/64"
	for i := range 7 {
		t := at(900 + 20*i)
		e.attempt(rp, v6, "meet.dave", t)
		if i >= 1 {
			e.failure(rp, v6, "meet.dave", at(900+20*(i-1)))
		}
		if i == 5 {
			e.ban(rp, v6, "meet.dave", t, 5*time.Minute, 5)
		}
	}

	evil := `"><script>alert(1)</script>`
	e.attempt(rp, "198.51.100.99", evil, at(1000))
	e.attempt(rp, "198.51.100.99", evil, at(1010))
	e.failure(rp, "198.51.100.99", evil, at(1000))

	for i := range 5 {
		e.attempt("sshd", "203.0.113.200", "", at(1200+i*30))
		e.failure("sshd", "203.0.113.200", "", at(1200+i*30))
	}
	e.ban("sshd", "203.0.113.200", "", at(1320), config.Permanent, 5)
	e.attempt("sshd", "203.0.113.200", "", at(1500))
	return e
}

// record feeds evs to a new Recorder with opts.
func record(opts Options, evs []jail.Event) *Recorder {
	r := NewRecorder(opts)
	for _, ev := range evs {
		r.Record(ev)
	}
	return r
}

// fixedNow makes the generation time of a report reproducible.
func fixedNow() time.Time { return time.Date(2024, time.May, 15, 8, 0, 0, 0, time.UTC) }

package scenarios

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pinjail/pinjail/internal/rplog"
)

// The address plan. The background traffic's clients come from
// 100.64.0.0/10, 198.51.100.0/24 and 2001:db8:0000::/36, so none of these
// is ever one of them.
var (
	// office is a company's NAT address: everyone in it is one client.
	office = netip.MustParseAddr("192.0.2.1")
	// users4 and users6 hold the scripted legitimate users.
	users4 = netip.MustParsePrefix("192.0.2.0/24")
	users6 = netip.MustParsePrefix("2001:db8:1000::/48")
	// botnet holds a distributed attack's 300 addresses.
	botnet = netip.MustParsePrefix("198.18.0.0/15")
)

// Rooms. None of them is one the background traffic joins.
const (
	finance  = "vmr.finance%40example.com"
	ceo      = "vmr.ceo%40example.com"
	allHands = "vmr.allhands%40example.com"
	known    = "vmr.teamroom%40example.com"
)

// scenarios are the cases of TestScenarios. The limits are the issue's:
// legitimate joins are never blocked; one address, or one IPv6 /64, gets
// at most 6 guesses before its first ban; a slow attacker (4 guesses every
// 5 minutes) at most 25; registration and alias-scan attackers at most 10;
// and each of 300 addresses attacking one room at most one guess after the
// room is flagged.
var scenarios = []scenario{
	{class: "legitimate", name: "office NAT, 80 correct-PIN joins in 20 minutes", seed: 1, span: 25 * time.Minute,
		script: officeJoins(correctPIN)},
	{class: "legitimate", name: "office NAT, 80 joins in 20 minutes with typos", seed: 2, span: 25 * time.Minute,
		script: officeJoins(withTypos)},
	{class: "legitimate", name: "PexRTC typo joins", seed: 3, span: 40 * time.Minute,
		script: typoJoins(rplog.PexRTCTypo, rplog.PexRTCTwoTypos)},
	{class: "legitimate", name: "SDK joins", seed: 4, span: 40 * time.Minute,
		script: typoJoins(rplog.SDK, rplog.SDKTypo, rplog.SDKTwoTypos)},
	{class: "legitimate", name: "SSO joins, 100 in 30 minutes", seed: 7, span: 35 * time.Minute,
		script: ssoJoins},
	{class: "legitimate", name: "SSO all-hands, 150 joins in 4 minutes", seed: 5, span: 20 * time.Minute,
		script: ssoAllHands},
	{class: "legitimate", name: "open rooms", seed: 6, span: 15 * time.Minute,
		script: openRooms},

	{class: "brute force", name: "one address", seed: 10, span: 30 * time.Minute,
		script: bruteForce},
	{class: "brute force", name: "one address during a node outage", seed: 11, span: 30 * time.Minute,
		script: bruteForceOutage},
	{class: "brute force", name: "one address that knows another room's PIN", seed: 12, span: 30 * time.Minute,
		script: bruteForceKnowsOneRoom},
	{class: "brute force", name: "one address rotating rooms", seed: 13, span: 30 * time.Minute,
		script: bruteForceRotatingRooms},

	{class: "IPv6", name: "rotating inside a /64", seed: 20, span: 30 * time.Minute,
		script: ipv6Rotating},

	{class: "slow", name: "4 guesses every 5 minutes, in bursts", seed: 30, span: 90 * time.Minute,
		script: slowGuesser(4, 5*time.Second, 5*time.Minute)},
	{class: "slow", name: "4 guesses every 5 minutes, evenly spaced", seed: 31, span: 90 * time.Minute,
		script: slowGuesser(1, 0, 75*time.Second)},
	{class: "slow", name: "3 guesses every 5 minutes, under pexiprp's limit", seed: 32, span: 90 * time.Minute,
		script: slowGuesser(1, 0, 100*time.Second)},

	{class: "registration", name: "one address", seed: 40, span: 30 * time.Minute,
		script: registrationGuesser(false)},
	{class: "registration", name: "rotating inside a /64", seed: 41, span: 30 * time.Minute,
		script: registrationGuesser(true)},

	{class: "alias scan", name: "one address", seed: 50, span: 30 * time.Minute,
		script: aliasScanner(false)},
	{class: "alias scan", name: "rotating inside a /64", seed: 51, span: 30 * time.Minute,
		script: aliasScanner(true)},

	{class: "distributed", name: "300 addresses, 3 quick guesses each in turn", seed: 60, span: 50 * time.Minute,
		script: distributedAttack(bursts)},
	{class: "distributed", name: "300 addresses, 3 rounds of 5 minutes", seed: 61, span: 40 * time.Minute,
		script: distributedAttack(rounds(5 * time.Minute))},
	{class: "distributed", name: "300 addresses, 3 rounds of 15 minutes", seed: 62, span: 70 * time.Minute,
		script: distributedAttack(rounds(15 * time.Minute))},
}

// flowMix picks a join flow.
type flowMix []struct {
	flow rplog.Flow
	// weight is the flow's share in percent.
	weight int
}

var (
	correctPIN = flowMix{{rplog.PexRTC, 60}, {rplog.SDK, 40}}
	// withTypos: one join in five with a wrong PIN first, as in the
	// background traffic (rplog's web app and SDK mixes), some with two.
	withTypos = flowMix{
		{rplog.PexRTC, 50}, {rplog.SDK, 30}, {rplog.PexRTCTypo, 8}, {rplog.SDKTypo, 6},
		{rplog.PexRTCTwoTypos, 3}, {rplog.SDKTwoTypos, 3},
	}
)

func (p *plan) pick(m flowMix) rplog.Flow {
	u := p.rng.IntN(100)
	for _, f := range m {
		if u < f.weight {
			return f.flow
		}
		u -= f.weight
	}
	return m[len(m)-1].flow
}

// join queues a join and notes a user who mistyped twice.
func (p *plan) join(flow rplog.Flow, addr netip.Addr, alias string, t time.Time) error {
	if flow == rplog.PexRTCTwoTypos || flow == rplog.SDKTwoTypos {
		p.twoTypos = append(p.twoTypos, addr)
	}
	_, err := p.w.Join(flow, addr, alias, t)
	return err
}

// user returns the i-th scripted legitimate user's address: IPv4 for even
// i, a /64 of its own for odd i.
func user(i int) netip.Addr {
	if i%2 == 0 {
		a, _ := rplog.HostIn(users4, uint64(10+i/2))
		return a
	}
	b := users6.Addr().As16()
	b[6], b[7] = byte(i>>8), byte(i) // the i-th /64 of the /48
	b[15] = 1
	return netip.AddrFrom16(b)
}

// officeJoins: everyone in an office behind one NAT address joins four
// meetings that start 5 minutes apart, 20 people each, from 90 s before a
// meeting to 150 s after its start: 80 joins in 20 minutes.
func officeJoins(mix flowMix) func(*plan) error {
	return func(p *plan) error {
		for m := range 4 {
			room := fmt.Sprintf("vmr.meeting%d%%40example.com", m+1)
			meeting := 90*time.Second + time.Duration(m)*5*time.Minute
			for range 20 {
				t := at(meeting + p.between(-90*time.Second, 150*time.Second))
				if err := p.join(p.pick(mix), office, room, t); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// typoJoins: 60 users from their own addresses join three rooms over 30
// minutes, through the given flows in turn; and one user joins three
// meetings, mistyping the PIN twice every time.
func typoJoins(flows ...rplog.Flow) func(*plan) error {
	return func(p *plan) error {
		for i := range 60 {
			room := fmt.Sprintf("vmr.team%d%%40example.com", i%3+1)
			if err := p.join(flows[i%len(flows)], user(i), room, at(p.between(0, 30*time.Minute))); err != nil {
				return err
			}
		}
		typist := user(100)
		twice := rplog.PexRTCTwoTypos
		if flows[0] == rplog.SDK {
			twice = rplog.SDKTwoTypos
		}
		for m := range 3 {
			room := fmt.Sprintf("vmr.team%d%%40example.com", m+1)
			if err := p.join(twice, typist, room, at(time.Duration(5+10*m)*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	}
}

// ssoJoins: 100 people join three rooms behind single sign-on over 30
// minutes, each from an address of its own; the SSO flow logs two 403s
// before each 200.
func ssoJoins(p *plan) error {
	for i := range 100 {
		room := fmt.Sprintf("vmr.sso%d%%40example.com", i%3+1)
		if _, err := p.w.Join(rplog.SSO, user(i), room, at(p.between(0, 30*time.Minute))); err != nil {
			return err
		}
	}
	return nil
}

// ssoAllHands: a company meeting behind single sign-on. 150 people join in
// the 4 minutes around its start, 20 of them from the office NAT, the rest
// from home.
func ssoAllHands(p *plan) error {
	for i := range 150 {
		addr := user(i)
		if i < 20 {
			addr = office
		}
		// Most join around the start, a few early or late.
		offset := (p.between(0, 2*time.Minute) + p.between(0, 2*time.Minute)) - time.Minute
		if _, err := p.w.Join(rplog.SSO, addr, allHands, at(5*time.Minute+offset)); err != nil {
			return err
		}
	}
	return nil
}

// openRooms: 200 joins of rooms without a PIN in 10 minutes, 50 of them from
// the office NAT.
func openRooms(p *plan) error {
	for i := range 200 {
		addr := user(i)
		if i < 50 {
			addr = office
		}
		room := fmt.Sprintf("vmr.open%d%%40example.com", i%5)
		if _, err := p.w.Join(rplog.Open, addr, room, at(p.between(0, 10*time.Minute))); err != nil {
			return err
		}
	}
	return nil
}

// roomUsers scripts the legitimate users of an attacked room: 5 regulars
// who join it before the attack and again while it goes on, the second
// time mistyping the PIN twice, and 3 newcomers who join it for the first
// time during the attack. attack is when the attack starts, length how
// long it lasts.
func (p *plan) roomUsers(room string, attack, length time.Duration) error {
	for i := range 5 {
		u := user(200 + i)
		if err := p.join(rplog.PexRTC, u, room, at(p.between(0, attack-time.Minute))); err != nil {
			return err
		}
		if err := p.join(rplog.PexRTCTwoTypos, u, room, at(attack+p.between(0, length))); err != nil {
			return err
		}
	}
	for i := range 3 {
		u := user(300 + i)
		p.newcomers = append(p.newcomers, u)
		if err := p.join(rplog.PexRTC, u, room, at(attack+p.between(time.Minute, length))); err != nil {
			return err
		}
	}
	return nil
}

// guesses queues n wrong PINs on alias from addr(i), every gap from first.
func (p *plan) guesses(n int, first, gap time.Duration, alias string, addr func(i int) netip.Addr) error {
	for i := range n {
		if err := p.w.Guess(addr(i), alias, at(first+time.Duration(i)*gap)); err != nil {
			return err
		}
	}
	return nil
}

func single(a netip.Addr) func(int) netip.Addr { return func(int) netip.Addr { return a } }

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// bruteForce: a script guesses the finance room's PIN every 3 s for 20
// minutes from one address.
func bruteForce(p *plan) error {
	a := netip.MustParseAddr("203.0.113.9")
	p.attackers = append(p.attackers, attacker{source: host(a), maxBeforeBan: 6})
	if err := p.roomUsers(finance, 5*time.Minute, 20*time.Minute); err != nil {
		return err
	}
	return p.guesses(400, 5*time.Minute, 3*time.Second, finance, single(a))
}

// bruteForceOutage: the same while a conferencing node fails, so that every
// request is retried on another node and logged with two upstreams
// ("502, 403"), which Pexip's stock filter does not match. The room's
// regular users' joins are retried too.
func bruteForceOutage(p *plan) error {
	if err := p.w.Outage(at(4*time.Minute), at(26*time.Minute)); err != nil {
		return err
	}
	return bruteForce(p)
}

// bruteForceKnowsOneRoom: an attacker who knows the PIN of one room joins
// it every minute while it guesses another's: its 200s there must not
// forgive its failures on the finance room.
func bruteForceKnowsOneRoom(p *plan) error {
	a := netip.MustParseAddr("203.0.113.20")
	p.attackers = append(p.attackers, attacker{source: host(a), alias: finance, maxBeforeBan: 6})
	if err := p.roomUsers(finance, 5*time.Minute, 20*time.Minute); err != nil {
		return err
	}
	for i := range 25 {
		if _, err := p.w.Join(rplog.PexRTC, a, known, at(2*time.Minute+time.Duration(i)*time.Minute+time.Second)); err != nil {
			return err
		}
	}
	// Guesses on even seconds, the known room's calls on odd ones.
	return p.guesses(300, 5*time.Minute, 4*time.Second, finance, single(a))
}

// bruteForceRotatingRooms: one address guesses one PIN on each of 30 rooms
// in turn, every 3 s: a single address, spread over rooms.
func bruteForceRotatingRooms(p *plan) error {
	a := netip.MustParseAddr("203.0.113.30")
	p.attackers = append(p.attackers, attacker{source: host(a), maxBeforeBan: 6})
	if err := p.roomUsers("vmr.room0%40example.com", 5*time.Minute, 20*time.Minute); err != nil {
		return err
	}
	for i := range 300 {
		room := fmt.Sprintf("vmr.room%d%%40example.com", i%30)
		if err := p.w.Guess(a, room, at(5*time.Minute+time.Duration(i)*3*time.Second)); err != nil {
			return err
		}
	}
	return nil
}

// ipv6Rotating: every guess from another random address of one /64, every
// 2 s for 15 minutes. The room's regulars come from the neighbouring /64s
// of the same /48.
func ipv6Rotating(p *plan) error {
	source := netip.MustParsePrefix("2001:db8:a77a:1::/64")
	p.attackers = append(p.attackers, attacker{source: source, maxBeforeBan: 6})
	for i := range 5 {
		neighbour := netip.MustParseAddr(fmt.Sprintf("2001:db8:a77a:%x::42", i+2))
		if err := p.join(rplog.PexRTC, neighbour, finance, at(p.between(0, 4*time.Minute))); err != nil {
			return err
		}
		if err := p.join(rplog.PexRTCTwoTypos, neighbour, finance, at(p.between(5*time.Minute, 20*time.Minute))); err != nil {
			return err
		}
	}
	return p.guesses(450, 5*time.Minute, 2*time.Second, finance, func(int) netip.Addr {
		a, _ := rplog.HostIn(source, p.rng.Uint64())
		return a
	})
}

// slowGuesser: batches of n guesses gap apart, one batch every period, for
// 85 minutes. fail2ban's count (which pinjail's follows) scales a ticket
// older than findtime to its rate, so pexiprp (5 in 5 minutes) catches 4
// guesses every 5 minutes by itself; 3 every 5 minutes stay under it and
// are left to the 24-hour jail.
func slowGuesser(n int, gap, period time.Duration) func(*plan) error {
	return func(p *plan) error {
		a := netip.MustParseAddr("203.0.113.40")
		p.attackers = append(p.attackers, attacker{source: host(a), maxBeforeBan: 25})
		if err := p.roomUsers(finance, 5*time.Minute, time.Hour); err != nil {
			return err
		}
		for first := 5 * time.Minute; first < 90*time.Minute; first += period {
			if err := p.guesses(n, first, gap, finance, single(a)); err != nil {
				return err
			}
		}
		return nil
	}
}

// registrationGuesser: wrong passwords for one device alias every 4 s for
// 15 minutes, from one address or from random addresses of one /64.
// Legitimate users register meanwhile, 30 from home, some mistyping their
// password once or twice, and 40 devices from the office NAT with 4 typos
// among them.
func registrationGuesser(rotating bool) func(*plan) error {
	return func(p *plan) error {
		source := netip.MustParsePrefix("203.0.113.50/32")
		if rotating {
			source = netip.MustParsePrefix("2001:db8:a77a:5::/64")
		}
		p.attackers = append(p.attackers, attacker{source: source, maxBeforeBan: 10})
		for i := range 30 {
			device := fmt.Sprintf("user%d%%40example.com", i)
			if _, err := p.w.Register(user(i), device, i%3, at(p.between(0, 25*time.Minute))); err != nil {
				return err
			}
		}
		for i := range 40 {
			wrong := 0
			if i < 4 {
				wrong = 1
			}
			device := fmt.Sprintf("staff%d%%40example.com", i)
			if _, err := p.w.Register(office, device, wrong, at(p.between(0, 10*time.Minute))); err != nil {
				return err
			}
		}
		for i := range 225 {
			addr := source.Addr()
			if rotating {
				addr, _ = rplog.HostIn(source, p.rng.Uint64())
			}
			if err := p.w.GuessPassword(addr, "ceo%40example.com", at(5*time.Minute+time.Duration(i)*4*time.Second)); err != nil {
				return err
			}
		}
		return nil
	}
}

// scanWords are aliases a scanner tries besides numbers.
var scanWords = []string{"admin", "test", "meet", "vmr", "room", "lobby", "ivr", "sales", "board", "ceo"}

// aliasScanner: request_token for aliases that do not exist every 2 s for
// 15 minutes, from one address or from random addresses of one /64.
// Meanwhile 20 users mistype a room's alias once and then join it, and 5
// people in the office do the same within 10 minutes.
func aliasScanner(rotating bool) func(*plan) error {
	return func(p *plan) error {
		source := netip.MustParsePrefix("203.0.113.60/32")
		if rotating {
			source = netip.MustParsePrefix("2001:db8:a77a:6::/64")
		}
		p.attackers = append(p.attackers, attacker{source: source, maxBeforeBan: 10})
		mistype := func(addr netip.Addr, t time.Duration) error {
			if err := p.w.TryAlias(addr, "vmr.financ%40example.com", at(t)); err != nil {
				return err
			}
			_, err := p.w.Join(rplog.PexRTC, addr, finance, at(t+15*time.Second))
			return err
		}
		for i := range 20 {
			if err := mistype(user(i), p.between(0, 25*time.Minute)); err != nil {
				return err
			}
		}
		for range 5 {
			if err := mistype(office, p.between(0, 10*time.Minute)); err != nil {
				return err
			}
		}
		for i := range 450 {
			addr := source.Addr()
			if rotating {
				addr, _ = rplog.HostIn(source, p.rng.Uint64())
			}
			alias := fmt.Sprint(1000 + p.rng.IntN(9000))
			if p.rng.IntN(2) == 0 {
				alias = scanWords[p.rng.IntN(len(scanWords))]
			}
			if p.rng.IntN(3) == 0 {
				alias += "%40example.com"
			}
			if err := p.w.TryAlias(addr, alias, at(5*time.Minute+time.Duration(i)*2*time.Second)); err != nil {
				return err
			}
		}
		return nil
	}
}

// schedule returns when address i of 300 makes its guess g of 3, from the
// attack's start.
type schedule func(i, g int) time.Duration

// bursts: one address after another, a new one every 6 s, each making its
// 3 guesses 5 s apart (no two guesses share a second).
func bursts(i, g int) time.Duration {
	return time.Duration(6*i+5*g) * time.Second
}

// rounds: every address guesses once per round, one guess a second spread
// evenly over the round; 3 rounds back to back.
func rounds(length time.Duration) schedule {
	step := length / 300
	return func(i, g int) time.Duration {
		return time.Duration(g)*length + time.Duration(i)*step
	}
}

// distributedAttack: 300 addresses make 3 guesses each on the CEO's room,
// starting 10 minutes in; the room's regulars and newcomers join meanwhile.
func distributedAttack(when schedule) func(*plan) error {
	return func(p *plan) error {
		const attack = 10 * time.Minute
		d := distributed{alias: ceo, maxAfterFlag: 1}
		var last time.Duration
		for i := range 300 {
			addr, err := rplog.HostIn(botnet, uint64(1+7*i))
			if err != nil {
				return err
			}
			d.sources = append(d.sources, addr)
			for g := range 3 {
				last = max(last, when(i, g))
				if err := p.w.Guess(addr, ceo, at(attack+when(i, g))); err != nil {
					return err
				}
			}
		}
		p.distributed = append(p.distributed, d)
		return p.roomUsers(ceo, attack, last)
	}
}

package nft

import (
	"encoding/binary"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/enforce"
)

// verdict is what a rule does with a banned source's packet.
type verdict int

const (
	drop verdict = iota
	rejectTCPReset
	rejectICMPX
)

// ruleMatch is the protocol part of one rule: a jail that rejects needs
// one rule for tcp, answered with a reset, and one for the rest, answered
// with ICMP port unreachable; a jail that drops needs only one.
type ruleMatch struct {
	protocols []enforce.Protocol // nil: any protocol
	verdict   verdict
}

func ruleMatches(m enforce.Match) []ruleMatch {
	if !m.Reject {
		return []ruleMatch{{m.Protocols, drop}}
	}
	if m.Protocols == nil {
		// The tcp rule comes first, so the catch-all sees no tcp packet.
		return []ruleMatch{{[]enforce.Protocol{enforce.TCP}, rejectTCPReset}, {nil, rejectICMPX}}
	}
	var rules []ruleMatch
	var others []enforce.Protocol
	for _, p := range m.Protocols {
		if p == enforce.TCP {
			rules = append(rules, ruleMatch{[]enforce.Protocol{enforce.TCP}, rejectTCPReset})
		} else {
			others = append(others, p)
		}
	}
	if others != nil {
		rules = append(rules, ruleMatch{others, rejectICMPX})
	}
	return rules
}

// rulesPerJail returns how many rules a jail with match m owns.
func rulesPerJail(m enforce.Match) int { return len(ruleMatches(m)) * int(numKinds) }

// ruleComment marks a jail's rules, so that they can be found again, by
// pinjail and by operators reading `nft list ruleset`.
func ruleComment(base string) string { return "pinjail:" + base }

func ruleUserData(base string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, ruleComment(base))
}

func commentOf(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// stageRules adds j's rules to c, in the order v4 hosts, v4 prefixes, v6
// hosts, v6 prefixes.
func stageRules(c *nftables.Conn, chain *nftables.Chain, j *jail) error {
	for kind := range numKinds {
		for _, rm := range ruleMatches(j.match) {
			exprs, err := ruleExprs(c, chain.Table, kind, j.setName(kind), rm, j.match.Ports)
			if err != nil {
				return err
			}
			c.AddRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: exprs, UserData: ruleUserData(j.base)})
		}
	}
	return nil
}

// ruleExprs builds
//
//	meta nfproto ipv4 [meta l4proto P] [th dport PORTS] ip saddr @SET counter VERDICT
//
// The nfproto check comes before any payload load: in an inet table an
// IPv6 packet would otherwise be read at IPv4 offsets.
func ruleExprs(c *nftables.Conn, t *nftables.Table, kind setKind, set string, rm ruleMatch, ports []enforce.PortRange) ([]expr.Any, error) {
	nfproto, addrOffset, addrLen := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if kind.ipv6() {
		nfproto, addrOffset, addrLen = unix.NFPROTO_IPV6, 8, 16
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
	}
	if rm.protocols != nil {
		exprs = append(exprs, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		if len(rm.protocols) == 1 {
			exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(rm.protocols[0])}})
		} else {
			s := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: nftables.TypeInetProto}
			elems := make([]nftables.SetElement, len(rm.protocols))
			for i, p := range rm.protocols {
				elems[i] = nftables.SetElement{Key: []byte{byte(p)}}
			}
			if err := c.AddSet(s, elems); err != nil {
				return nil, err
			}
			exprs = append(exprs, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID})
		}
	}
	if ports != nil {
		// Every protocol a jail can name keeps its destination port in
		// the third and fourth bytes of its header, which is what nft's
		// "th dport" reads.
		exprs = append(exprs, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		switch {
		case len(ports) == 1 && ports[0].First == ports[0].Last:
			exprs = append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(ports[0].First)})
		case len(ports) == 1:
			exprs = append(exprs, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(ports[0].First), ToData: be16(ports[0].Last)})
		default:
			s := &nftables.Set{Table: t, Anonymous: true, Constant: true, Interval: true, KeyType: nftables.TypeInetService}
			if err := c.AddSet(s, portElements(ports)); err != nil {
				return nil, err
			}
			exprs = append(exprs, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID})
		}
	}
	exprs = append(exprs,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOffset, Len: addrLen},
		&expr.Lookup{SourceRegister: 1, SetName: set},
		&expr.Counter{},
	)
	switch rm.verdict {
	case rejectTCPReset:
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case rejectICMPX:
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	default:
		exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	return exprs, nil
}

// portElements encodes port ranges as interval set elements the way nft
// does: each range is a start element and an end element one past it,
// with an end element at 0 first when the ranges do not start there.
func portElements(ports []enforce.PortRange) []nftables.SetElement {
	var elems []nftables.SetElement
	if ports[0].First != 0 {
		elems = append(elems, nftables.SetElement{Key: be16(0), IntervalEnd: true})
	}
	for _, r := range ports {
		elems = append(elems, nftables.SetElement{Key: be16(r.First)})
		if r.Last < 65535 {
			elems = append(elems, nftables.SetElement{Key: be16(r.Last + 1), IntervalEnd: true})
		}
	}
	return elems
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

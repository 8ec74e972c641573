package enforce

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Protocol is an IP protocol number.
type Protocol uint8

// The protocols a jail can match. Each carries its destination port at the
// same place, the third and fourth bytes of its header.
const (
	TCP     Protocol = 6
	UDP     Protocol = 17
	DCCP    Protocol = 33
	SCTP    Protocol = 132
	UDPLite Protocol = 136
)

var protocolNames = map[string]Protocol{
	"tcp": TCP, "udp": UDP, "dccp": DCCP, "sctp": SCTP, "udplite": UDPLite,
}

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case DCCP:
		return "dccp"
	case SCTP:
		return "sctp"
	case UDPLite:
		return "udplite"
	}
	return strconv.Itoa(int(p))
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	First, Last uint16
}

// String formats r in fail2ban's syntax.
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + ":" + strconv.Itoa(int(r.Last))
}

// Match is a [Spec] resolved to what a firewall rule matches.
type Match struct {
	// Protocols lists the matched protocols in ascending order; nil
	// matches every protocol.
	Protocols []Protocol
	// Ports lists the matched destination ports as sorted, disjoint,
	// non-adjacent ranges; nil matches every port.
	Ports []PortRange
	// Reject is set when packets are rejected rather than dropped.
	Reject bool
}

// String describes m for logs, in nft's words.
func (m Match) String() string {
	var parts []string
	if m.Protocols == nil {
		parts = append(parts, "all protocols")
	} else {
		names := make([]string, len(m.Protocols))
		for i, p := range m.Protocols {
			names[i] = p.String()
		}
		parts = append(parts, strings.Join(names, ","))
	}
	if m.Ports == nil {
		parts = append(parts, "all ports")
	} else {
		parts = append(parts, "dport "+FormatPorts(m.Ports))
	}
	if m.Reject {
		parts = append(parts, "reject")
	} else {
		parts = append(parts, "drop")
	}
	return strings.Join(parts, " ")
}

// Resolve validates s and resolves its protocols, ports and block type.
// Service names are looked up in /etc/services, then in Go's small
// built-in table (ssh, http, https, smtp...).
func (s Spec) Resolve(ctx context.Context) (Match, error) {
	if s.Jail == "" {
		return Match{}, fmt.Errorf("enforce: spec without a jail name")
	}
	var m Match
	switch strings.ToLower(strings.TrimSpace(s.Block)) {
	case "", "drop":
	case "reject":
		m.Reject = true
	default:
		return Match{}, fmt.Errorf("jail %q: block %q: want drop or reject", s.Jail, s.Block)
	}
	protos, err := parseProtocols(s.Protocols)
	if err != nil {
		return Match{}, fmt.Errorf("jail %q: %w", s.Jail, err)
	}
	m.Protocols = protos
	network := ""
	if len(protos) == 1 && (protos[0] == TCP || protos[0] == UDP) {
		network = protos[0].String()
	}
	ports, err := ParsePorts(ctx, s.Ports, network)
	if err != nil {
		return Match{}, fmt.Errorf("jail %q: %w", s.Jail, err)
	}
	if ports != nil && protos == nil {
		return Match{}, fmt.Errorf("jail %q: port %q needs a protocol with ports (tcp, udp, sctp, dccp, udplite), not all", s.Jail, s.Ports)
	}
	m.Ports = ports
	return m, nil
}

// parseProtocols returns nil for "all".
func parseProtocols(list []string) ([]Protocol, error) {
	var protos []Protocol
	all := false
	for _, entry := range list {
		for name := range strings.SplitSeq(entry, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "":
				continue
			case "all":
				all = true
				continue
			}
			p, ok := protocolNames[name]
			if !ok {
				return nil, fmt.Errorf("protocol %q: want tcp, udp, sctp, dccp, udplite or all", name)
			}
			if !slices.Contains(protos, p) {
				protos = append(protos, p)
			}
		}
	}
	switch {
	case all:
		return nil, nil
	case len(protos) == 0:
		return []Protocol{TCP}, nil
	}
	slices.Sort(protos)
	return protos, nil
}

// ParsePorts parses fail2ban's port syntax: a comma-separated list of port
// numbers, service names and first:last ranges. Names are resolved for
// network ("tcp", "udp", or "" for either) from /etc/services, then Go's
// built-in table. The result is sorted and merged; it is nil when s is
// empty or covers every port.
func ParsePorts(ctx context.Context, s, network string) ([]PortRange, error) {
	var ranges []PortRange
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		first, last, isRange := strings.Cut(item, ":")
		lo, err := resolvePort(ctx, first, network)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", item, err)
		}
		hi := lo
		if isRange {
			if hi, err = resolvePort(ctx, last, network); err != nil {
				return nil, fmt.Errorf("port %q: %w", item, err)
			}
			if hi < lo {
				return nil, fmt.Errorf("port %q: first port above last", item)
			}
		}
		ranges = append(ranges, PortRange{First: lo, Last: hi})
	}
	ranges = mergeRanges(ranges)
	if len(ranges) == 1 && ranges[0] == (PortRange{0, 65535}) {
		return nil, nil
	}
	return ranges, nil
}

func resolvePort(ctx context.Context, name, network string) (uint16, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, fmt.Errorf("missing port")
	}
	if name[0] >= '0' && name[0] <= '9' {
		n, err := strconv.ParseUint(name, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a port number (0-65535)", name)
		}
		return uint16(n), nil
	}
	if network == "" {
		network = "ip"
	}
	resolver := net.Resolver{PreferGo: true}
	n, err := resolver.LookupPort(ctx, network, name)
	if err != nil {
		return 0, fmt.Errorf("unknown service %q", name)
	}
	return uint16(n), nil
}

func mergeRanges(ranges []PortRange) []PortRange {
	if len(ranges) == 0 {
		return nil
	}
	slices.SortFunc(ranges, func(a, b PortRange) int { return cmp.Compare(a.First, b.First) })
	merged := ranges[:1]
	for _, r := range ranges[1:] {
		last := &merged[len(merged)-1]
		if int(r.First) <= int(last.Last)+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// FormatPorts formats ranges in fail2ban's syntax, which ParsePorts reads
// back.
func FormatPorts(ranges []PortRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

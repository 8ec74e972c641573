package ban

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pinjail/pinjail/internal/shellcmd"
)

// Resolver looks up a name's addresses; *net.Resolver is one. A Resolver that
// also implements shellcmd.CNAMEResolver gives the host's FQDN for
// ignoreself and the <fq-hostname> tag.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Runner runs an ignorecommand script; shellcmd.Run is the default.
type Runner func(ctx context.Context, script string, args []string, timeout time.Duration) (shellcmd.Result, error)

// AllowOptions carries an AllowList's dependencies and tuning. Every field
// may be left zero.
type AllowOptions struct {
	Resolver Resolver         // net.DefaultResolver when nil
	Runner   Runner           // shellcmd.Run when nil
	Logger   *slog.Logger     // discards when nil
	Now      func() time.Time // time.Now when nil; drives the caches
	// Hostname returns the host's name for ignoreself; os.Hostname when nil.
	Hostname func() (string, error)
	// InterfaceAddrs returns the host's interface addresses for ignoreself;
	// net.InterfaceAddrs when nil.
	InterfaceAddrs func() ([]net.Addr, error)
	// CommandTimeout bounds ignorecommand; 60 s (fail2ban's) when zero.
	CommandTimeout time.Duration
	// Cache is fail2ban's ignorecache: decisions are remembered under Key
	// (a template of tags, "<ip>" when empty) for TTL (5 minutes when
	// zero), at most Size of them. Size 0 disables it, fail2ban's default.
	Cache AllowCache
}

// AllowCache configures the decision cache (fail2ban's ignorecache).
type AllowCache struct {
	Key  string
	Size int
	TTL  time.Duration
}

// Cache durations from fail2ban: DNSUtils caches names and its own
// addresses for five minutes, and ignorecache's max-time defaults to the same.
const (
	dnsTTL                = 5 * time.Minute
	defaultCacheTTL       = 5 * time.Minute
	defaultCommandTimeout = 60 * time.Second
)

// AllowList is a jail's list of IDs never to ban (fail2ban's ignoreip,
// ignoreself and ignorecommand, s/filter.py _inIgnoreIPList). It is safe for
// concurrent use.
type AllowList struct {
	nets    prefixSet
	names   []string // DNS names, resolved at check time
	self    bool
	command string
	opts    AllowOptions
	log     *slog.Logger

	dnsMu sync.Mutex
	dns   map[string]resolved // name -> addresses

	selfMu    sync.Mutex
	selfAddrs resolved

	hostMu sync.Mutex
	script string // command with static tags expanded; "" until first use

	cache *decisionCache // nil when disabled
}

type resolved struct {
	addrs   map[netip.Addr]struct{}
	expires time.Time
}

// NewAllowList builds the allow list from ignoreip entries (single addresses,
// CIDR prefixes with a length or a dotted mask, bracketed IPv6, DNS names;
// entries may also be separated by spaces or commas), ignoreself and
// ignorecommand (with tags left in; see Contains). An entry that is none of
// those is an error naming it.
func NewAllowList(entries []string, self bool, command string, opts AllowOptions) (*AllowList, error) {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Runner == nil {
		opts.Runner = shellcmd.Run
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hostname == nil {
		opts.Hostname = os.Hostname
	}
	if opts.InterfaceAddrs == nil {
		opts.InterfaceAddrs = net.InterfaceAddrs
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = defaultCommandTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &AllowList{self: self, command: strings.TrimSpace(command), opts: opts, log: log, dns: make(map[string]resolved)}
	var errs []error
	for _, entry := range entries {
		for _, f := range strings.FieldsFunc(entry, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
			p, name, err := parseAllowEntry(f)
			switch {
			case err != nil:
				errs = append(errs, err)
			case name != "":
				if !slices.Contains(a.names, name) {
					a.names = append(a.names, name)
				}
			default:
				a.nets.add(p)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.Cache.Size > 0 {
		c := opts.Cache
		if c.Key == "" {
			c.Key = "<ip>"
		}
		if c.TTL <= 0 {
			c.TTL = defaultCacheTTL
		}
		a.cache = newDecisionCache(c)
	}
	return a, nil
}

// parseAllowEntry parses one ignoreip entry into a prefix or a DNS name.
func parseAllowEntry(s string) (netip.Prefix, string, error) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	addrText, maskText, hasMask := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		if !hasMask && isDNSName(s) {
			return netip.Prefix{}, strings.ToLower(strings.TrimSuffix(s, ".")), nil
		}
		return netip.Prefix{}, "", fmt.Errorf("ignoreip %q: neither an address, a prefix nor a DNS name", s)
	}
	addr = addr.WithZone("")
	bits := addr.BitLen()
	if hasMask {
		if bits, err = maskBits(addr, maskText); err != nil {
			return netip.Prefix{}, "", fmt.Errorf("ignoreip %q: %w", s, err)
		}
	}
	// fail2ban treats an IPv4-mapped IPv6 address as the IPv4 one.
	if addr.Is4In6() && bits >= 96 {
		addr, bits = addr.Unmap(), bits-96
	}
	return netip.PrefixFrom(addr, bits).Masked(), "", nil
}

// maskBits reads a prefix length, or a mask written as an address
// (255.255.255.0, ffff:ffff::).
func maskBits(addr netip.Addr, text string) (int, error) {
	if !strings.ContainsAny(text, ".:") {
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 || n > addr.BitLen() {
			return 0, fmt.Errorf("invalid prefix length %q", text)
		}
		return n, nil
	}
	mask, err := netip.ParseAddr(text)
	if err != nil || mask.BitLen() != addr.BitLen() {
		return 0, fmt.Errorf("invalid mask %q", text)
	}
	b := mask.AsSlice()
	n := 0
	for n < len(b)*8 && b[n/8]&(0x80>>(n%8)) != 0 {
		n++
	}
	for i := n; i < len(b)*8; i++ {
		if b[i/8]&(0x80>>(i%8)) != 0 {
			return 0, fmt.Errorf("mask %q is not contiguous", text)
		}
	}
	return n, nil
}

// isDNSName accepts host names: dot-separated labels of letters, digits,
// hyphens and underscores, at least one letter somewhere (so that a mistyped
// address such as 1.2.3.256 is reported rather than looked up).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c|0x20 && c|0x20 <= 'z':
				letter = true
			case '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return letter
}

// Contains reports whether id must not be banned. addr is the ID's address
// (invalid for an ID that is not one, which only ignorecommand can spare);
// fields are the filter's captured fields. The checks run in fail2ban's
// order: the decision cache, the host's own addresses (ignoreself), the
// ignoreip addresses and prefixes, the ignoreip DNS names, then
// ignorecommand. ignorecommand gets the tags <ip> (the ID when it is not an
// address), <fid>, <family> and <ip-rev> (empty then) and <F-NAME> for each
// field, as shellcmd.Build passes them; exit status 0 spares the ID, 1 does
// not, anything else is logged as an error and does not.
func (a *AllowList) Contains(ctx context.Context, id string, addr netip.Addr, fields map[string]string) bool {
	addr = addr.Unmap().WithZone("")
	var tags map[string]string
	var key string
	if a.cache != nil {
		tags = a.tags(id, addr, fields)
		key = shellcmd.Replace(a.cache.key, tags)
		if v, ok := a.cache.get(key, a.opts.Now()); ok {
			return v
		}
	}
	source, ok := a.match(ctx, id, addr, fields, tags)
	if ok {
		a.log.Debug("ignored", "id", id, "by", source)
	}
	// As fail2ban, do not cache what the address set answers at once.
	if a.cache != nil && source != "ip" {
		a.cache.set(key, ok, a.opts.Now())
	}
	return ok
}

func (a *AllowList) match(ctx context.Context, id string, addr netip.Addr, fields, tags map[string]string) (string, bool) {
	if addr.IsValid() {
		if a.self && a.isSelf(ctx, addr) {
			return "ignoreself rule", true
		}
		if a.nets.contains(addr) {
			return "ip", true
		}
		for _, name := range a.names {
			if a.resolves(ctx, name, addr) {
				return "dns", true
			}
		}
	}
	if a.command == "" {
		return "", false
	}
	if tags == nil {
		tags = a.tags(id, addr, fields)
	}
	return "command", a.runCommand(ctx, id, tags)
}

// tags are the dynamic tags of ignorecommand and of the cache key.
func (a *AllowList) tags(id string, addr netip.Addr, fields map[string]string) map[string]string {
	tags := make(map[string]string, len(fields)+4)
	for k, v := range fields {
		tags["F-"+strings.ToLower(k)] = v
	}
	tags["fid"] = id
	tags["ip"] = id
	tags["family"] = ""
	tags["ip-rev"] = ""
	if addr.IsValid() {
		tags["ip"] = addr.String()
		tags["family"] = "inet6"
		if addr.Is4() {
			tags["family"] = "inet4"
		}
		tags["ip-rev"] = shellcmd.ReverseName(addr)
	}
	return tags
}

func (a *AllowList) runCommand(ctx context.Context, id string, tags map[string]string) bool {
	cmd, err := a.commandScript(ctx)
	if err != nil {
		a.log.Error("ignorecommand", "id", id, "err", err)
		return false
	}
	script, args := shellcmd.Build(cmd, tags)
	res, err := a.opts.Runner(ctx, script, args, a.opts.CommandTimeout)
	switch {
	case err != nil:
		a.log.Error("ignorecommand failed", "id", id, "err", err, "output", string(res.Output))
		return false
	case res.ExitCode == 0:
		return true
	case res.ExitCode == 1:
		return false
	}
	a.log.Error("ignorecommand failed", "id", id, "exit", res.ExitCode, "output", string(res.Output))
	return false
}

// commandScript expands ignorecommand's static tags (<br>, <sp> and the
// host names) once.
func (a *AllowList) commandScript(ctx context.Context) (string, error) {
	a.hostMu.Lock()
	defer a.hostMu.Unlock()
	if a.script != "" {
		return a.script, nil
	}
	var host shellcmd.Hostnames
	if strings.Contains(a.command, "hostname>") {
		r, _ := a.opts.Resolver.(shellcmd.CNAMEResolver)
		var err error
		if host, err = shellcmd.LookupHostnames(ctx, a.opts.Hostname, r); err != nil {
			return "", err
		}
	}
	script, err := shellcmd.Expand(a.command, nil, host)
	if err != nil {
		return "", err
	}
	a.script = script
	return script, nil
}

// resolves reports whether name resolves to addr, looking it up at most
// every five minutes. A failed lookup is remembered as no address, as in
// fail2ban, so that a dead DNS server does not slow every check.
func (a *AllowList) resolves(ctx context.Context, name string, addr netip.Addr) bool {
	now := a.opts.Now()
	a.dnsMu.Lock()
	r, ok := a.dns[name]
	a.dnsMu.Unlock()
	if !ok || !now.Before(r.expires) {
		r = resolved{addrs: a.lookup(ctx, name), expires: now.Add(dnsTTL)}
		a.dnsMu.Lock()
		a.dns[name] = r
		a.dnsMu.Unlock()
	}
	_, ok = r.addrs[addr]
	return ok
}

func (a *AllowList) lookup(ctx context.Context, name string) map[netip.Addr]struct{} {
	addrs, err := a.opts.Resolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		a.log.Warn("ignoreip: cannot resolve", "name", name, "err", err)
	}
	set := make(map[netip.Addr]struct{}, len(addrs))
	for _, ad := range addrs {
		set[ad.Unmap().WithZone("")] = struct{}{}
	}
	return set
}

// isSelf reports whether addr is one of the host's own: the addresses of
// localhost, of the host name and of its FQDN (fail2ban's
// DNSUtils.getSelfIPs), and of its interfaces, which fail2ban misses when
// the names do not resolve to them. The set is refreshed every five minutes.
func (a *AllowList) isSelf(ctx context.Context, addr netip.Addr) bool {
	now := a.opts.Now()
	a.selfMu.Lock()
	defer a.selfMu.Unlock()
	if a.selfAddrs.addrs == nil || !now.Before(a.selfAddrs.expires) {
		a.selfAddrs = resolved{addrs: a.ownAddrs(ctx), expires: now.Add(dnsTTL)}
	}
	_, ok := a.selfAddrs.addrs[addr]
	return ok
}

func (a *AllowList) ownAddrs(ctx context.Context) map[netip.Addr]struct{} {
	names := []string{"localhost"}
	r, _ := a.opts.Resolver.(shellcmd.CNAMEResolver)
	if host, err := shellcmd.LookupHostnames(ctx, a.opts.Hostname, r); err != nil {
		a.log.Warn("ignoreself: host name", "err", err)
	} else {
		names = append(names, host.Short)
		if host.FQDN != host.Short {
			names = append(names, host.FQDN)
		}
	}
	set := make(map[netip.Addr]struct{})
	for _, name := range names {
		for ad := range a.lookup(ctx, name) {
			set[ad] = struct{}{}
		}
	}
	ifaddrs, err := a.opts.InterfaceAddrs()
	if err != nil {
		a.log.Warn("ignoreself: interface addresses", "err", err)
	}
	for _, ia := range ifaddrs {
		var ad netip.Addr
		switch v := ia.(type) {
		case *net.IPNet:
			ad, _ = netip.AddrFromSlice(v.IP)
		case *net.IPAddr:
			ad, _ = netip.AddrFromSlice(v.IP)
		}
		if ad.IsValid() {
			set[ad.Unmap().WithZone("")] = struct{}{}
		}
	}
	return set
}

// prefixSet answers whether an address is in any of a set of prefixes with
// one map lookup per distinct prefix length, instead of one comparison per
// prefix: hundreds of ignoreip prefixes usually share a few lengths.
type prefixSet struct {
	v4, v6 []prefixGroup
}

type prefixGroup struct {
	bits int
	nets map[netip.Addr]struct{} // masked network addresses
}

func (s *prefixSet) add(p netip.Prefix) {
	groups := &s.v6
	if p.Addr().Is4() {
		groups = &s.v4
	}
	for i := range *groups {
		if (*groups)[i].bits == p.Bits() {
			(*groups)[i].nets[p.Addr()] = struct{}{}
			return
		}
	}
	*groups = append(*groups, prefixGroup{bits: p.Bits(), nets: map[netip.Addr]struct{}{p.Addr(): {}}})
}

func (s *prefixSet) contains(addr netip.Addr) bool {
	groups := s.v6
	if addr.Is4() {
		groups = s.v4
	}
	for _, g := range groups {
		p, err := addr.Prefix(g.bits)
		if err != nil {
			continue
		}
		if _, ok := g.nets[p.Addr()]; ok {
			return true
		}
	}
	return false
}

// decisionCache remembers decisions for a while, dropping the oldest first
// when full, as fail2ban's Utils.Cache does.
type decisionCache struct {
	key  string
	size int
	ttl  time.Duration

	mu    sync.Mutex
	order *list.List // of *cached, oldest first
	items map[string]*list.Element
}

type cached struct {
	key     string
	ignore  bool
	expires time.Time
}

func newDecisionCache(c AllowCache) *decisionCache {
	return &decisionCache{key: c.Key, size: c.Size, ttl: c.TTL, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *decisionCache) get(key string, now time.Time) (ignore, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return false, false
	}
	e := el.Value.(*cached)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return false, false
	}
	return e.ignore, true
}

func (c *decisionCache) set(key string, ignore bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
	for len(c.items) >= c.size {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cached).key)
	}
	c.items[key] = c.order.PushBack(&cached{key: key, ignore: ignore, expires: now.Add(c.ttl)})
}

package report

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

// source is what the report remembers of one ID that failed.
type source struct {
	// beforeBan counts the attempts that reached the service before the
	// first ban (all of them while never banned), whileBanned those that
	// came while a ban held (a live jail would have blocked them), total
	// all of them.
	beforeBan, whileBanned, total uint64
	// lastSeen is the Unix time of the latest attempt, which eviction goes
	// by; bannedUntil the end of the latest ban (math.MaxInt64 for ever).
	lastSeen, bannedUntil int64
	bans                  int
	// firstBan, failures and alias describe the first ban: when, the
	// failure count that triggered it, the room it was on.
	firstBan time.Time
	failures int
	alias    string
	// partial is set on a source first seen after other sources were
	// evicted: it may have been one of them, so its counts may miss
	// attempts.
	partial bool
}

// sources holds at most max sources of one jail.
type sources struct {
	max int
	m   map[string]*source
	// evicted counts sources forgotten, evictedBanned those of them that
	// had been banned.
	evicted, evictedBanned uint64
	// scratch is eviction's sort buffer, kept between evictions.
	scratch []int64
}

func newSources(limit int) sources {
	return sources{max: limit, m: make(map[string]*source)}
}

// get returns id's record, making room for it if it is new.
func (s *sources) get(id string) *source {
	if src := s.m[id]; src != nil {
		return src
	}
	if len(s.m) >= s.max {
		s.evict()
	}
	src := &source{partial: s.evicted > 0}
	s.m[id] = src
	return src
}

// attempt records an attempt of id at t.
func (s *sources) attempt(id string, t time.Time) {
	if id == "" {
		return
	}
	src := s.get(id)
	at := t.Unix()
	src.total++
	switch {
	case src.bans == 0:
		src.beforeBan++
	case at < src.bannedUntil:
		src.whileBanned++
	}
	src.lastSeen = max(src.lastSeen, at)
}

// ban records a ban event and reports whether it is the source's first.
func (s *sources) ban(ev jail.Event, alias string) bool {
	if ev.ID == "" {
		return false
	}
	src := s.get(ev.ID)
	until := int64(math.MaxInt64)
	if ev.BanTime >= 0 {
		until = ev.Time.Add(ev.BanTime).Unix()
	}
	src.bannedUntil = max(src.bannedUntil, until)
	src.bans++
	src.lastSeen = max(src.lastSeen, ev.Time.Unix())
	if src.bans > 1 {
		return false
	}
	src.firstBan, src.failures, src.alias = ev.Time, ev.Failures, alias
	return true
}

// evict forgets half of the sources: the least recently seen of those
// never banned, and only if they do not make up half, the banned ones
// with the fewest attempts before their ban, which the report ranks last.
// Halving keeps the sorting cost per new source logarithmic.
func (s *sources) evict() {
	want := len(s.m) - s.max/2
	want -= s.drop(want, func(src *source) (int64, bool) { return src.lastSeen, src.bans == 0 })
	if want > 0 {
		s.evictedBanned += uint64(s.drop(want, func(src *source) (int64, bool) { return int64(src.beforeBan), src.bans > 0 }))
	}
}

// drop forgets up to n of the sources key accepts, lowest keys first, and
// returns how many it forgot.
func (s *sources) drop(n int, key func(*source) (int64, bool)) int {
	s.scratch = s.scratch[:0]
	for _, src := range s.m {
		if k, ok := key(src); ok {
			s.scratch = append(s.scratch, k)
		}
	}
	n = min(n, len(s.scratch))
	if n <= 0 {
		return 0
	}
	slices.Sort(s.scratch)
	cut := s.scratch[n-1]
	// Every source below the cut goes, and as many at it as make n.
	below, _ := slices.BinarySearch(s.scratch, cut)
	atCut := n - below
	dropped := 0
	for id, src := range s.m {
		k, ok := key(src)
		if !ok || k > cut {
			continue
		}
		if k == cut {
			if atCut == 0 {
				continue
			}
			atCut--
		}
		delete(s.m, id)
		dropped++
	}
	s.evicted += uint64(dropped)
	return dropped
}

// banned returns the banned sources, most attempts before the ban first.
func (s *sources) banned() []bannedSource {
	var out []bannedSource
	for id, src := range s.m {
		if src.bans > 0 {
			p, ok := idPrefix(id)
			out = append(out, bannedSource{id: id, source: src, prefix: p, isAddr: ok})
		}
	}
	slices.SortFunc(out, func(a, b bannedSource) int {
		return cmp.Or(
			cmp.Compare(b.beforeBan, a.beforeBan),
			a.firstBan.Compare(b.firstBan),
			compareIDs(a, b),
		)
	})
	return out
}

type bannedSource struct {
	id string
	*source
	// prefix is the address or prefix id names, if isAddr.
	prefix netip.Prefix
	isAddr bool
}

// compareIDs orders addresses and prefixes numerically, before IDs that
// are neither, which go as text.
func compareIDs(a, b bannedSource) int {
	switch {
	case a.isAddr && b.isAddr:
		return cmp.Or(a.prefix.Addr().Compare(b.prefix.Addr()), cmp.Compare(a.prefix.Bits(), b.prefix.Bits()))
	case a.isAddr:
		return -1
	case b.isAddr:
		return 1
	}
	return cmp.Compare(a.id, b.id)
}

func idPrefix(id string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(id); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(id)
	return p, err == nil
}

package filter

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// ttlCache is fail2ban's Utils.Cache: entries expire maxTime after they
// were set, and when maxCount is reached the oldest entries are dropped
// (all expired ones at the front, and at least one). Time comes from the
// caller, so it follows the log's clock.
type ttlCache[V any] struct {
	maxCount int
	maxTime  time.Duration
	items    map[string]*list.Element
	order    list.List // of *cacheEntry[V], oldest first
}

type cacheEntry[V any] struct {
	key     string
	val     V
	expires time.Time
}

func newTTLCache[V any](maxCount int, maxTime time.Duration) *ttlCache[V] {
	return &ttlCache[V]{maxCount: maxCount, maxTime: maxTime, items: map[string]*list.Element{}}
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry[V])
		if e.expires.After(now) {
			return e.val, true
		}
		c.unset(key)
	}
	var zero V
	return zero, false
}

func (c *ttlCache[V]) set(key string, v V, now time.Time) {
	if len(c.items) >= c.maxCount {
		for c.order.Len() > 0 {
			e := c.order.Remove(c.order.Front()).(*cacheEntry[V])
			delete(c.items, e.key)
			if e.expires.After(now) && len(c.items) < c.maxCount {
				break
			}
		}
	}
	expires := now.Add(c.maxTime)
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry[V])
		e.val, e.expires = v, expires
		return
	}
	c.items[key] = c.order.PushBack(&cacheEntry[V]{key: key, val: v, expires: expires})
}

func (c *ttlCache[V]) unset(key string) {
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// dnsCache holds the addresses host names resolved to. Clones of a filter
// share it, so it has a lock.
type dnsCache struct {
	mu    sync.Mutex
	cache *ttlCache[[]netip.Addr]
}

func newDNSCache() *dnsCache {
	return &dnsCache{cache: newTTLCache[[]netip.Addr](1000, 5*time.Minute)}
}

func (c *dnsCache) get(host string, now time.Time) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cache.get(host, now)
}

func (c *dnsCache) set(host string, addrs []netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache.set(host, addrs, now)
}

package storecore

import (
	"container/list"
	"sync"
	"time"
)

// MaxCacheEntries bounds CacheOptions.MaxEntries, so that a typo cannot
// let a name-guessing attacker fill memory with negative entries.
const MaxCacheEntries = 1 << 22

// CacheOptions configure the in-process cache of fetched records.
type CacheOptions struct {
	// MaxEntries bounds the users held (positive and negative); the least
	// recently used gives way. 0 turns the cache off.
	MaxEntries int
	// TTL is how long a fetched user is kept. If 0, one minute.
	TTL time.Duration
	// NegativeTTL is how long "no such user" is kept. If 0, 10 seconds;
	// negative: not kept.
	NegativeTTL time.Duration
}

// cache is a bounded LRU of fetched entries with per-entry expiry. It
// holds parsed password fields, never a verification result: a cached
// bcrypt user still costs a bcrypt per login.
type cache struct {
	mu     sync.Mutex // guards everything below
	max    int
	ttl    time.Duration
	negTTL time.Duration
	m      map[string]*list.Element
	lru    list.List // front: most recent; values *cacheItem
	now    func() time.Time
}

type cacheItem struct {
	user    string
	e       *Entry // nil: no such user
	expires time.Time
}

func newCache(o CacheOptions) *cache {
	c := &cache{max: min(o.MaxEntries, MaxCacheEntries), ttl: o.TTL, negTTL: o.NegativeTTL,
		m: make(map[string]*list.Element), now: time.Now}
	if c.ttl == 0 {
		c.ttl = time.Minute
	}
	if c.negTTL == 0 {
		c.negTTL = 10 * time.Second
	}
	return c
}

// get returns the cached entry of user (nil for a cached unknown user).
func (c *cache) get(user string) (*Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[user]
	if !ok {
		return nil, false
	}
	it := el.Value.(*cacheItem)
	if !c.now().Before(it.expires) {
		c.lru.Remove(el)
		delete(c.m, user)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return it.e, true
}

// put records e (nil: unknown) for user.
func (c *cache) put(user string, e *Entry) {
	ttl := c.ttl
	if e == nil {
		ttl = c.negTTL
	}
	if ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.m[user]; ok {
		it := el.Value.(*cacheItem)
		it.e, it.expires = e, exp
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheItem).user)
	}
	c.m[user] = c.lru.PushFront(&cacheItem{user: user, e: e, expires: exp})
}

func (c *cache) forget(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[user]; ok {
		c.lru.Remove(el)
		delete(c.m, user)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

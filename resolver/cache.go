package resolver

import (
	"sync"
	"time"
)

// key names one cached query: the canonical name (lower case, no trailing
// dot) and the query type. Case-folding the name makes "Mail.Example" and
// "mail.example." share an entry, as DNS itself does (RFC 4343).
type key struct {
	name  string
	qtype uint16
}

// cache is a size-bounded LRU map of results with per-entry expiry. One
// mutex guards it: a hit is a map lookup and two pointer swaps, far
// cheaper than the SMTP work around it, so sharding is not worth its
// complexity at the gateway's rates.
type cache struct {
	mu    sync.Mutex
	max   int
	items map[key]*entry
	root  entry // sentinel of a circular list; root.next is most recent
}

type entry struct {
	k          key
	res        *result
	expires    time.Time
	prev, next *entry
}

func newCache(max int) *cache {
	c := &cache{max: max, items: make(map[key]*entry)}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// get returns the live result for k, or nil. Expired entries are removed
// when found, so a stale answer is never served.
func (c *cache) get(k key, now time.Time) *result {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.items[k]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return nil
	}
	c.unlink(e)
	c.pushFront(e)
	return e.res
}

// put stores res for k until expires, evicting the least recently used
// entry when the cache is full.
func (c *cache) put(k key, res *result, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		e.res, e.expires = res, expires
		c.unlink(e)
		c.pushFront(e)
		return
	}
	for len(c.items) >= c.max && c.root.prev != &c.root {
		c.remove(c.root.prev)
	}
	e := &entry{k: k, res: res, expires: expires}
	c.items[k] = e
	c.pushFront(e)
}

// len reports the number of entries, live or not yet found expired.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *cache) remove(e *entry) {
	c.unlink(e)
	delete(c.items, e.k)
}

func (c *cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) pushFront(e *entry) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

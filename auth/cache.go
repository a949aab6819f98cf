package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// CacheSum is a success cache entry's name: HMAC-SHA256(key, user NUL
// password). It is all the cache holds of a login, in this process or in
// a SharedCache.
type CacheSum [sha256.Size]byte

// MinCacheKeyLen is the shortest key DownstreamConfig.CacheKey takes: 32
// bytes, the size of the HMAC-SHA256 output, so the key is never the
// weaker secret.
const MinCacheKeyLen = 32

// SharedCache is the part of the success cache that replicas share
// ([state] redis with [state] cache_key_file): it holds CacheSums with
// their expiry, never a password. An error means the store cannot answer
// now; the Downstream then goes on with its own cache and the downstream
// server, so a failing store costs a downstream login, never a refusal.
type SharedCache interface {
	// Seen returns how long sum stays valid, 0 when it is not stored.
	Seen(sum CacheSum) (time.Duration, error)
	// Store remembers sum for ttl.
	Store(sum CacheSum, ttl time.Duration) error
}

// successCache remembers successful downstream logins for a while. It
// never holds a password: entries are keyed by HMAC-SHA256 under a key
// that is never stored in the cache. By default the key is made at start
// and lives only in this process's memory, so a memory dump does not even
// allow offline guessing without it; replicas that share the cache share
// the key through a private file instead (DownstreamConfig.CacheKey), so a
// dump of the shared store alone still allows no guessing.
type successCache struct {
	key []byte
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	expires map[CacheSum]time.Time
}

// newSuccessCache returns a cache keyed by key, or by a random key when
// key is nil.
func newSuccessCache(key []byte, ttl time.Duration, max int, now func() time.Time) (*successCache, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	return &successCache{key: key, ttl: ttl, max: max, now: now, expires: map[CacheSum]time.Time{}}, nil
}

// sum is the cache key: the NUL keeps ("ab", "c") and ("a", "bc") apart
// (RFC 4616 forbids NUL in both fields).
func (c *successCache) sum(username, password string) CacheSum {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k CacheSum
	m.Sum(k[:0])
	return k
}

func (c *successCache) hit(username, password string) bool {
	return c.hitSum(c.sum(username, password))
}

func (c *successCache) hitSum(k CacheSum) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[k]
	if ok && !now.Before(exp) {
		delete(c.expires, k)
		return false
	}
	return ok
}

func (c *successCache) add(username, password string) {
	c.addFor(c.sum(username, password), c.ttl)
}

// addFor remembers k for ttl (at most the cache's TTL): a success learnt
// from the SharedCache keeps the expiry the replica that checked it set.
func (c *successCache) addFor(k CacheSum, ttl time.Duration) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.expires[k]; !ok && len(c.expires) >= c.max {
		c.makeRoom(now)
	}
	c.expires[k] = now.Add(min(ttl, c.ttl))
}

// makeRoom drops expired entries, and the one closest to expiry if none
// has. Only successful logins get here, so the scan is not a lever for
// an attacker.
func (c *successCache) makeRoom(now time.Time) {
	var oldest CacheSum
	var oldestExp time.Time
	for k, exp := range c.expires {
		if !now.Before(exp) {
			delete(c.expires, k)
			continue
		}
		if oldestExp.IsZero() || exp.Before(oldestExp) {
			oldest, oldestExp = k, exp
		}
	}
	if len(c.expires) >= c.max {
		delete(c.expires, oldest)
	}
}

func (c *successCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}

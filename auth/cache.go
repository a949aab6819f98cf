package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// successCache remembers successful downstream logins for a while. It
// never holds a password: entries are keyed by HMAC-SHA256 under a key
// made at start and never stored, so a memory dump does not even allow
// offline guessing without that key.
type successCache struct {
	key []byte
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	expires map[[sha256.Size]byte]time.Time
}

func newSuccessCache(ttl time.Duration, max int, now func() time.Time) (*successCache, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &successCache{key: key, ttl: ttl, max: max, now: now, expires: map[[sha256.Size]byte]time.Time{}}, nil
}

// sum is the cache key: the NUL keeps ("ab", "c") and ("a", "bc") apart
// (RFC 4616 forbids NUL in both fields).
func (c *successCache) sum(username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

func (c *successCache) hit(username, password string) bool {
	k := c.sum(username, password)
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
	k := c.sum(username, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.expires[k]; !ok && len(c.expires) >= c.max {
		c.makeRoom(now)
	}
	c.expires[k] = now.Add(c.ttl)
}

// makeRoom drops expired entries, and the one closest to expiry if none
// has. Only successful logins get here, so the scan is not a lever for
// an attacker.
func (c *successCache) makeRoom(now time.Time) {
	var oldest [sha256.Size]byte
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

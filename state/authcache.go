package state

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/smtpgateway/gateway/auth"
)

// AuthCache is auth.SharedCache in Redis: the downstream AUTH success
// cache every replica reads and writes. A key is the prefix, "authok:"
// and the hex CacheSum, HMAC-SHA256(cache key, user NUL password); its
// value is "1" and its TTL the cache's. Redis never sees a user name or a
// password, and without the cache key (a file on the replicas, not in
// Redis) a dump of Redis allows no offline guess, nor can a client of
// Redis forge an entry for a password of its choosing.
//
// One round trip per lookup (PTTL) and per stored success (SET PX).
// While Redis is unavailable both return ErrDown at once (the Downstream
// then uses its own cache and the downstream server).
type AuthCache struct{ R *Redis }

func (c AuthCache) key(sum auth.CacheSum) string {
	return c.R.key("authok", hex.EncodeToString(sum[:]))
}

// Seen implements auth.SharedCache.
func (c AuthCache) Seen(sum auth.CacheSum) (time.Duration, error) {
	var left time.Duration
	err := c.R.run(func(ctx context.Context) error {
		d, err := c.R.c.PTTL(ctx, c.key(sum)).Result()
		left = d // -2ns: no such key, -1ns: no expiry (never written so)
		return err
	})
	if err != nil || left < 0 {
		return 0, err
	}
	return left, nil
}

// Store implements auth.SharedCache.
func (c AuthCache) Store(sum auth.CacheSum, ttl time.Duration) error {
	return c.R.run(func(ctx context.Context) error {
		return c.R.c.Set(ctx, c.key(sum), "1", ttl).Err()
	})
}

var _ auth.SharedCache = AuthCache{}

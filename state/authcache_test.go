package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

// Two replicas (two clients) share success entries through a real
// redis-server: what one stores the other sees, with the TTL left; Redis
// holds only the prefixed hex sum; with Redis gone both answer ErrDown at
// once.
func TestAuthCacheShared(t *testing.T) {
	srv := e2etest.StartRedis(t)
	a, b := AuthCache{open(t, srv.URL())}, AuthCache{open(t, srv.URL())}
	sum := auth.CacheSum(sha256.Sum256([]byte("not a password")))
	other := auth.CacheSum(sha256.Sum256([]byte("another")))

	if left, err := b.Seen(sum); err != nil || left != 0 {
		t.Fatalf("Seen before Store = %v, %v; want 0, nil", left, err)
	}
	if err := a.Store(sum, time.Minute); err != nil {
		t.Fatal(err)
	}
	left, err := b.Seen(sum)
	if err != nil || left <= 50*time.Second || left > time.Minute {
		t.Fatalf("Seen on the other replica = %v, %v; want about 1m left", left, err)
	}
	if left, err := b.Seen(other); err != nil || left != 0 {
		t.Fatalf("Seen(another sum) = %v, %v; want 0", left, err)
	}
	keys, err := a.R.c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "t:authok:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("keys in Redis %q, want the one prefixed sum", keys)
	}
	if err := a.Store(other, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, err := b.Seen(other)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break // expired in Redis
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry with a 100ms TTL still there after 5s (%v left)", left)
		}
		time.Sleep(20 * time.Millisecond)
	}

	srv.Stop(t)
	if _, err := b.Seen(sum); err == nil {
		t.Fatal("Seen with Redis down: no error")
	}
	if _, err := b.Seen(sum); !errors.Is(err, ErrDown) {
		t.Fatalf("second Seen with Redis down = %v, want ErrDown (no round trip)", err)
	}
}

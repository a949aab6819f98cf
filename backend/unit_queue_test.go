package backend

import (
	"testing"
	"time"
)

func TestVerifyCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := time.Hour
	c := &verifyCache{max: 3}
	if c.ok("a@example.com", ttl, now) {
		t.Fatal("empty cache verified a@example.com")
	}
	c.add("A@Example.com", ttl, now)
	if !c.ok("a@example.com", ttl, now.Add(ttl)) {
		t.Error("a recipient accepted within verify_cache is not verified (case must not matter)")
	}
	if c.ok("a@example.com", ttl, now.Add(ttl+time.Second)) {
		t.Error("a recipient accepted longer ago than verify_cache is still verified")
	}

	// full: new addresses are not recorded until old ones expire
	c = &verifyCache{max: 3}
	for _, a := range []string{"a@x.example", "b@x.example", "c@x.example"} {
		c.add(a, ttl, now)
	}
	c.add("d@x.example", ttl, now.Add(time.Minute))
	if c.ok("d@x.example", ttl, now.Add(time.Minute)) || len(c.seen) != 3 {
		t.Errorf("cache grew past its bound: %d entries", len(c.seen))
	}
	if !c.ok("a@x.example", ttl, now.Add(time.Minute)) {
		t.Error("a full cache dropped a fresh entry")
	}
	later := now.Add(2 * ttl)
	c.add("d@x.example", ttl, later)
	if !c.ok("d@x.example", ttl, later) || len(c.seen) != 1 {
		t.Errorf("expired entries not dropped to make room: %d entries", len(c.seen))
	}
}

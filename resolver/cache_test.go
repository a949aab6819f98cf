package resolver

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCache(t *testing.T) {
	t0 := time.Now()
	k := func(name string) key { return key{name, dns.TypeA} }
	res := func(s string) *result { return &result{detail: s} }
	tests := []struct {
		name string
		max  int
		run  func(c *cache)
		get  key
		at   time.Time
		want string // detail of the result found, "" for none
	}{
		{name: "hit before expiry", max: 2,
			run: func(c *cache) { c.put(k("a"), res("a1"), t0.Add(time.Second)) },
			get: k("a"), at: t0, want: "a1"},
		{name: "miss at expiry", max: 2,
			run: func(c *cache) { c.put(k("a"), res("a1"), t0.Add(time.Second)) },
			get: k("a"), at: t0.Add(time.Second), want: ""},
		{name: "types apart", max: 2,
			run: func(c *cache) { c.put(k("a"), res("a1"), t0.Add(time.Second)) },
			get: key{"a", dns.TypeAAAA}, at: t0, want: ""},
		{name: "put replaces", max: 2,
			run: func(c *cache) {
				c.put(k("a"), res("a1"), t0.Add(time.Second))
				c.put(k("a"), res("a2"), t0.Add(time.Second))
			},
			get: k("a"), at: t0, want: "a2"},
		{name: "least recent evicted", max: 2,
			run: func(c *cache) {
				c.put(k("a"), res("a"), t0.Add(time.Hour))
				c.put(k("b"), res("b"), t0.Add(time.Hour))
				c.put(k("c"), res("c"), t0.Add(time.Hour))
			},
			get: k("a"), at: t0, want: ""},
		{name: "a get keeps an entry recent", max: 2,
			run: func(c *cache) {
				c.put(k("a"), res("a"), t0.Add(time.Hour))
				c.put(k("b"), res("b"), t0.Add(time.Hour))
				c.get(k("a"), t0)
				c.put(k("c"), res("c"), t0.Add(time.Hour))
			},
			get: k("a"), at: t0, want: "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(tc.max)
			tc.run(c)
			got := ""
			if r := c.get(tc.get, tc.at); r != nil {
				got = r.detail
			}
			if got != tc.want {
				t.Errorf("get = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(10)
	now := time.Now()
	for i := range 1000 {
		c.put(key{fmt.Sprint(i), dns.TypeA}, &result{}, now.Add(time.Hour))
		if n := c.len(); n > 10 {
			t.Fatalf("after %d puts the cache holds %d entries, bound is 10", i+1, n)
		}
	}
	if c.get(key{"999", dns.TypeA}, now) == nil || c.get(key{"989", dns.TypeA}, now) != nil {
		t.Error("cache did not keep the 10 most recent entries")
	}
}

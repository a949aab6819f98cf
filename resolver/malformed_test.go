package resolver

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// Issue 12: a PTR answer that is not a valid host name was reported as a
// temporary failure, so rdns came back temperror (4xx under strict) for
// what is a permanent property of the zone. It is now a permanent error
// that unwraps to ErrMalformed, cached like an answer; a PTR set with one
// usable name still returns that name.
func TestMalformedPTRIsPermanent(t *testing.T) {
	s := zone(t)
	s.AddPTR("192.0.2.50", "-bad-.example.test")
	s.AddPTR("192.0.2.51", `bad\032name.example.test`)
	s.AddPTR("192.0.2.52", "-bad-.example.test", "good.example.test")
	r := newResolver(t, Config{}, s)

	for _, ip := range []string{"192.0.2.50", "192.0.2.51"} {
		names, err := r.LookupAddr(context.Background(), ip)
		var de *net.DNSError
		if !errors.As(err, &de) {
			t.Fatalf("PTR %s: %q, %v; want a *net.DNSError", ip, names, err)
		}
		if de.IsTemporary || de.IsNotFound || de.IsTimeout || !errors.Is(err, ErrMalformed) {
			t.Errorf("PTR %s: %v (temporary %v, not found %v); want permanent, unwrapping to ErrMalformed",
				ip, err, de.IsTemporary, de.IsNotFound)
		}
		// Cached: the zone said so, asking again gets the same.
		r.LookupAddr(context.Background(), ip)
		arpa, _ := dns.ReverseAddr(ip)
		if n := s.Queries(arpa, dns.TypePTR); n != 1 {
			t.Errorf("PTR %s asked %d times, want 1 (cached)", ip, n)
		}
	}
	if got, err := lookup(context.Background(), r, "ptr", "192.0.2.52"); err != nil || got != "good.example.test." {
		t.Errorf("PTR with one good name: %q, %v", got, err)
	}
}

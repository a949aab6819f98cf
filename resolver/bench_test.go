package resolver

import (
	"context"
	"fmt"
	"testing"

	"github.com/smtpgateway/gateway/internal/dnstest"
)

// BenchmarkLookupWarm measures the cache-hit path of LookupIPAddr: two
// cache lookups and the copy handed to the caller.
func BenchmarkLookupWarm(b *testing.B) {
	s := dnstest.Start(b)
	s.AddA("mail.example.test", "192.0.2.1", "2001:db8::1")
	r := newResolver(b, Config{}, s)
	ctx := context.Background()
	if _, err := r.LookupIPAddr(ctx, "mail.example.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.LookupIPAddr(ctx, "mail.example.test"); err != nil {
			b.Fatal(err)
		}
	}
	if st := r.Stats(); st.CacheMisses != 2 {
		b.Fatalf("warm benchmark missed the cache: %+v", st)
	}
}

// BenchmarkLookupWarmParallel is the warm path under contention for the
// cache lock.
func BenchmarkLookupWarmParallel(b *testing.B) {
	s := dnstest.Start(b)
	s.AddA("mail.example.test", "192.0.2.1", "2001:db8::1")
	r := newResolver(b, Config{}, s)
	ctx := context.Background()
	if _, err := r.LookupIPAddr(ctx, "mail.example.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupIPAddr(ctx, "mail.example.test"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookupCold measures a full miss: LookupIPAddr of a name never
// seen, so an A and an AAAA exchange over loopback UDP with dnstest, and
// the caching of both answers.
func BenchmarkLookupCold(b *testing.B) {
	s := dnstest.Start(b)
	r := newResolver(b, Config{}, s)
	ctx := context.Background()
	const names = 1 << 14
	for i := range names {
		s.AddA(fmt.Sprintf("h%d.bench.test", i), "192.0.2.1")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == names {
			// Out of fresh names: start over with an empty cache.
			b.StopTimer()
			r = newResolver(b, Config{}, s)
			i = 0
			b.StartTimer()
		}
		if _, err := r.LookupIPAddr(ctx, fmt.Sprintf("h%d.bench.test", i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

package resolver

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNoGoroutineLeak runs every kind of lookup, including ones that time
// out, are cancelled or are coalesced, and then waits (bounded) for the
// goroutine count to return to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	s := zone(t)
	s.Drop("dead.test")
	s.AddMX("slow.test", 1, "mx.slow.test")
	s.Delay("slow.test", 100*time.Millisecond)
	s.Truncate("example.test")
	r := newResolver(t, Config{Timeout: 300 * time.Millisecond}, s)
	m := NewMemo(r)
	ctx := context.Background()

	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			r.LookupIPAddr(ctx, "mail.example.test")
			r.LookupAddr(ctx, "2001:db8::1")
			r.LookupMX(ctx, "example.test") // via TCP
			r.LookupMX(ctx, "dead.test")
			m.LookupMX(ctx, "slow.test")
			cctx, cancel := context.WithTimeout(ctx, time.Duration(i)*10*time.Millisecond)
			r.LookupIPAddr(cctx, "nothing.test")
			cancel()
		})
	}
	wg.Wait()
	if q := s.Queries("slow.test", dns.TypeMX); q != 1 {
		t.Errorf("slow.test: %d queries, want 1 (coalesced)", q)
	}

	deadline := time.Now().Add(5 * time.Second)
	after := runtime.NumGoroutine()
	for after > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

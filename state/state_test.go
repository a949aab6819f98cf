package state

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

// open connects with a timeout far above any round trip on loopback:
// the tests count, and a round trip slowed past the production 50ms by a
// loaded CI machine (-race) must not turn into a fallback.
// TestSlowRedisFallsBack tests the timeout itself.
func open(t *testing.T, url string) *Redis {
	t.Helper()
	return openTimeout(t, url, time.Second)
}

func openTimeout(t *testing.T, url string, timeout time.Duration) *Redis {
	t.Helper()
	r, err := Open(Options{URL: url, Prefix: "t:", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Two replicas (two clients, two limiters) count one network's failures
// together: block_after in total, not per replica.
func TestLimiterSharedAcrossReplicas(t *testing.T) {
	srv := e2etest.StartRedis(t)
	cfg := auth.LimiterConfig{BlockAfter: 4, DelayAfter: 100}
	reps := []*Limiter{NewLimiter(open(t, srv.URL()), cfg), NewLimiter(open(t, srv.URL()), cfg)}
	ip := netip.MustParseAddr("192.0.2.7")
	for i := range 4 {
		tk, _, err := reps[i%2].Reserve(ip)
		if err != nil {
			t.Fatalf("check %d refused: %v", i+1, err)
		}
		until := tk.Failure()
		if (i == 3) != !until.IsZero() {
			t.Fatalf("after failure %d blocked until %v", i+1, until)
		}
	}
	for i, l := range reps {
		var b *auth.BlockedError
		if _, _, err := l.Reserve(ip); !errors.As(err, &b) {
			t.Fatalf("replica %d admitted a check after block_after failures in total: %v", i, err)
		}
		if l.Blocked(ip).IsZero() {
			t.Fatalf("replica %d does not see the block", i)
		}
	}
	if !reps[0].Blocked(netip.MustParseAddr("192.0.2.8")).IsZero() {
		t.Fatal("another address is blocked too")
	}
}

// Parallel reservations from both replicas: never more than block_after
// admitted, as in auth.Limiter for one process.
func TestLimiterParallelAcrossReplicas(t *testing.T) {
	srv := e2etest.StartRedis(t)
	cfg := auth.LimiterConfig{BlockAfter: 5, DelayAfter: 100}
	reps := []*Limiter{NewLimiter(open(t, srv.URL()), cfg), NewLimiter(open(t, srv.URL()), cfg)}
	ip := netip.MustParseAddr("2001:db8::1")
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// another address in the same /64 counts for the same network
			a := ip
			if i%3 == 0 {
				a = netip.MustParseAddr("2001:db8::99")
			}
			if _, _, err := reps[i%2].Reserve(a); err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 5 {
		t.Fatalf("%d checks admitted in parallel across replicas, want block_after = 5", admitted)
	}
	for _, r := range reps {
		if !r.R.Up() {
			t.Fatal("redis marked down during the test: the count came from the fallback")
		}
	}
}

// Redis lost in the middle of a burst: the checks this replica admitted
// through Redis still hold their slots in the fallback, so the replica
// never checks more than block_after passwords (on the old code the
// fallback started from zero: 3 through Redis + 4 more).
func TestLimiterFallbackMidBurst(t *testing.T) {
	srv := e2etest.StartRedis(t)
	l := NewLimiter(open(t, srv.URL()), auth.LimiterConfig{BlockAfter: 4, DelayAfter: 100})
	ip := netip.MustParseAddr("192.0.2.9")
	var held []auth.Ticket
	for i := range 3 {
		tk, _, err := l.Reserve(ip)
		if err != nil {
			t.Fatalf("check %d refused: %v", i+1, err)
		}
		held = append(held, tk)
	}
	srv.Stop(t)
	admitted := 0
	for range 6 {
		if tk, _, err := l.Reserve(ip); err == nil {
			admitted++
			held = append(held, tk)
		}
	}
	if l.R.Up() {
		t.Fatal("redis still up after it stopped: the test did not reach the fallback")
	}
	if admitted != 1 {
		t.Fatalf("%d checks admitted after redis went away with 3 in flight, want 1 (block_after 4)", admitted)
	}
	for _, tk := range held {
		tk.Failure()
	}
	if l.Blocked(ip).IsZero() {
		t.Fatal("not blocked after block_after failures counted while redis was down")
	}
}

// Redis gone: answers come from this process within the timeout, the outage
// is counted once; Redis back: shared again, by itself.
func TestFallbackAndRecovery(t *testing.T) {
	srv := e2etest.StartRedis(t)
	r := open(t, srv.URL())
	rates := RedisRates{R: r, Local: &LocalRates{}}
	ip := netip.MustParseAddr("198.51.100.1")
	if ok, _ := rates.Allow(KindMessages, ip, 2); !ok {
		t.Fatal("first event refused")
	}
	srv.Stop(t)
	start := time.Now()
	for range 3 {
		rates.Allow(KindMessages, ip, 2)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("fallback took %v", d)
	}
	st := r.Stats()
	if st.Up || st.Outages != 1 || st.Fallbacks != 3 {
		t.Fatalf("stats after outage: %+v, want down, 1 outage, 3 fallbacks", st)
	}
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for !r.Up() {
		if time.Now().After(deadline) {
			t.Fatal("not back 10s after redis returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	other := open(t, srv.URL())
	// The restarted server is empty: two events through either client,
	// the third is refused by both.
	shared := []RedisRates{rates, {R: other, Local: &LocalRates{}}}
	for i := range 2 {
		if ok, _ := shared[i].Allow(KindMessages, ip, 2); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	for i, s := range shared {
		if ok, n := s.Allow(KindMessages, ip, 2); ok || n != 2 {
			t.Fatalf("client %d: third event ok=%v n=%d, want refused at 2", i, ok, n)
		}
	}
}

func TestLocalRates(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &LocalRates{Now: func() time.Time { return now }}
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, n := l.Allow(KindConnections, ip, 3); !ok || n != i {
			t.Fatalf("event %d: ok=%v n=%d", i, ok, n)
		}
	}
	if ok, _ := l.Allow(KindConnections, ip, 3); ok {
		t.Fatal("fourth event allowed")
	}
	if ok, _ := l.Allow(KindMessages, ip, 3); !ok {
		t.Fatal("kinds share a counter")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allow(KindConnections, ip, 3); !ok {
		t.Fatal("new minute refused")
	}
}

// A Redis that stops answering (SIGSTOP: connections open, no reply)
// costs a check at most the timeout, then the fallback answers at once;
// the store returns by itself when Redis answers again. The bound
// asserted is loose (a hang would be forever), not a speed.
func TestSlowRedisFallsBack(t *testing.T) {
	srv := e2etest.StartRedis(t)
	r := openTimeout(t, srv.URL(), 50*time.Millisecond)
	rates := RedisRates{R: r, Local: &LocalRates{}}
	ip := netip.MustParseAddr("198.51.100.9")
	if ok, _ := rates.Allow(KindConnections, ip, 10); !ok || !r.Up() {
		t.Fatal("first event refused or store down")
	}
	srv.Pause(t)
	t.Cleanup(func() { srv.Resume(t) })
	done := make(chan bool)
	go func() {
		ok, _ := rates.Allow(KindConnections, ip, 10)
		done <- ok
	}()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("event refused by the fallback")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a check waited on a stalled Redis for 5s (timeout 50ms)")
	}
	if st := r.Stats(); st.Up || st.Outages != 1 || st.Fallbacks != 1 {
		t.Fatalf("stats with Redis stalled: %+v, want down, 1 outage, 1 fallback", st)
	}
	srv.Resume(t)
	deadline := time.Now().Add(10 * time.Second)
	for !r.Up() {
		if time.Now().After(deadline) {
			t.Fatal("not back 10s after Redis answered again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The stalled call was sent before the timeout: Redis may run it when
	// it resumes, so the event that fell back can count in Redis too
	// (over-counting, the safe direction): 1 or 2 events before this one.
	ok, n := rates.Allow(KindConnections, ip, 10)
	if !ok || n < 1 || n > 2 {
		t.Fatalf("after recovery: ok=%v n=%d, want the shared count (1 or 2 before this event)", ok, n)
	}
	other := RedisRates{R: open(t, srv.URL()), Local: &LocalRates{}}
	if _, m := other.Allow(KindConnections, ip, 10); m != n+1 {
		t.Fatalf("another replica counts %d before its event, want %d: not shared", m, n+1)
	}
}

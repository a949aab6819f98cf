package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/syncbuf"

	"github.com/miekg/dns"
)

// Issue 12: 1000 sessions with random HELO names made the gateway send
// 4000 queries in 4.3 s, with nothing bounding how many were out at once.
// With MaxInFlight queries outstanding, the next one is not sent: it
// fails promptly as a temporary error (which heloguard turns into a
// temperror, never a 5xx), is not cached, is counted, and is logged.
func TestMaxInFlight(t *testing.T) {
	const limit = 3
	s := zone(t)
	for i := range limit + 2 {
		name := fmt.Sprintf("slow%d.example.test", i)
		s.AddMX(name, 10, "mail.example.test")
		s.Delay(name, 2*time.Second)
	}
	s.AddMX("fast.example.test", 10, "mail.example.test")
	logs := &syncbuf.Buffer{}
	r := newResolver(t, Config{MaxInFlight: limit, Logger: slog.New(slog.NewTextHandler(logs, nil))}, s)

	// limit slow lookups take every slot.
	var wg sync.WaitGroup
	errs := make([]error, limit)
	for i := range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.LookupMX(context.Background(), fmt.Sprintf("slow%d.example.test", i))
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().InFlight < limit {
		if time.Now().After(deadline) {
			t.Fatalf("in flight: %d, want %d", r.Stats().InFlight, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Two more distinct names: neither reaches the server.
	for i := limit; i < limit+2; i++ {
		name := fmt.Sprintf("slow%d.example.test", i)
		_, err := r.LookupMX(context.Background(), name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound || !strings.Contains(de.Err, "saturated") || !errors.Is(err, ErrSaturated) {
			t.Errorf("%s with every slot taken: %v, want a temporary 'saturated' error", name, err)
		}
		if n := s.Queries(name, dns.TypeMX); n != 0 {
			t.Errorf("%s was sent %d times with every slot taken", name, n)
		}
	}
	st := r.Stats()
	if st.Saturated != 2 || st.InFlight > limit {
		t.Errorf("stats %+v: want Saturated 2, InFlight <= %d", st, limit)
	}
	if !strings.Contains(logs.String(), "dns saturated") || !strings.Contains(logs.String(), "max_in_flight=3") {
		t.Errorf("no saturation log line:\n%s", logs.String())
	}

	// The slow ones finish normally and free their slots; a saturated
	// failure was not cached, so the same name now gets its answer.
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("slow%d: %v", i, err)
		}
	}
	s.Delay(fmt.Sprintf("slow%d.example.test", limit), 0)
	if got, err := lookup(context.Background(), r, "mx", fmt.Sprintf("slow%d.example.test", limit)); err != nil || got != "10 mail.example.test." {
		t.Errorf("after the burst: %q, %v", got, err)
	}
	if got, err := lookup(context.Background(), r, "mx", "fast.example.test"); err != nil || got != "10 mail.example.test." {
		t.Errorf("after the burst: %q, %v", got, err)
	}
	if n := r.Stats().InFlight; n != 0 {
		t.Errorf("%d slots still taken", n)
	}
}

func TestMaxInFlightNegative(t *testing.T) {
	if _, err := New(Config{MaxInFlight: -1}); err == nil || !strings.Contains(err.Error(), "MaxInFlight") {
		t.Errorf("MaxInFlight -1: %v", err)
	}
}

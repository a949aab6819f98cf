package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"

	"github.com/miekg/dns"
)

// fakeDNS is a Lookuper that counts calls per kind and argument. A name
// listed in fail returns a temporary error; gate, if set, holds every call
// until it is closed.
type fakeDNS struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]bool
	gate  chan struct{}
	n     atomic.Int32 // calls started
}

func (f *fakeDNS) count(kind, arg string) error {
	f.n.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = make(map[string]int)
	}
	f.calls[kind+" "+arg]++
	if f.fail[arg] {
		return &net.DNSError{Err: "server misbehaving", Name: arg, IsTemporary: true}
	}
	return nil
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if err := f.count("ip", host); err != nil {
		return nil, err
	}
	return []net.IPAddr{{IP: net.IPv4(192, 0, 2, 1).To4()}}, nil
}

func (f *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if err := f.count("ptr", addr); err != nil {
		return nil, err
	}
	return []string{"host.test."}, nil
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if err := f.count("mx", name); err != nil {
		return nil, err
	}
	return []*net.MX{{Host: "mx.test.", Pref: 10}}, nil
}

func (f *fakeDNS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func TestMemoOncePerKey(t *testing.T) {
	tests := []struct {
		name  string
		calls [][2]string // kind, arg
		want  int         // lookups reaching the wrapped Lookuper
	}{
		{name: "same IP lookup thrice", calls: [][2]string{{"ip", "a.test"}, {"ip", "a.test"}, {"ip", "a.test"}}, want: 1},
		{name: "spellings of one name", calls: [][2]string{{"ip", "a.test"}, {"ip", "A.Test."}}, want: 1},
		{name: "types apart", calls: [][2]string{{"ip", "a.test"}, {"mx", "a.test"}}, want: 2},
		{name: "spellings of one address", calls: [][2]string{{"ptr", "2001:db8::1"}, {"ptr", "2001:DB8:0::1"}}, want: 1},
		{name: "errors remembered", calls: [][2]string{{"mx", "bad.test"}, {"mx", "bad.test"}}, want: 1},
		{name: "distinct names", calls: [][2]string{{"mx", "a.test"}, {"mx", "b.test"}}, want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDNS{fail: map[string]bool{"bad.test": true}}
			m := NewMemo(f)
			var first string
			var firstErr error
			for i, c := range tc.calls {
				got, err := lookup(context.Background(), m, c[0], c[1])
				if i == 0 {
					first, firstErr = got, err
				} else if c == tc.calls[0] && (got != first || fmt.Sprint(err) != fmt.Sprint(firstErr)) {
					t.Errorf("repeat gave %q, %v; first gave %q, %v", got, err, first, firstErr)
				}
			}
			if n := f.total(); n != tc.want {
				t.Errorf("wrapped Lookuper called %d times, want %d", n, tc.want)
			}
		})
	}
}

func TestMemoConcurrentCallersWaitForFirst(t *testing.T) {
	f := &fakeDNS{gate: make(chan struct{})}
	m := NewMemo(f)
	const n = 10
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Go(func() {
			got, err := lookup(context.Background(), m, "mx", "a.test")
			if err != nil {
				got = err.Error()
			}
			results <- got
		})
	}
	// Let every goroutine reach the Memo before the first lookup ends.
	deadline := time.Now().Add(5 * time.Second)
	for f.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	close(results)
	for got := range results {
		if got != "10 mx.test." {
			t.Errorf("caller got %q", got)
		}
	}
	if c := f.total(); c != 1 {
		t.Errorf("%d concurrent callers caused %d lookups, want 1", n, c)
	}
}

func TestMemoForgetsContextErrors(t *testing.T) {
	s := dnstest.Start(t)
	s.AddMX("slow.test", 1, "mx.slow.test")
	s.Delay("slow.test", 200*time.Millisecond)
	m := NewMemo(newResolver(t, Config{}, s))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.LookupMX(ctx, "slow.test"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup: %v, want context.Canceled", err)
	}
	got, err := lookup(context.Background(), m, "mx", "slow.test")
	if err != nil || got != "1 mx.slow.test." {
		t.Errorf("after a cancelled first caller, got %q, %v; want the answer", got, err)
	}
}

func TestMemoWaiterContextEnds(t *testing.T) {
	f := &fakeDNS{gate: make(chan struct{})}
	m := NewMemo(f)
	first := make(chan error, 1)
	go func() {
		_, err := m.LookupMX(context.Background(), "a.test")
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := m.LookupMX(ctx, "a.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: %v, want context.DeadlineExceeded", err)
	}
	close(f.gate)
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
}

func TestMemoBound(t *testing.T) {
	f := &fakeDNS{}
	m := NewMemo(f)
	for i := range MemoSize + 10 {
		m.LookupMX(context.Background(), fmt.Sprintf("h%d.test", i))
	}
	tests := []struct {
		name string
		arg  string
		want int // calls after a second lookup
	}{
		{name: "remembered within the bound", arg: "h0.test", want: 1},
		{name: "passed through beyond it", arg: fmt.Sprintf("h%d.test", MemoSize+5), want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.LookupMX(context.Background(), tc.arg)
			f.mu.Lock()
			got := f.calls["mx "+tc.arg]
			f.mu.Unlock()
			if got != tc.want {
				t.Errorf("%s looked up %d times, want %d", tc.arg, got, tc.want)
			}
		})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) != MemoSize {
		t.Errorf("memo holds %d entries, want %d", len(m.calls), MemoSize)
	}
}

func TestMemoResultsAreCopies(t *testing.T) {
	m := NewMemo(&fakeDNS{})
	ctx := context.Background()
	addrs, _ := m.LookupIPAddr(ctx, "a.test")
	mxs, _ := m.LookupMX(ctx, "a.test")
	names, _ := m.LookupAddr(ctx, "192.0.2.1")
	addrs[0].IP[0] = 0
	mxs[0].Host = "changed."
	names[0] = "changed."
	var got []string
	for _, c := range [][2]string{{"ip", "a.test"}, {"mx", "a.test"}, {"ptr", "192.0.2.1"}} {
		v, _ := lookup(ctx, m, c[0], c[1])
		got = append(got, v)
	}
	if want := "192.0.2.1|10 mx.test.|host.test."; strings.Join(got, "|") != want {
		t.Errorf("after the first caller changed its copy: %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestMemoOverResolver(t *testing.T) {
	s := dnstest.Start(t)
	s.AddA("mail.test", "192.0.2.1")
	s.SetTTL(0) // even a zero TTL is not re-asked within a session
	r := newResolver(t, Config{MaxTTL: time.Millisecond}, s)
	m := NewMemo(r)
	for range 3 {
		if got, err := lookup(context.Background(), m, "ip", "mail.test"); err != nil || got != "192.0.2.1" {
			t.Fatalf("got %q, %v", got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if q := s.Queries("mail.test", dns.TypeA); q != 1 {
		t.Errorf("server saw %d A queries in one session, want 1", q)
	}
}

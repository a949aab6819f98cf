package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"

	"github.com/miekg/dns"
)

// newResolver builds a Resolver asking the given test servers in order. A
// generous Timeout keeps tests that expect answers from failing on a
// loaded machine; tests about timeouts set their own.
func newResolver(t testing.TB, cfg Config, servers ...*dnstest.Server) *Resolver {
	t.Helper()
	for _, s := range servers {
		cfg.Servers = append(cfg.Servers, s.Addr())
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lookup runs one lookup of kind "ip", "ptr" or "mx" and renders its
// result as a comma-separated string.
func lookup(ctx context.Context, l Lookuper, kind, arg string) (string, error) {
	var out []string
	switch kind {
	case "ip":
		addrs, err := l.LookupIPAddr(ctx, arg)
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			out = append(out, a.String())
		}
	case "ptr":
		names, err := l.LookupAddr(ctx, arg)
		if err != nil {
			return "", err
		}
		out = names
	case "mx":
		mxs, err := l.LookupMX(ctx, arg)
		if err != nil {
			return "", err
		}
		for _, mx := range mxs {
			out = append(out, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
		}
	default:
		return "", fmt.Errorf("unknown lookup kind %q", kind)
	}
	return strings.Join(out, ","), nil
}

func zone(t *testing.T) *dnstest.Server {
	s := dnstest.Start(t)
	s.AddA("mail.example.test", "192.0.2.1", "2001:db8::1")
	s.AddA("v4only.example.test", "192.0.2.2")
	s.AddA("v6only.example.test", "2001:db8::2")
	s.AddPTR("192.0.2.1", "mail.example.test")
	s.AddPTR("2001:db8::1", "mail.example.test", "alt.example.test")
	s.AddMX("example.test", 20, "backup.example.test")
	s.AddMX("example.test", 10, "mail.example.test")
	s.AddMX("nullmx.test", 0, ".")
	s.AddCNAME("www.example.test", "web.example.test")
	s.AddCNAME("web.example.test", "mail.example.test")
	return s
}

func TestLookups(t *testing.T) {
	s := zone(t)
	r := newResolver(t, Config{}, s)
	tests := []struct {
		name string
		kind string
		arg  string
		want string
	}{
		{name: "A and AAAA merged, A first", kind: "ip", arg: "mail.example.test", want: "192.0.2.1,2001:db8::1"},
		{name: "A only", kind: "ip", arg: "v4only.example.test", want: "192.0.2.2"},
		{name: "AAAA only", kind: "ip", arg: "v6only.example.test", want: "2001:db8::2"},
		{name: "absolute and upper case", kind: "ip", arg: "V4ONLY.Example.Test.", want: "192.0.2.2"},
		{name: "CNAME chain", kind: "ip", arg: "www.example.test", want: "192.0.2.1,2001:db8::1"},
		{name: "IPv4 literal needs no DNS", kind: "ip", arg: "198.51.100.7", want: "198.51.100.7"},
		{name: "IPv6 literal needs no DNS", kind: "ip", arg: "2001:db8::7", want: "2001:db8::7"},
		{name: "PTR IPv4", kind: "ptr", arg: "192.0.2.1", want: "mail.example.test."},
		{name: "PTR IPv6", kind: "ptr", arg: "2001:db8::1", want: "mail.example.test.,alt.example.test."},
		{name: "PTR IPv4-mapped IPv6", kind: "ptr", arg: "::ffff:192.0.2.1", want: "mail.example.test."},
		{name: "MX by preference", kind: "mx", arg: "example.test", want: "10 mail.example.test.,20 backup.example.test."},
		{name: "null MX", kind: "mx", arg: "nullmx.test", want: "0 ."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookup(context.Background(), r, tc.kind, tc.arg)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.kind, tc.arg, err)
			}
			if got != tc.want {
				t.Errorf("%s %s = %s, want %s", tc.kind, tc.arg, got, tc.want)
			}
		})
	}
	if n := s.Queries("198.51.100.7", dns.TypeA); n != 0 {
		t.Errorf("an IP literal caused %d queries", n)
	}
}

// wantDNSError describes the *net.DNSError a failed lookup must return.
type wantDNSError struct {
	err                       string // Err text, "" for any
	notFound, temporary, tout bool
}

func checkDNSError(t *testing.T, err error, name string, want wantDNSError) {
	t.Helper()
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want *net.DNSError", err, err)
	}
	if de.IsNotFound != want.notFound || de.IsTemporary != want.temporary || de.IsTimeout != want.tout {
		t.Errorf("%v: IsNotFound=%v IsTemporary=%v IsTimeout=%v; want %v %v %v",
			de, de.IsNotFound, de.IsTemporary, de.IsTimeout, want.notFound, want.temporary, want.tout)
	}
	if want.err != "" && de.Err != want.err {
		t.Errorf("Err = %q, want %q", de.Err, want.err)
	}
	if de.Name != name {
		t.Errorf("Name = %q, want %q", de.Name, name)
	}
}

func TestLookupErrors(t *testing.T) {
	s := zone(t)
	s.AddA("servfail.test", "192.0.2.1")
	s.Fail("servfail.test", dns.RcodeServerFailure)
	s.Fail("refused.test", dns.RcodeRefused)
	s.AddCNAME("loop1.test", "loop2.test")
	s.AddCNAME("loop2.test", "loop1.test")
	s.AddCNAME("dangling.test", "nowhere.test")
	r := newResolver(t, Config{}, s)

	notFound := wantDNSError{err: "no such host", notFound: true}
	temporary := wantDNSError{temporary: true}
	tests := []struct {
		name string
		kind string
		arg  string
		want wantDNSError
	}{
		{name: "NXDOMAIN", kind: "ip", arg: "nothing.example.test", want: notFound},
		{name: "NODATA A and AAAA", kind: "ip", arg: "example.test", want: notFound},
		{name: "NODATA MX", kind: "mx", arg: "mail.example.test", want: notFound},
		{name: "NXDOMAIN MX", kind: "mx", arg: "nothing.example.test", want: notFound},
		{name: "NXDOMAIN PTR", kind: "ptr", arg: "192.0.2.99", want: notFound},
		{name: "NXDOMAIN PTR IPv6", kind: "ptr", arg: "2001:db8::99", want: notFound},
		{name: "CNAME to NXDOMAIN", kind: "ip", arg: "dangling.test", want: notFound},
		{name: "invalid host name, no query", kind: "ip", arg: "not a name", want: notFound},
		{name: "invalid MX domain, no query", kind: "mx", arg: "a..b", want: notFound},
		{name: "SERVFAIL", kind: "ip", arg: "servfail.test", want: wantDNSError{err: "server misbehaving (SERVFAIL)", temporary: true}},
		{name: "SERVFAIL PTR", kind: "mx", arg: "servfail.test", want: temporary},
		{name: "REFUSED", kind: "mx", arg: "refused.test", want: wantDNSError{err: "server misbehaving (REFUSED)", temporary: true}},
		{name: "CNAME loop is malformed", kind: "ip", arg: "loop1.test", want: temporary},
		{name: "PTR of a non-address", kind: "ptr", arg: "mail.example.test", want: wantDNSError{err: "unrecognized address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookup(context.Background(), r, tc.kind, tc.arg)
			if err == nil {
				t.Fatalf("%s %s = %q, want an error", tc.kind, tc.arg, got)
			}
			checkDNSError(t, err, tc.arg, tc.want)
		})
	}
}

func TestErrorNamesServer(t *testing.T) {
	s := zone(t)
	r := newResolver(t, Config{}, s)
	_, err := r.LookupMX(context.Background(), "nothing.example.test")
	var de *net.DNSError
	if !errors.As(err, &de) || de.Server != s.Addr() {
		t.Errorf("error %v, want Server %s", err, s.Addr())
	}
}

func TestTimeout(t *testing.T) {
	s := zone(t)
	s.Drop("dead.test")
	r := newResolver(t, Config{Timeout: 300 * time.Millisecond}, s)
	done := make(chan error, 1)
	go func() {
		_, err := r.LookupMX(context.Background(), "dead.test")
		done <- err
	}()
	select {
	case err := <-done:
		checkDNSError(t, err, "dead.test", wantDNSError{temporary: true, tout: true})
	case <-time.After(10 * time.Second):
		t.Fatal("lookup of a dropped name did not return within 10s with a 300ms Timeout")
	}
	// One server gets two attempts within the budget.
	if n := s.Queries("dead.test", dns.TypeMX); n != 2 {
		t.Errorf("server saw %d queries, want 2 attempts", n)
	}
	if st := r.Stats(); st.Timeouts != 1 || st.Errors != 1 {
		t.Errorf("Stats = %+v, want 1 timeout counted as 1 error", st)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	s := zone(t)
	s.AddMX("big.test", 5, "mx.big.test")
	s.Truncate("big.test")
	var many []string
	for i := range 150 {
		many = append(many, fmt.Sprintf("2001:db8::%x", i+1))
	}
	s.AddA("many.test", many...)
	r := newResolver(t, Config{}, s)

	got, err := lookup(context.Background(), r, "mx", "big.test")
	if err != nil || got != "5 mx.big.test." {
		t.Fatalf("MX big.test = %q, %v; want the TCP answer", got, err)
	}
	if n := s.Queries("big.test", dns.TypeMX); n != 2 {
		t.Errorf("server saw %d queries, want UDP then TCP", n)
	}
	addrs, err := r.LookupIPAddr(context.Background(), "many.test")
	if err != nil || len(addrs) != 150 {
		t.Errorf("many.test: %d addresses, %v; want all 150 (more than 1232 bytes, so via TCP)", len(addrs), err)
	}
}

func TestFailover(t *testing.T) {
	tests := []struct {
		name   string
		break1 func(s *dnstest.Server)
	}{
		{name: "first drops", break1: func(s *dnstest.Server) { s.Drop("host.test") }},
		{name: "first SERVFAILs", break1: func(s *dnstest.Server) { s.Fail("host.test", dns.RcodeServerFailure) }},
		{name: "first REFUSES", break1: func(s *dnstest.Server) { s.Fail("host.test", dns.RcodeRefused) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s1, s2 := dnstest.Start(t), dnstest.Start(t)
			s1.AddMX("host.test", 1, "first.test")
			tc.break1(s1)
			s2.AddMX("host.test", 2, "second.test")
			// Two servers share the budget: 500ms each, ample on loopback.
			r := newResolver(t, Config{Timeout: time.Second}, s1, s2)
			got, err := lookup(context.Background(), r, "mx", "host.test")
			if err != nil || got != "2 second.test." {
				t.Fatalf("MX = %q, %v; want the second server's answer", got, err)
			}
			if n1, n2 := s1.Queries("host.test", dns.TypeMX), s2.Queries("host.test", dns.TypeMX); n1 != 1 || n2 != 1 {
				t.Errorf("queries: first %d, second %d; want 1 each", n1, n2)
			}
		})
	}
}

func TestSingleServerNotRetriedAfterSERVFAIL(t *testing.T) {
	s := zone(t)
	s.Fail("sf.test", dns.RcodeServerFailure)
	r := newResolver(t, Config{}, s)
	if _, err := r.LookupMX(context.Background(), "sf.test"); err == nil {
		t.Fatal("want an error")
	}
	if n := s.Queries("sf.test", dns.TypeMX); n != 1 {
		t.Errorf("server saw %d queries, want 1: a SERVFAIL is an answer, not a lost packet", n)
	}
}

func TestCaching(t *testing.T) {
	s := zone(t)
	r := newResolver(t, Config{}, s)
	ctx := context.Background()
	tests := []struct {
		name  string
		kind  string
		arg   string
		qname string
		qtype uint16
	}{
		{name: "A", kind: "ip", arg: "mail.example.test", qname: "mail.example.test", qtype: dns.TypeA},
		{name: "AAAA", kind: "ip", arg: "mail.example.test", qname: "mail.example.test", qtype: dns.TypeAAAA},
		{name: "PTR", kind: "ptr", arg: "192.0.2.1", qname: "1.2.0.192.in-addr.arpa", qtype: dns.TypePTR},
		{name: "MX", kind: "mx", arg: "example.test", qname: "example.test", qtype: dns.TypeMX},
		{name: "NXDOMAIN", kind: "mx", arg: "nothing.test", qname: "nothing.test", qtype: dns.TypeMX},
		{name: "NODATA", kind: "mx", arg: "mail.example.test", qname: "mail.example.test", qtype: dns.TypeMX},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, err1 := lookup(ctx, r, tc.kind, tc.arg)
			second, err2 := lookup(ctx, r, tc.kind, strings.ToUpper(tc.arg))
			if first != second || (err1 == nil) != (err2 == nil) {
				t.Errorf("cached lookup differs: %q %v, then %q %v", first, err1, second, err2)
			}
			if n := s.Queries(tc.qname, tc.qtype); n != 1 {
				t.Errorf("server saw %d queries for two lookups, want 1", n)
			}
		})
	}
	if st := r.Stats(); st.Queries != st.CacheHits+st.CacheMisses+st.Coalesced || st.CacheHits == 0 {
		t.Errorf("Stats %+v: hits+misses+coalesced must equal queries, with hits", st)
	}
}

// TestCacheExpiry uses a tiny TTL clamp; only lower bounds of time are
// relied on (sleeping past the TTL always expires it).
func TestCacheExpiry(t *testing.T) {
	s := zone(t)
	tests := []struct {
		name string
		cfg  Config
		arg  string
	}{
		{name: "positive after MaxTTL", cfg: Config{MaxTTL: 20 * time.Millisecond}, arg: "example.test"},
		{name: "negative after NegativeTTL", cfg: Config{MinTTL: time.Millisecond, NegativeTTL: 20 * time.Millisecond}, arg: "gone.example.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newResolver(t, tc.cfg, s)
			before := s.Queries(tc.arg, dns.TypeMX)
			lookup(context.Background(), r, "mx", tc.arg)
			time.Sleep(50 * time.Millisecond)
			lookup(context.Background(), r, "mx", tc.arg)
			if n := s.Queries(tc.arg, dns.TypeMX) - before; n != 2 {
				t.Errorf("server saw %d queries across the TTL, want 2", n)
			}
		})
	}
}

func TestFailureCaching(t *testing.T) {
	tests := []struct {
		name    string
		failTTL time.Duration
		pause   time.Duration
		want    int // queries the server sees for two lookups
	}{
		{name: "within FailureTTL", failTTL: FailureTTL, want: 1},
		{name: "after the window", failTTL: 10 * time.Millisecond, pause: 50 * time.Millisecond, want: 2},
		{name: "window off", failTTL: 0, want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := dnstest.Start(t)
			s.Fail("sf.test", dns.RcodeServerFailure)
			r := newResolver(t, Config{}, s)
			r.failTTL = tc.failTTL
			for i := range 2 {
				_, err := r.LookupMX(context.Background(), "sf.test")
				checkDNSError(t, err, "sf.test", wantDNSError{temporary: true})
				if i == 0 {
					time.Sleep(tc.pause)
				}
			}
			if n := s.Queries("sf.test", dns.TypeMX); n != tc.want {
				t.Errorf("server saw %d queries, want %d", n, tc.want)
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	s := zone(t)
	s.AddMX("slow.test", 1, "mx.slow.test")
	s.Delay("slow.test", 300*time.Millisecond)
	r := newResolver(t, Config{}, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			got, err := lookup(context.Background(), r, "mx", "slow.test")
			if err == nil && got != "1 mx.slow.test." {
				err = fmt.Errorf("got %q", got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if q := s.Queries("slow.test", dns.TypeMX); q != 1 {
		t.Errorf("%d concurrent lookups sent %d queries, want 1", n, q)
	}
	if st := r.Stats(); st.Queries != n || st.CacheMisses != 1 || st.Coalesced+st.CacheHits != n-1 {
		t.Errorf("Stats = %+v, want 1 miss and %d coalesced or hits", st, n-1)
	}
}

func TestCacheSizeBound(t *testing.T) {
	s := zone(t)
	r := newResolver(t, Config{CacheSize: 3}, s)
	ctx := context.Background()
	for i := range 6 {
		name := fmt.Sprintf("h%d.test", i)
		s.AddMX(name, 1, "mx.test")
		if _, err := r.LookupMX(ctx, name); err != nil {
			t.Fatal(err)
		}
		if n := r.cache.len(); n > 3 {
			t.Fatalf("cache holds %d entries, bound is 3", n)
		}
	}
	r.LookupMX(ctx, "h0.test") // evicted long ago: asked again
	r.LookupMX(ctx, "h5.test") // most recent: still cached
	if q0, q5 := s.Queries("h0.test", dns.TypeMX), s.Queries("h5.test", dns.TypeMX); q0 != 2 || q5 != 1 {
		t.Errorf("queries: h0 %d (want 2, evicted), h5 %d (want 1, cached)", q0, q5)
	}
}

func TestContextEnds(t *testing.T) {
	s := zone(t)
	s.AddMX("slow.test", 1, "mx.slow.test")
	s.Delay("slow.test", time.Second)
	r := newResolver(t, Config{}, s)

	// A caller that gives up must not take the shared query with it.
	other := make(chan string, 1)
	go func() {
		got, err := lookup(context.Background(), r, "mx", "slow.test")
		if err != nil {
			got = err.Error()
		}
		other <- got
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Queries("slow.test", dns.TypeMX) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err := r.LookupMX(ctx, "slow.test")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup returned %v, want context.Canceled", err)
	}
	checkDNSError(t, err, "slow.test", wantDNSError{temporary: true})
	if got := <-other; got != "1 mx.slow.test." {
		t.Errorf("the other caller got %q, want the answer", got)
	}
	if q := s.Queries("slow.test", dns.TypeMX); q != 1 {
		t.Errorf("server saw %d queries, want 1 shared", q)
	}

	tests := []struct {
		name  string
		ctx   func() (context.Context, context.CancelFunc)
		kind  string
		tout  bool
		wantE error
	}{
		{name: "deadline IP", kind: "ip", tout: true, wantE: context.DeadlineExceeded,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 30*time.Millisecond)
			}},
		{name: "already cancelled PTR", kind: "ptr", wantE: context.Canceled,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			}},
	}
	s.Delay("9.2.0.192.in-addr.arpa", time.Second)
	s.Delay("slow6.test", time.Second)
	args := map[string]string{"ip": "slow6.test", "ptr": "192.0.2.9"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := lookup(ctx, r, tc.kind, args[tc.kind])
			if !errors.Is(err, tc.wantE) {
				t.Fatalf("err = %v, want %v", err, tc.wantE)
			}
			checkDNSError(t, err, args[tc.kind], wantDNSError{temporary: true, tout: tc.tout})
		})
	}
	if q := s.Queries("9.2.0.192.in-addr.arpa", dns.TypePTR); q != 0 {
		t.Errorf("an already-cancelled lookup sent %d queries", q)
	}
}

func TestObserve(t *testing.T) {
	s := zone(t)
	s.Fail("sf.test", dns.RcodeServerFailure)
	s.Drop("dead.test")
	var mu sync.Mutex
	var seen []string
	r := newResolver(t, Config{Timeout: 200 * time.Millisecond, Observe: func(qtype, outcome string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			outcome += "(negative duration)"
		}
		seen = append(seen, qtype+" "+outcome)
	}}, s)
	tests := []struct {
		name string
		kind string
		arg  string
		want string
	}{
		{name: "miss", kind: "mx", arg: "example.test", want: "MX miss"},
		{name: "hit", kind: "mx", arg: "example.test", want: "MX hit"},
		{name: "nxdomain", kind: "ptr", arg: "192.0.2.200", want: "PTR nxdomain"},
		{name: "servfail", kind: "mx", arg: "sf.test", want: "MX servfail"},
		{name: "timeout", kind: "mx", arg: "dead.test", want: "MX timeout"},
		{name: "both families", kind: "ip", arg: "v4only.example.test", want: "A miss,AAAA nxdomain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			lookup(context.Background(), r, tc.kind, tc.arg)
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(seen, ","); got != tc.want {
				t.Errorf("observed %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMergeFamilies checks how LookupIPAddr combines its two answers,
// seeded straight into the cache so no network is involved.
func TestMergeFamilies(t *testing.T) {
	ok := func(ip string) *result { return &result{kind: kindAnswer, ips: []net.IP{net.ParseIP(ip)}} }
	nf := &result{kind: kindNotFound}
	sf := &result{kind: kindServFail, detail: "server misbehaving (SERVFAIL)"}
	to := &result{kind: kindTimeout, detail: "i/o timeout"}
	tests := []struct {
		name    string
		a, aaaa *result
		want    string
		wantErr wantDNSError
	}{
		{name: "both", a: ok("192.0.2.1"), aaaa: ok("2001:db8::1"), want: "192.0.2.1,2001:db8::1"},
		{name: "AAAA failed, A answered", a: ok("192.0.2.1"), aaaa: sf, want: "192.0.2.1"},
		{name: "A failed, AAAA answered", a: to, aaaa: ok("2001:db8::1"), want: "2001:db8::1"},
		{name: "both not found", a: nf, aaaa: nf, wantErr: wantDNSError{err: "no such host", notFound: true}},
		{name: "A not found, AAAA failed", a: nf, aaaa: sf, wantErr: wantDNSError{temporary: true}},
		{name: "A timed out, AAAA not found", a: to, aaaa: nf, wantErr: wantDNSError{temporary: true, tout: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(Config{Servers: []string{"127.0.0.1:9"}})
			if err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(time.Hour)
			r.cache.put(key{"h.test", dns.TypeA}, tc.a, exp)
			r.cache.put(key{"h.test", dns.TypeAAAA}, tc.aaaa, exp)
			got, err := lookup(context.Background(), r, "ip", "h.test")
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			checkDNSError(t, err, "h.test", tc.wantErr)
		})
	}
}

func TestResultsAreCopies(t *testing.T) {
	s := zone(t)
	r := newResolver(t, Config{}, s)
	ctx := context.Background()
	addrs, _ := r.LookupIPAddr(ctx, "mail.example.test")
	mxs, _ := r.LookupMX(ctx, "example.test")
	names, _ := r.LookupAddr(ctx, "192.0.2.1")
	if len(addrs) == 0 || len(mxs) == 0 || len(names) == 0 {
		t.Fatal("lookups failed")
	}
	addrs[0].IP[0] = 0
	mxs[0].Host = "changed."
	names[0] = "changed."
	got := []string{}
	for _, kind := range []struct{ k, a string }{{"ip", "mail.example.test"}, {"mx", "example.test"}, {"ptr", "192.0.2.1"}} {
		v, _ := lookup(ctx, r, kind.k, kind.a)
		got = append(got, v)
	}
	want := []string{"192.0.2.1,2001:db8::1", "10 mail.example.test.,20 backup.example.test.", "mail.example.test."}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after the caller changed its copy, cache gives %q, want %q", got[i], want[i])
		}
	}
}

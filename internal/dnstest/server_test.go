package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ask sends one query over network ("udp" or "tcp") with EDNS0 and
// returns the reply.
func ask(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, false)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

// summary renders a reply as rcode plus the answer records' data, which
// keeps table rows short and readable.
func summary(r *dns.Msg) string {
	parts := []string{dns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		parts = append(parts, strings.ToLower(f[0])+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	return strings.Join(parts, "; ")
}

func TestAnswers(t *testing.T) {
	s := Start(t)
	s.AddA("mail.example.test", "192.0.2.1", "2001:db8::1")
	s.AddA("Upper.Example.TEST.", "192.0.2.2")
	s.AddPTR("192.0.2.1", "mail.example.test")
	s.AddPTR("2001:db8::1", "mail6.example.test.")
	s.AddMX("example.test", 10, "mail.example.test")
	s.AddMX("null.test", 0, ".")
	s.AddCNAME("www.example.test", "alias.example.test")
	s.AddCNAME("alias.example.test", "mail.example.test")
	s.AddCNAME("dangling.example.test", "gone.example.test")

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  string
	}{
		{name: "A", qname: "mail.example.test", qtype: dns.TypeA, want: "NOERROR; mail.example.test. A 192.0.2.1"},
		{name: "AAAA", qname: "mail.example.test", qtype: dns.TypeAAAA, want: "NOERROR; mail.example.test. AAAA 2001:db8::1"},
		{name: "case-insensitive query", qname: "MAIL.Example.Test", qtype: dns.TypeA, want: "NOERROR; mail.example.test. A 192.0.2.1"},
		{name: "case-insensitive owner", qname: "upper.example.test", qtype: dns.TypeA, want: "NOERROR; upper.example.test. A 192.0.2.2"},
		{name: "PTR v4", qname: "1.2.0.192.in-addr.arpa", qtype: dns.TypePTR, want: "NOERROR; 1.2.0.192.in-addr.arpa. PTR mail.example.test."},
		{name: "PTR v6", qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", qtype: dns.TypePTR, want: "NOERROR; 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR mail6.example.test."},
		{name: "MX", qname: "example.test", qtype: dns.TypeMX, want: "NOERROR; example.test. MX 10 mail.example.test."},
		{name: "null MX", qname: "null.test", qtype: dns.TypeMX, want: "NOERROR; null.test. MX 0 ."},
		{name: "CNAME chain", qname: "www.example.test", qtype: dns.TypeA, want: "NOERROR; www.example.test. CNAME alias.example.test.; alias.example.test. CNAME mail.example.test.; mail.example.test. A 192.0.2.1"},
		{name: "CNAME asked directly", qname: "www.example.test", qtype: dns.TypeCNAME, want: "NOERROR; www.example.test. CNAME alias.example.test."},
		{name: "CNAME to nowhere", qname: "dangling.example.test", qtype: dns.TypeA, want: "NXDOMAIN; dangling.example.test. CNAME gone.example.test."},
		{name: "NXDOMAIN", qname: "nope.example.test", qtype: dns.TypeA, want: "NXDOMAIN"},
		{name: "NODATA", qname: "example.test", qtype: dns.TypeA, want: "NOERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, s, "udp", tc.qname, tc.qtype)
			if got := summary(r); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !r.Authoritative {
				t.Error("AA bit not set")
			}
		})
	}
}

func TestNegativeAnswersCarrySOA(t *testing.T) {
	s := Start(t)
	s.AddA("host.example.test", "192.0.2.1")
	s.SetTTL(7 * time.Second)
	tests := []struct {
		name      string
		qname     string
		wantRcode int
		wantZone  string
	}{
		{name: "NXDOMAIN under parent", qname: "nope.example.test", wantRcode: dns.RcodeNameError, wantZone: "example.test."},
		{name: "NODATA at the name", qname: "host.example.test", wantRcode: dns.RcodeSuccess, wantZone: "host.example.test."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, s, "udp", tc.qname, dns.TypeMX)
			if r.Rcode != tc.wantRcode || len(r.Answer) != 0 {
				t.Fatalf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if len(r.Ns) != 1 {
				t.Fatalf("authority has %d records, want one SOA", len(r.Ns))
			}
			soa, ok := r.Ns[0].(*dns.SOA)
			if !ok {
				t.Fatalf("authority holds %T, want SOA", r.Ns[0])
			}
			if soa.Hdr.Name != tc.wantZone || soa.Minttl != 7 || soa.Hdr.Ttl != 7 {
				t.Errorf("SOA %s, want owner %s with TTL and MINIMUM 7", soa, tc.wantZone)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s := Start(t)
	s.AddA("fail.test", "192.0.2.1")
	s.Fail("fail.test", dns.RcodeServerFailure)
	s.Fail("refused.test", dns.RcodeRefused)
	s.AddA("healed.test", "192.0.2.3")
	s.Fail("healed.test", dns.RcodeServerFailure)
	s.Fail("healed.test", dns.RcodeSuccess)
	s.AddA("big.test", "192.0.2.2")
	s.Truncate("big.test")

	tests := []struct {
		name    string
		network string
		qname   string
		want    string
		wantTC  bool
	}{
		{name: "SERVFAIL any type", network: "udp", qname: "fail.test", want: "SERVFAIL"},
		{name: "REFUSED unknown name", network: "udp", qname: "refused.test", want: "REFUSED"},
		{name: "Fail cleared", network: "udp", qname: "healed.test", want: "NOERROR; healed.test. A 192.0.2.3"},
		{name: "truncated over UDP", network: "udp", qname: "big.test", want: "NOERROR", wantTC: true},
		{name: "whole over TCP", network: "tcp", qname: "big.test", want: "NOERROR; big.test. A 192.0.2.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, s, tc.network, tc.qname, dns.TypeA)
			if got := summary(r); got != tc.want || r.Truncated != tc.wantTC {
				t.Errorf("got %s TC=%v, want %s TC=%v", got, r.Truncated, tc.want, tc.wantTC)
			}
		})
	}
}

func TestLargeAnswerTruncatesOverUDP(t *testing.T) {
	s := Start(t)
	var ips []string
	for i := range 200 {
		ips = append(ips, fmt.Sprintf("2001:db8::%x", i+1))
	}
	s.AddA("many.test", ips...)
	udp := ask(t, s, "udp", "many.test", dns.TypeAAAA)
	tcp := ask(t, s, "tcp", "many.test", dns.TypeAAAA)
	if !udp.Truncated || len(udp.Answer) >= 200 {
		t.Errorf("UDP: TC=%v with %d answers, want truncation", udp.Truncated, len(udp.Answer))
	}
	if tcp.Truncated || len(tcp.Answer) != 200 {
		t.Errorf("TCP: TC=%v with %d answers, want all 200", tcp.Truncated, len(tcp.Answer))
	}
}

func TestDropAndDelay(t *testing.T) {
	s := Start(t)
	s.AddA("slow.test", "192.0.2.1")
	s.Delay("slow.test", 100*time.Millisecond)
	s.AddA("dead.test", "192.0.2.1")
	s.Drop("dead.test")

	start := time.Now()
	r := ask(t, s, "udp", "slow.test", dns.TypeA)
	if took := time.Since(start); took < 100*time.Millisecond || len(r.Answer) != 1 {
		t.Errorf("delayed answer came after %v with %d records, want >= 100ms and 1", took, len(r.Answer))
	}

	q := new(dns.Msg)
	q.SetQuestion("dead.test.", dns.TypeA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	if _, _, err := c.Exchange(q, s.Addr()); err == nil {
		t.Error("dropped query got an answer")
	}
	if n := s.Queries("DEAD.test", dns.TypeA); n != 1 {
		t.Errorf("Queries(dead.test) = %d, want 1 (dropped queries count)", n)
	}
}

func TestQueriesCounts(t *testing.T) {
	s := Start(t)
	s.AddA("count.test", "192.0.2.1")
	s.Truncate("tc.test")
	for range 3 {
		ask(t, s, "udp", "count.test", dns.TypeA)
	}
	ask(t, s, "udp", "count.test", dns.TypeMX)
	r := ask(t, s, "udp", "tc.test", dns.TypeA)
	if r.Truncated {
		ask(t, s, "tcp", "tc.test", dns.TypeA)
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  int
	}{
		{name: "three of A", qname: "count.test", qtype: dns.TypeA, want: 3},
		{name: "spelling does not matter", qname: "Count.Test.", qtype: dns.TypeA, want: 3},
		{name: "types counted apart", qname: "count.test", qtype: dns.TypeMX, want: 1},
		{name: "never asked", qname: "count.test", qtype: dns.TypeAAAA, want: 0},
		{name: "UDP and TCP retry both count", qname: "tc.test", qtype: dns.TypeA, want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Queries(tc.qname, tc.qtype); got != tc.want {
				t.Errorf("Queries(%s, %s) = %d, want %d", tc.qname, dns.TypeToString[tc.qtype], got, tc.want)
			}
		})
	}
	if got := s.Total(); got != 6 {
		t.Errorf("Total() = %d, want 6", got)
	}
}

// TestConcurrentUse changes the zone while it is being queried; it proves
// nothing by its output but gives the race detector something to see.
func TestConcurrentUse(t *testing.T) {
	s := Start(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			name := fmt.Sprintf("h%d.test", i)
			for j := range 10 {
				s.AddA(name, fmt.Sprintf("192.0.2.%d", j+1))
				q := new(dns.Msg)
				q.SetQuestion(name+".", dns.TypeA)
				r, err := dns.Exchange(q, s.Addr())
				if err != nil || len(r.Answer) != j+1 {
					t.Errorf("%s query %d: %v", name, j, err)
				}
				s.SetTTL(time.Duration(j) * time.Second)
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		if n := s.Queries(fmt.Sprintf("h%d.test", i), dns.TypeA); n != 10 {
			t.Errorf("h%d.test: %d queries, want 10", i, n)
		}
	}
}

func TestListenAndClose(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.AddA("ok.test", "192.0.2.1")
	s.AddA("bad.test", "not-an-ip")
	s.AddPTR("nor-this", "x.test")
	if r := ask(t, s, "tcp", "ok.test", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("got %d answers, want 1", len(r.Answer))
	}
	err = s.Err()
	if err == nil || !strings.Contains(err.Error(), "not-an-ip") || !strings.Contains(err.Error(), "nor-this") {
		t.Errorf("Err() = %v, want both bad inputs named", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("TCP still accepting after Close")
	}
}

func TestCloseReleasesDelayed(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Delay("held.test", time.Hour)
	go func() {
		q := new(dns.Msg)
		q.SetQuestion("held.test.", dns.TypeA)
		c := &dns.Client{Timeout: 2 * time.Second}
		c.Exchange(q, s.Addr()) // never answered; only its arrival matters
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Queries("held.test", dns.TypeA) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a delayed query")
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

func TestBadInputFailsTest(t *testing.T) {
	rec := &recorder{TB: t}
	s := Start(rec)
	tests := []struct {
		name string
		add  func()
		want string
	}{
		{name: "bad IP", add: func() { s.AddA("x.test", "300.1.1.1") }, want: "300.1.1.1"},
		{name: "bad name", add: func() { s.AddA("a..b", "192.0.2.1") }, want: "a..b"},
		{name: "bad PTR address", add: func() { s.AddPTR("x", "y.test") }, want: `"x"`},
		{name: "bad MX host", add: func() { s.AddMX("x.test", 1, "a..b") }, want: "a..b"},
		{name: "bad CNAME target", add: func() { s.AddCNAME("x.test", "") }, want: "AddCNAME"},
		{name: "bad rcode", add: func() { s.Fail("x.test", -1) }, want: "-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.errs = nil
			rec.mu.Unlock()
			tc.add()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], tc.want) {
				t.Errorf("reported %q, want one error naming %s", rec.errs, tc.want)
			}
		})
	}
}

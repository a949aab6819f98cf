package e2e

// Issue 12, bug 4, on the wire: one connection pipelining 2000 EHLOs, each
// with a new name, against the real binary, its DNS the in-process server
// answering every one of those names only after 2 seconds. Before, every
// EHLO was answered at once and started its own background evaluation:
// 2000 × 250 and thousands of queries. Proof now: at most ten greetings
// are answered (the default [limits] max_greetings) and the gateway logs
// the refusal; a second connection that sends eleven pipelined EHLOs reads
// ten 250s and "421 4.7.0 ... too many HELO/EHLO commands", then the
// close; and the DNS server sees at most the queries of ten evaluations.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestEHLOFloodIsCapped(t *testing.T) {
	const (
		flood    = 2000
		maxGreet = 10 // the default of [limits] max_greetings
		clientIP = "127.0.0.9"
	)
	names := make([]string, flood)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.flood-e2e.net", i)
	}
	e := setup(t, nil, opts{downstream: "smtp://127.0.0.1:1", zone: []func(*dnstest.Server){func(s *dnstest.Server) {
		for _, n := range names {
			s.Delay(n, 2*time.Second)
		}
	}}})
	before := e.dns.Total()

	// 2000 pipelined in one write. The gateway closes after its 421 with
	// most of them unread, so the kernel resets the connection and may
	// drop replies the client had not read yet: count what arrives, and
	// require that nothing past the cap was answered.
	r := e2etest.DialRaw(t, e.mx, clientIP)
	var b strings.Builder
	for _, n := range names {
		b.WriteString("EHLO " + n + "\r\n")
	}
	r.Write([]byte(b.String()))
	answered := 0
	for range flood {
		rep, err := r.TryReadReply()
		if err != nil {
			break // closed (EOF or reset)
		}
		if rep.Code == 250 {
			answered++
		}
	}
	if answered > maxGreet {
		t.Errorf("%d of %d pipelined EHLOs answered 250, want at most %d", answered, flood, maxGreet)
	}
	e.gw.WaitLog(t, "reason=too_many_greetings", 10*time.Second)

	// The exact replies, on a connection that sends just one greeting
	// too many (pipelined too): nothing is left unread, so nothing is lost.
	r2 := e2etest.DialRaw(t, e.mx, clientIP)
	b.Reset()
	for _, n := range names[:maxGreet+1] {
		b.WriteString("EHLO " + n + "\r\n")
	}
	r2.Send(t, []byte(b.String()))
	for i := range maxGreet {
		if rep := r2.ReadReply(t); rep.Code != 250 {
			t.Errorf("EHLO %d: %q", i+1, rep.String())
		}
	}
	if got, want := r2.ReadReply(t).String(), "421 4.7.0 "+gwHost+" Error: too many HELO/EHLO commands"; got != want {
		t.Errorf("EHLO %d: %q, want %q", maxGreet+1, got, want)
	}
	r2.WaitClosed(t, 10*time.Second)

	// Queries already sent are counted when they arrive; the resolver
	// sends nothing for this connection after its budget ([dns] timeout
	// 1s) has run out, so wait that long before counting.
	time.Sleep(1500 * time.Millisecond)
	sent := e.dns.Total() - before
	// One evaluation asks A, AAAA and MX of its name and the PTR of the
	// client: 10 evaluations at most 31 queries, a UDP retry each aside;
	// the second connection's names were asked already (and cached).
	if limit := 2 * (3*maxGreet + 1); sent > limit {
		t.Errorf("%d DNS queries for the greetings of two connections, want at most %d", sent, limit)
	}
	for _, n := range names[maxGreet:] {
		if q := e.dns.Queries(n, dns.TypeA) + e.dns.Queries(n, dns.TypeMX); q != 0 {
			t.Errorf("%s, sent after the cap, was looked up %d times", n, q)
		}
	}
	t.Logf("%d DNS queries for %d pipelined EHLOs", sent, flood)
}

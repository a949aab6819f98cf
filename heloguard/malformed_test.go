package heloguard

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/resolver"
)

// Issue 12: a PTR answer that is not a valid host name made rdns a
// temperror (4xx under strict), as if DNS had failed. The zone said it, so
// it is a permanent failure: rdns fails with reason invalid_ptr, and the
// strict profile refuses with a 5xx. Real DNS: the gateway's resolver
// asking the in-process miekg/dns server.
func TestMalformedPTRFailsRDNS(t *testing.T) {
	s := dnstest.Start(t)
	s.AddA("mail.good.example.test", "192.0.2.50", "192.0.2.51")
	s.AddPTR("192.0.2.50", "-bad-.example.test")
	s.AddPTR("192.0.2.51", `bad\032name.example.test`)
	r, err := resolver.New(resolver.Config{Servers: []string{s.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, Config{Profile: ProfileStrict})
	for _, ip := range []string{"192.0.2.50", "192.0.2.51"} {
		t.Run(ip, func(t *testing.T) {
			c := Client{IP: netip.MustParseAddr(ip), HELO: "mail.good.example.test", Sent: true, EHLO: true}
			v := p.Evaluate(context.Background(), c, resolver.NewMemo(r))
			rd := result(v, CheckRDNS)
			if rd.Result != Fail || rd.Reason != "invalid_ptr" || !strings.Contains(rd.Evidence, "PTR answer is not a valid host name") {
				t.Errorf("rdns: %s %s %q; want fail invalid_ptr with the evidence", rd.Result, rd.Reason, rd.Evidence)
			}
			for _, res := range v.Results {
				if res.Result == TempError {
					t.Errorf("%s: temperror (%s, %s)", res.Check, res.Reason, res.Evidence)
				}
			}
			if v.Refusal == nil || v.Refusal.Code/100 != 5 {
				t.Errorf("strict refusal: %v, want a 5xx", v.Refusal)
			}
		})
	}
}

// classify tells a malformed answer (permanent) from a failure to get one
// (temporary), for the gateway's resolver and for *net.Resolver alike.
func TestClassifyMalformed(t *testing.T) {
	tests := []struct {
		name string
		n    int
		err  error
		out  outcome
		why  string
	}{
		{name: "resolver.ErrMalformed", err: &net.DNSError{Err: "DNS response contained records which contain invalid names or addresses", UnwrapErr: resolver.ErrMalformed}, out: notFound, why: reasonMalformed},
		{name: "net.Resolver text", err: &net.DNSError{Err: netMalformed, Name: "x"}, out: notFound, why: reasonMalformed},
		{name: "net.Resolver text with valid names", n: 1, err: &net.DNSError{Err: netMalformed, Name: "x"}, out: found},
		{name: "net.Resolver SERVFAIL is not temporary there, still temporary here", err: &net.DNSError{Err: "server misbehaving", Name: "x"}, out: temporary, why: reasonServfail},
		{name: "resolver.ErrSaturated", err: &net.DNSError{Err: "resolver saturated", IsTemporary: true, UnwrapErr: resolver.ErrSaturated}, out: temporary, why: reasonBusy},
		{name: "temporary text is not malformed", err: &net.DNSError{Err: netMalformed, IsTemporary: true}, out: temporary, why: reasonServfail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out, why := classify(tc.n, tc.err); out != tc.out || why != tc.why {
				t.Errorf("classify: %v %q, want %v %q", out, why, tc.out, tc.why)
			}
		})
	}
}

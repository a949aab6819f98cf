package resolver

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func TestInterpret(t *testing.T) {
	r := &Resolver{minTTL: 10 * time.Second, maxTTL: time.Hour, negTTL: 5 * time.Minute}
	soa := "example.test. 600 IN SOA ns. host. 1 2 3 4 300"
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answer    []string
		ns        []string
		wantKind  kind
		wantTTL   time.Duration
		wantIPs   []string
		wantNames []string
		wantMX    []net.MX
	}{
		{name: "A records", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"a.test. 300 IN A 192.0.2.1", "a.test. 100 IN A 192.0.2.2"},
			wantKind: kindAnswer, wantTTL: 100 * time.Second, wantIPs: []string{"192.0.2.1", "192.0.2.2"}},
		{name: "TTL floor", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"a.test. 0 IN A 192.0.2.1"},
			wantKind: kindAnswer, wantTTL: 10 * time.Second, wantIPs: []string{"192.0.2.1"}},
		{name: "TTL ceiling", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"a.test. 86400 IN A 192.0.2.1"},
			wantKind: kindAnswer, wantTTL: time.Hour, wantIPs: []string{"192.0.2.1"}},
		{name: "owner case ignored", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"A.TEST. 300 IN A 192.0.2.1"},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantIPs: []string{"192.0.2.1"}},
		{name: "records of other owners ignored", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"evil.test. 300 IN A 203.0.113.1", "a.test. 300 IN A 192.0.2.1"},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantIPs: []string{"192.0.2.1"}},
		{name: "CNAME chain takes final name and smallest TTL", qname: "www.test.", qtype: dns.TypeA,
			answer:   []string{"www.test. 60 IN CNAME b.test.", "b.test. 3000 IN CNAME c.test.", "c.test. 300 IN A 192.0.2.9"},
			wantKind: kindAnswer, wantTTL: 60 * time.Second, wantIPs: []string{"192.0.2.9"}},
		{name: "CNAME chain out of order", qname: "www.test.", qtype: dns.TypeAAAA,
			answer:   []string{"c.test. 300 IN AAAA 2001:db8::9", "www.test. 300 IN CNAME c.test."},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantIPs: []string{"2001:db8::9"}},
		{name: "CNAME loop", qname: "a.test.", qtype: dns.TypeA,
			answer:   []string{"a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME a.test."},
			wantKind: kindError},
		{name: "CNAME to nothing is NODATA", qname: "a.test.", qtype: dns.TypeA,
			answer: []string{"a.test. 60 IN CNAME b.test."}, ns: []string{soa},
			wantKind: kindNotFound, wantTTL: 300 * time.Second},
		{name: "NXDOMAIN SOA minimum", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			ns: []string{soa}, wantKind: kindNotFound, wantTTL: 300 * time.Second},
		{name: "NXDOMAIN SOA TTL below minimum", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			ns: []string{"example.test. 60 IN SOA ns. host. 1 2 3 4 300"}, wantKind: kindNotFound, wantTTL: 60 * time.Second},
		{name: "NXDOMAIN capped by NegativeTTL", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			ns: []string{"example.test. 86400 IN SOA ns. host. 1 2 3 4 86400"}, wantKind: kindNotFound, wantTTL: 5 * time.Minute},
		{name: "NXDOMAIN without SOA uses MinTTL", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			wantKind: kindNotFound, wantTTL: 10 * time.Second},
		{name: "NODATA", qname: "a.test.", qtype: dns.TypeMX, ns: []string{soa},
			wantKind: kindNotFound, wantTTL: 300 * time.Second},
		{name: "SERVFAIL", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, wantKind: kindServFail},
		{name: "REFUSED", qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, wantKind: kindServFail},
		{name: "PTR names kept absolute", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer:   []string{"1.2.0.192.in-addr.arpa. 300 IN PTR mail.example.test."},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantNames: []string{"mail.example.test."}},
		{name: "PTR with bad name dropped", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer:   []string{`1.2.0.192.in-addr.arpa. 300 IN PTR bad\032name.test.`, "1.2.0.192.in-addr.arpa. 300 IN PTR ok.test."},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantNames: []string{"ok.test."}},
		{name: "only bad PTR names", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer:   []string{`1.2.0.192.in-addr.arpa. 300 IN PTR bad\032name.test.`},
			wantKind: kindMalformed, wantTTL: 300 * time.Second},
		{name: "AAAA holding mapped IPv4 dropped", qname: "a.test.", qtype: dns.TypeAAAA,
			answer:   []string{"a.test. 300 IN AAAA ::ffff:192.0.2.1"},
			wantKind: kindMalformed, wantTTL: 300 * time.Second},
		{name: "MX sorted by preference", qname: "example.test.", qtype: dns.TypeMX,
			answer:   []string{"example.test. 300 IN MX 20 b.test.", "example.test. 300 IN MX 10 a.test.", "example.test. 300 IN MX 20 c.test."},
			wantKind: kindAnswer, wantTTL: 300 * time.Second,
			wantMX: []net.MX{{Host: "a.test.", Pref: 10}, {Host: "b.test.", Pref: 20}, {Host: "c.test.", Pref: 20}}},
		{name: "null MX", qname: "example.test.", qtype: dns.TypeMX,
			answer:   []string{"example.test. 300 IN MX 0 ."},
			wantKind: kindAnswer, wantTTL: 300 * time.Second, wantMX: []net.MX{{Host: ".", Pref: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			m.Response = true
			m.Rcode = tc.rcode
			for _, s := range tc.answer {
				m.Answer = append(m.Answer, rr(t, s))
			}
			for _, s := range tc.ns {
				m.Ns = append(m.Ns, rr(t, s))
			}
			res := r.interpret(m, "192.0.2.53:53")
			if res.kind != tc.wantKind {
				t.Fatalf("kind = %v (%s), want %v", res.kind, res.detail, tc.wantKind)
			}
			if res.kind != kindAnswer && res.kind != kindNotFound {
				if res.detail == "" {
					t.Error("failure without detail")
				}
				return
			}
			if res.ttl != tc.wantTTL {
				t.Errorf("ttl = %v, want %v", res.ttl, tc.wantTTL)
			}
			var ips []string
			for _, ip := range res.ips {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.wantIPs) || !slices.Equal(res.names, tc.wantNames) || !slices.Equal(res.mxs, tc.wantMX) {
				t.Errorf("got ips %q names %q mx %v; want %q %q %v", ips, res.names, res.mxs, tc.wantIPs, tc.wantNames, tc.wantMX)
			}
		})
	}
}

func TestValidResponse(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("mail.example.test.", dns.TypeA)
	reply := func(edit func(m *dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		edit(m)
		return m
	}
	tests := []struct {
		name   string
		resp   *dns.Msg
		wantOK bool
	}{
		{name: "matching", resp: reply(func(*dns.Msg) {}), wantOK: true},
		{name: "name case differs", resp: reply(func(m *dns.Msg) { m.Question[0].Name = "MAIL.example.TEST." }), wantOK: true},
		{name: "other name", resp: reply(func(m *dns.Msg) { m.Question[0].Name = "evil.test." }), wantOK: false},
		{name: "other type", resp: reply(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }), wantOK: false},
		{name: "other class", resp: reply(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), wantOK: false},
		{name: "no question", resp: reply(func(m *dns.Msg) { m.Question = nil }), wantOK: false},
		{name: "not a response", resp: reply(func(m *dns.Msg) { m.Response = false }), wantOK: false},
		{name: "other opcode", resp: reply(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), wantOK: false},
		{name: "nil", resp: nil, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := validResponse(q, tc.resp)
			if (msg == "") != tc.wantOK {
				t.Errorf("validResponse = %q, want ok=%v", msg, tc.wantOK)
			}
		})
	}
}

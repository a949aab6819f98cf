package heloguard

import (
	"context"
	"net"
	"net/netip"
	"testing"
)

// mapResolver answers from prebuilt maps without locking or allocating:
// a warm cache, to measure heloguard's own cost.
type mapResolver struct {
	ip  map[string][]net.IPAddr
	ptr map[string][]string
	mx  map[string][]*net.MX
}

var errNotFound = &net.DNSError{Err: "no such host", IsNotFound: true}

func (m *mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := m.ip[host]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (m *mapResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if a, ok := m.ptr[addr]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (m *mapResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if a, ok := m.mx[name]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func benchClient() Client {
	return Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true, EHLO: true}
}

func BenchmarkEvaluateNoDNS(b *testing.B) {
	off := map[string]Action{}
	for _, c := range []string{CheckForwardDNS, CheckForwardMatch, CheckRDNS, CheckFCrDNS, CheckRDNSMatch, CheckGeneric, CheckBigCompany} {
		off[c] = ActionOff
	}
	p := mustPolicy(b, Config{Checks: off, Explain: true})
	r := &mapResolver{}
	c := benchClient()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := p.Evaluate(ctx, c, r)
		if v.Action != ActionAccept {
			b.Fatal(v.Action)
		}
	}
}

func BenchmarkEvaluateWarmCache(b *testing.B) {
	p := mustPolicy(b, Config{Profile: ProfileMonitor, Explain: true})
	r := &mapResolver{
		ip:  map[string][]net.IPAddr{"mail.sender-lab.net": {{IP: net.ParseIP("192.0.2.7")}}},
		ptr: map[string][]string{"192.0.2.7": {"mail.sender-lab.net."}},
		mx:  map[string][]*net.MX{"mail.sender-lab.net": {{Host: "mail.sender-lab.net.", Pref: 10}}},
	}
	c := benchClient()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := p.Evaluate(ctx, c, r)
		if v.Action != ActionAccept || v.IPRev != Pass {
			b.Fatal(v.Action, failedChecks(v))
		}
	}
}

// BenchmarkEvaluateRefused measures the refusal path: a failure, its
// explanation and the reply.
func BenchmarkEvaluateRefused(b *testing.B) {
	p := mustPolicy(b, Config{Explain: true})
	c := Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: "python-email-server", Sent: true, EHLO: true}
	r := &mapResolver{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v := p.Evaluate(ctx, c, r); v.Refusal == nil {
			b.Fatal("accepted")
		}
	}
}

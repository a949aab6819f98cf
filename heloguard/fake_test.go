package heloguard

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Special answers of fakeResolver.
const (
	answerServfail = "!servfail" // a temporary error, like SERVFAIL
	answerBlock    = "!block"    // no answer until the context ends
)

// fakeResolver answers from a map keyed "A name", "MX name" or "PTR ip";
// names are looked up as given (heloguard passes them normalized). A
// missing key is NXDOMAIN. It counts the queries it sees.
type fakeResolver struct {
	records map[string][]string
	all     string // when set, the answer to every query (answerServfail, answerBlock)

	mu       sync.Mutex
	queries  map[string]int
	inflight int // lookups that have not returned yet
}

func newFake(records map[string][]string) *fakeResolver {
	return &fakeResolver{records: records, queries: map[string]int{}}
}

func (f *fakeResolver) answer(ctx context.Context, key string) ([]string, error) {
	f.mu.Lock()
	f.queries[key]++
	f.inflight++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	ans, ok := f.records[key]
	if f.all != "" {
		ans, ok = []string{f.all}, true
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
	}
	if len(ans) == 1 {
		switch ans[0] {
		case answerServfail:
			return nil, &net.DNSError{Err: "server misbehaving", Name: key, IsTemporary: true}
		case answerBlock:
			<-ctx.Done()
			return nil, &net.DNSError{Err: ctx.Err().Error(), Name: key, IsTemporary: true, UnwrapErr: ctx.Err()}
		}
	}
	return ans, nil
}

func (f *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ans, err := f.answer(ctx, "A "+host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, 0, len(ans))
	for _, s := range ans {
		out = append(out, net.IPAddr{IP: net.IP(netip.MustParseAddr(s).AsSlice())})
	}
	return out, nil
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return f.answer(ctx, "PTR "+addr)
}

func (f *fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ans, err := f.answer(ctx, "MX "+name)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(ans))
	for _, s := range ans {
		out = append(out, &net.MX{Host: s, Pref: 10})
	}
	return out, nil
}

// active returns the number of lookups in flight.
func (f *fakeResolver) active() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inflight
}

// seen returns a copy of the query counts.
func (f *fakeResolver) seen() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.queries))
	for k, v := range f.queries {
		out[k] = v
	}
	return out
}

// count returns how many queries of a kind ("A", "PTR", "MX", or "" for
// all) the resolver saw.
func (f *fakeResolver) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, c := range f.queries {
		if kind == "" || strings.HasPrefix(k, kind+" ") {
			n += c
		}
	}
	return n
}

// The identity of the gateway in tests.
const (
	ourHost   = "mx.gw-lab.net"
	ourDomain = "shop-lab.net"
)

var ourIP = netip.MustParseAddr("198.51.100.25")

func testIdentity() Identity {
	return Identity{Hostname: ourHost, Addrs: []netip.Addr{ourIP}, Domains: []string{ourDomain}}
}

// testZone is the DNS every table shares.
func testZone() map[string][]string {
	return map[string][]string{
		// A well-configured sender.
		"A mail.sender-lab.net":     {"192.0.2.7"},
		"PTR 192.0.2.7":             {"mail.sender-lab.net."},
		"A other.sender-lab.net":    {"192.0.2.8"},
		"A mx-only.sender-lab.net":  nil,
		"MX mx-only.sender-lab.net": {"mx.sender-lab.net"},
		// A provider's default PTR (seed 004).
		"PTR 185.10.20.30":                   {"static.185.10.20.30.provider.com."},
		"A static.185.10.20.30.provider.com": {"185.10.20.30"},
		"A mail.provider.com":                {"185.10.20.30"},
		// A cloud default name (seed 004).
		"PTR 185.12.34.56":                         {"ec2-185-12-34-56.compute.amazonaws.com."},
		"A ec2-185-12-34-56.compute.amazonaws.com": {"185.12.34.56"},
		// An ISP customer claiming gmail.com.
		"PTR 203.0.113.9":           {"host9.isp-lab.net."},
		"A host9.isp-lab.net":       {"203.0.113.9"},
		"A gmail.com":               {"142.250.1.1"},
		"PTR 209.85.128.44":         {"mail-wm1-f44.google.com."},
		"A mail-wm1-f44.google.com": {"209.85.128.44"},
		// A PTR that does not resolve back.
		"PTR 192.0.2.20":               {"unconfirmed.sender-lab.net."},
		"A unconfirmed.sender-lab.net": {"192.0.2.21"},
		// DNS trouble.
		"A servfail.sender-lab.net": {answerServfail},
		"PTR 192.0.2.66":            {answerServfail},
		"A block.sender-lab.net":    {answerBlock},
	}
}

package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Resolver is a caching, coalescing DNS stub resolver. It is safe for
// concurrent use; its methods have the signatures and error contract of
// *net.Resolver, so the two are interchangeable behind an interface.
type Resolver struct {
	servers                []string
	timeout                time.Duration
	minTTL, maxTTL, negTTL time.Duration
	failTTL                time.Duration // FailureTTL; tests shorten it
	observe                func(qtype, outcome string, d time.Duration)

	udp, tcp *dns.Client
	cache    *cache
	flight   flight
	slots    *slots
	stats    counters
}

// Stats are counters since the Resolver was built. Each counts (name,
// type) lookups: LookupIPAddr is two, one for A and one for AAAA.
// Queries = CacheHits + CacheMisses + Coalesced.
type Stats struct {
	Queries     uint64 // lookups asked for
	CacheHits   uint64 // answered from the cache (positive, negative or failure)
	CacheMisses uint64 // sent to the servers by this caller (or Saturated)
	Coalesced   uint64 // waited for an identical query already in flight
	Errors      uint64 // queries sent that ended in a temporary failure, timeouts included
	Timeouts    uint64 // queries sent that no server answered in time
	Saturated   uint64 // misses not sent because Config.MaxInFlight queries were out (temporary failures)
	InFlight    int    // queries outstanding at the servers now
}

type counters struct {
	queries, hits, misses, coalesced, errors, timeouts, saturated atomic.Uint64
}

// New returns a Resolver for cfg, or an error naming every invalid setting
// (a server that is not an IP address, a negative duration, ...).
func New(cfg Config) (*Resolver, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Resolver{
		servers: s.servers,
		timeout: s.timeout,
		minTTL:  s.minTTL,
		maxTTL:  s.maxTTL,
		negTTL:  s.negTTL,
		failTTL: FailureTTL,
		observe: s.observe,
		// Client.Timeout only caps each read and write; the per-attempt
		// context deadline, always shorter, is what bounds an exchange.
		udp:   &dns.Client{Net: "udp", UDPSize: ednsSize, Timeout: s.timeout},
		tcp:   &dns.Client{Net: "tcp", Timeout: s.timeout},
		cache: newCache(s.cacheSize),
		slots: newSlots(s.maxInFlight, s.log),
	}, nil
}

// Stats returns the counters since the Resolver was built.
func (r *Resolver) Stats() Stats {
	return Stats{
		Queries:     r.stats.queries.Load(),
		CacheHits:   r.stats.hits.Load(),
		CacheMisses: r.stats.misses.Load(),
		Coalesced:   r.stats.coalesced.Load(),
		Errors:      r.stats.errors.Load(),
		Timeouts:    r.stats.timeouts.Load(),
		Saturated:   r.stats.saturated.Load(),
		InFlight:    r.slots.inFlight(),
	}
}

// LookupIPAddr returns the IPv4 and IPv6 addresses of host, A records
// first. The A and AAAA queries run concurrently. As with *net.Resolver,
// an IP literal is returned as is, addresses are returned if either query
// found some, and a not-found error needs both to say not found; otherwise
// the temporary failure is returned.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if ip, ok := parseIPLiteral(host); ok {
		return []net.IPAddr{{IP: net.IP(ip.Unmap().AsSlice()), Zone: ip.Zone()}}, nil
	}
	name, ok := canonicalHost(host)
	if !ok {
		return nil, &net.DNSError{Err: errNoSuchHost, Name: host, IsNotFound: true}
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err, host)
	}
	// Both queries are started before either is awaited: a miss runs in
	// its own goroutine, so this is concurrency without a goroutine of
	// our own, and none at all when both are cached.
	pa := r.begin(key{name, dns.TypeA})
	p6 := r.begin(key{name, dns.TypeAAAA})
	a, errA := r.wait(ctx, &pa)
	aaaa, err6 := r.wait(ctx, &p6)
	if errA != nil {
		return nil, ctxError(errA, host)
	}
	if err6 != nil {
		return nil, ctxError(err6, host)
	}
	if n := len(a.ips) + len(aaaa.ips); n > 0 {
		return ipAddrs(n, a.ips, aaaa.ips), nil
	}
	if a.kind != kindNotFound {
		return nil, a.err(host)
	}
	return nil, aaaa.err(host)
}

// LookupAddr returns the names of addr from its PTR records (RFC 1035
// §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa), absolute, with the trailing
// dot, like *net.Resolver. An IPv4-mapped IPv6 address is looked up as
// IPv4. An addr that is not an IP address is an error that is neither
// temporary nor not-found, as with *net.Resolver.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	arpa, err := dns.ReverseAddr(ip.Unmap().WithZone("").String())
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	res, err := r.lookup(ctx, key{arpa[:len(arpa)-1], dns.TypePTR})
	if err != nil {
		return nil, ctxError(err, addr)
	}
	if res.kind != kindAnswer {
		return nil, res.err(addr)
	}
	return append([]string(nil), res.names...), nil
}

// LookupMX returns the MX records of name, lowest preference first, with
// absolute host names; a null MX (RFC 7505) is returned as host ".".
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	canon, ok := canonicalHost(name)
	if !ok {
		return nil, &net.DNSError{Err: errNoSuchHost, Name: name, IsNotFound: true}
	}
	res, err := r.lookup(ctx, key{canon, dns.TypeMX})
	if err != nil {
		return nil, ctxError(err, name)
	}
	if res.kind != kindAnswer {
		return nil, res.err(name)
	}
	out := make([]*net.MX, len(res.mxs))
	for i := range res.mxs {
		mx := res.mxs[i]
		out[i] = &mx
	}
	return out, nil
}

// parseIPLiteral parses host as an IP address. It tries only strings that
// could be one (a colon, or digits and dots only), because a failed
// netip.ParseAddr allocates its error and host names are the common case.
func parseIPLiteral(host string) (netip.Addr, bool) {
	if strings.IndexByte(host, ':') < 0 && strings.Trim(host, "0123456789.") != "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

// ipAddrs copies addresses into fresh memory, one slice for the headers
// and one for the bytes, so callers may keep or change them freely.
func ipAddrs(n int, lists ...[]net.IP) []net.IPAddr {
	size := 0
	for _, l := range lists {
		for _, ip := range l {
			size += len(ip)
		}
	}
	out := make([]net.IPAddr, 0, n)
	buf := make([]byte, 0, size)
	for _, l := range lists {
		for _, ip := range l {
			start := len(buf)
			buf = append(buf, ip...)
			out = append(out, net.IPAddr{IP: net.IP(buf[start:len(buf):len(buf)])})
		}
	}
	return out
}

// pending is one (name, type) lookup between begin and wait.
type pending struct {
	k      key
	start  time.Time
	res    *result // set when answered from the cache
	c      *call   // otherwise, the query to wait for
	leader bool    // whether this lookup sent the query
}

// lookup is begin and wait for a single key.
func (r *Resolver) lookup(ctx context.Context, k key) (*result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := r.begin(k)
	return r.wait(ctx, &p)
}

// begin answers k from the cache, or joins the query in flight for k, or
// starts one. It never blocks on the network.
func (r *Resolver) begin(k key) pending {
	now := time.Now()
	p := pending{k: k, start: now}
	r.stats.queries.Add(1)
	if res := r.cache.get(k, now); res != nil {
		r.stats.hits.Add(1)
		p.res = res
		return p
	}
	c, leader := r.flight.join(k)
	if !leader {
		r.stats.coalesced.Add(1)
		p.c = c
		return p
	}
	// Between our cache miss and join, another leader may have filled
	// the cache and left the flight map (it stores before it leaves), so
	// look once more before going to the network.
	if res := r.cache.get(k, time.Now()); res != nil {
		r.flight.finish(k, c, res)
		r.stats.hits.Add(1)
		p.res = res
		return p
	}
	r.stats.misses.Add(1)
	p.c, p.leader = c, true
	// The query runs on its own goroutine, under its own deadline, so that
	// callers whose contexts end can leave without cancelling it for the
	// others; it always ends within Config.Timeout.
	go r.resolve(k, c)
	return p
}

// wait returns p's result, or ctx's error if ctx ends first.
func (r *Resolver) wait(ctx context.Context, p *pending) (*result, error) {
	res := p.res
	outcome := "hit"
	if res == nil {
		select {
		case <-p.c.done:
		case <-ctx.Done():
			select {
			case <-p.c.done: // both ready: the answer is more useful
			default:
				r.report(p, ctxOutcome(ctx.Err()))
				return nil, ctx.Err()
			}
		}
		res = p.c.res
		outcome = "coalesced"
		if p.leader {
			outcome = res.kind.outcome()
		}
	}
	r.report(p, outcome)
	return res, nil
}

func (r *Resolver) report(p *pending, outcome string) {
	if r.observe == nil {
		return
	}
	r.observe(dns.TypeToString[p.k.qtype], outcome, time.Since(p.start))
}

// resolve runs the query for k, caches its result and hands it to every
// caller waiting on c.
func (r *Resolver) resolve(k key, c *call) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	if !r.slots.acquire(ctx) {
		cancel()
		// Not cached: the name is not at fault, and the next caller
		// may find a slot.
		r.stats.saturated.Add(1)
		r.flight.finish(k, c, &result{kind: kindSaturated,
			detail: fmt.Sprintf("resolver saturated: %d queries in flight (max_in_flight)", r.slots.inFlight())})
		return
	}
	res := r.exchange(ctx, k)
	r.slots.release()
	cancel()
	ttl := res.ttl
	switch res.kind {
	case kindTimeout:
		r.stats.timeouts.Add(1)
		r.stats.errors.Add(1)
		ttl = r.failTTL
	case kindServFail, kindError:
		r.stats.errors.Add(1)
		ttl = r.failTTL
	}
	if ttl > 0 {
		r.cache.put(k, res, time.Now().Add(ttl))
	}
	r.flight.finish(k, c, res)
}

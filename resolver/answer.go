package resolver

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEHops bounds how many CNAMEs are followed before an answer is
// called malformed. Real chains are one or two links; the bound turns a
// loop (a → b → a) into an error instead of a spin.
const maxCNAMEHops = 8

// interpret turns a response that passed validResponse into a result.
func (r *Resolver) interpret(resp *dns.Msg, server string) *result {
	q := resp.Question[0]
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return &result{kind: kindNotFound, server: server, ttl: r.negativeTTL(resp)}
	default:
		// RFC 2308 §7.1 calls SERVFAIL a server failure, not a statement
		// about the name; REFUSED and the rest say as little about it.
		return &result{kind: kindServFail, server: server,
			detail: "server misbehaving (" + dns.RcodeToString[resp.Rcode] + ")"}
	}
	rrs, ttl, err := chase(resp.Answer, q.Name, q.Qtype)
	if err != "" {
		return &result{kind: kindError, server: server, detail: err}
	}
	if len(rrs) == 0 {
		// NODATA: the name exists without records of this type
		// (RFC 2308 §2.2), including a CNAME chain that ends in one.
		return &result{kind: kindNotFound, server: server, ttl: r.negativeTTL(resp)}
	}
	res := &result{kind: kindAnswer, server: server, ttl: r.clamp(ttl)}
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if ip := rr.A.To4(); ip != nil {
				res.ips = append(res.ips, ip)
			}
		case *dns.AAAA:
			if ip := rr.AAAA.To16(); ip != nil && rr.AAAA.To4() == nil {
				res.ips = append(res.ips, ip)
			}
		case *dns.PTR:
			if validTarget(rr.Ptr) {
				res.names = append(res.names, rr.Ptr)
			}
		case *dns.MX:
			if validTarget(rr.Mx) {
				res.mxs = append(res.mxs, net.MX{Host: rr.Mx, Pref: rr.Preference})
			}
		}
	}
	if len(res.ips)+len(res.names)+len(res.mxs) == 0 {
		// Records were there but none was usable (an AAAA holding a
		// mapped IPv4, a PTR with escapes): say so rather than pretend
		// the name has none. It is what the zone says, so it is cached
		// like an answer and reported as permanent, not temporary.
		return &result{kind: kindMalformed, server: server, ttl: r.clamp(ttl),
			detail: "DNS response contained records which contain invalid names or addresses"}
	}
	// RFC 5321 §5.1: lower preference first. The order among equal
	// preferences is the server's; the relay, not this package, picks.
	slices.SortStableFunc(res.mxs, func(a, b net.MX) int { return int(a.Pref) - int(b.Pref) })
	return res
}

// chase follows the CNAME chain for qname in an answer section and returns
// the records of type qtype owned by the final name, with the smallest TTL
// along the way (a cached answer must not outlive any link, RFC 2181
// §5.2). No records and no error means NODATA. A recursive server puts the
// whole chain in the answer (RFC 1034 §4.3.2 step 3a), so no further query
// is needed.
func chase(answer []dns.RR, qname string, qtype uint16) (rrs []dns.RR, ttl uint32, err string) {
	name := qname
	ttl = ^uint32(0)
	for hops := 0; ; hops++ {
		var cname *dns.CNAME
		for _, rr := range answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				rrs = append(rrs, rr)
				ttl = min(ttl, h.Ttl)
			case h.Rrtype == dns.TypeCNAME && cname == nil:
				cname = rr.(*dns.CNAME)
			}
		}
		if len(rrs) > 0 || cname == nil {
			return rrs, ttl, ""
		}
		if hops == maxCNAMEHops {
			return nil, 0, "CNAME chain too long or looping at " + name
		}
		ttl = min(ttl, cname.Hdr.Ttl)
		name = cname.Target
	}
}

// clamp bounds a positive TTL (seconds) to [MinTTL, MaxTTL].
func (r *Resolver) clamp(ttl uint32) time.Duration {
	return min(max(time.Duration(ttl)*time.Second, r.minTTL), r.maxTTL)
}

// negativeTTL is how long to cache NXDOMAIN or NODATA: per RFC 2308 §5 the
// lesser of the SOA's own TTL and its MINIMUM field, capped by
// NegativeTTL; MinTTL if the server sent no SOA (RFC 2308 §5 says not to
// cache then, but a floor keeps a flood of lookups for one bad name off
// the upstream).
func (r *Resolver) negativeTTL(resp *dns.Msg) time.Duration {
	floor := min(r.minTTL, r.negTTL)
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl := time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			return min(max(ttl, floor), r.negTTL)
		}
	}
	return floor
}

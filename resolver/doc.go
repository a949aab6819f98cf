// Package resolver is the gateway's DNS client: a stub resolver built on
// github.com/miekg/dns that asks the configured recursive servers for A,
// AAAA, PTR and MX records.
//
// It owns the mechanics of asking: the transport (UDP with EDNS0, TCP when
// an answer is truncated, RFC 7766), the order and time budget of attempts
// across servers, the checks that a response answers the question that was
// sent (RFC 5452 §9), following CNAME chains (RFC 1034 §3.6.2), caching of
// positive answers and of negative ones by the SOA minimum (RFC 2308 §5),
// coalescing of identical queries in flight, a bound on the queries
// outstanding at once (Config.MaxInFlight: past it a query fails at once
// as temporary instead of queueing), and counters for metrics.
// Memo adds a per-SMTP-session layer on top: one lookup per name and type
// for the lifetime of a session.
//
// It does not decide anything about mail. What a missing PTR or a
// mismatched forward lookup means is heloguard's policy; this package only
// reports what DNS said, using the error contract of *net.Resolver so the
// two are interchangeable:
//
//   - NXDOMAIN and NODATA: *net.DNSError with IsNotFound set;
//   - SERVFAIL, REFUSED, timeouts, network errors, malformed responses,
//     and a query not sent because Config.MaxInFlight queries were out:
//     *net.DNSError with IsTemporary set (and IsTimeout for timeouts; the
//     last unwraps to ErrSaturated);
//   - an answer whose records are all unusable (a PTR that is not a host
//     name): a permanent *net.DNSError, neither temporary nor not-found
//     (as *net.Resolver reports invalid names), unwrapping to ErrMalformed;
//   - a context that ends: a temporary *net.DNSError that unwraps to
//     ctx.Err().
//
// Names are always absolute: the resolv.conf search list is not applied,
// because every name the gateway looks up (a HELO argument, a PTR target, a
// mail domain) arrives from the wire already fully qualified.
//
// The package keeps no global state: every Resolver is built by New from a
// Config and owns its cache. Goroutines it starts end within Config.Timeout.
package resolver

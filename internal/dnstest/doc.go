// Package dnstest is an in-process authoritative DNS server for tests,
// benchmarks and the load harness: real UDP and TCP packets on loopback,
// served by github.com/miekg/dns, from records a test adds at run time.
//
// It owns a small, mutable zone and a set of fault injections per name:
// answer with an error rcode (Fail), answer late (Delay), never answer
// (Drop), or set the TC bit over UDP so the client must retry over TCP
// (Truncate). It counts the queries it sees per (name, type) and in all
// (Total), which is how tests prove caching, coalescing and query budgets.
//
// It answers like an authoritative server for every name it is given:
// NXDOMAIN for names it does not know, NODATA (NOERROR, empty answer, an
// SOA in the authority section whose MINIMUM is the TTL, RFC 2308 §3) for
// known names without the type asked for, and CNAME chains followed within
// its own data, as RFC 1034 §4.3.2 asks of an authoritative server. It
// does not recurse, sign, transfer zones or implement wildcards; it is not
// meant to face anything but loopback.
//
// Start gives a server bound to a test's lifetime; Listen and Close give
// one for a long-running process.
package dnstest

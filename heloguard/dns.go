package heloguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// Resolver is the part of DNS heloguard needs. *net.Resolver satisfies
// it, as does the gateway's resolver package; tests use a map.
//
// Error contract: "no such name" and "no records of that type" are an
// error e with errors.As(e, &dnsErr) and dnsErr.IsNotFound (what
// *net.Resolver returns for NXDOMAIN and NODATA), or an empty answer with
// a nil error. An answer whose records are not valid names is permanent:
// an error that is not temporary and unwraps to one with a Malformed()
// bool method returning true (package resolver's ErrMalformed), or
// carries *net.Resolver's text for it; names returned beside such an
// error are used. Every other error (timeout, SERVFAIL, REFUSED, the
// context ending, a resolver too busy to ask: Saturated() true) is
// temporary and makes the check that needed the answer a TempError.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error) // PTR; names may carry a trailing dot
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// maxPTRNames bounds the PTR names kept and followed: a client's PTR set
// is chosen by the client's network, and each name followed costs a
// lookup.
const maxPTRNames = 10

// outcome is how a lookup ended.
type outcome uint8

const (
	found     outcome = iota // at least one record
	notFound                 // NXDOMAIN or NODATA
	temporary                // anything else; reason says what
)

// Temporary-failure reasons, shared by every DNS check.
const (
	reasonServfail = "servfail"
	reasonTimeout  = "timeout"
	reasonCanceled = "canceled"
	// reasonBusy: the gateway's own resolver had too many queries out
	// (an error with a Saturated() bool method returning true).
	reasonBusy = "busy"
)

// reasonMalformed is why a lookup is notFound when its answer held
// records none of which was a valid name: permanent, like NXDOMAIN.
const reasonMalformed = "malformed"

// netMalformed is the text *net.Resolver gives an answer with invalid
// names (its errMalformedDNSRecordsDetail), not temporary.
const netMalformed = "DNS response contained records which contain invalid names"

// classify maps a lookup's error (and answer count) to an outcome and,
// for temporary failures, a reason.
func classify(n int, err error) (outcome, string) {
	if err == nil {
		if n == 0 {
			return notFound, ""
		}
		return found, ""
	}
	var de *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return temporary, reasonCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return temporary, reasonTimeout
	case errors.As(err, &de) && de.IsNotFound:
		return notFound, ""
	case errors.As(err, &de) && de.IsTimeout:
		return temporary, reasonTimeout
	case saturated(err):
		return temporary, reasonBusy
	case malformed(err):
		if n > 0 {
			return found, "" // the valid names, the invalid ones dropped
		}
		return notFound, reasonMalformed
	}
	return temporary, reasonServfail
}

// saturated reports whether err says the query was never sent because
// the resolver had too many out (package resolver's ErrSaturated).
func saturated(err error) bool {
	var s interface{ Saturated() bool }
	return errors.As(err, &s) && s.Saturated()
}

// malformed reports whether err says the answer's records were not valid
// names: a permanent fact about the zone, not a failure to ask.
func malformed(err error) bool {
	var m interface{ Malformed() bool }
	if errors.As(err, &m) && m.Malformed() {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de) && !de.IsTemporary && strings.HasPrefix(de.Err, netMalformed)
}

// ctxReason is the temporary reason for a lookup the context cut short.
func ctxReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return reasonCanceled
	}
	return reasonTimeout
}

// ipLookup is one A/AAAA lookup in flight. addrs, out and why are written
// before done is closed and read only after.
type ipLookup struct {
	host  string
	done  chan struct{}
	addrs []netip.Addr
	out   outcome
	why   string
}

func startIP(ctx context.Context, r Resolver, host string) *ipLookup {
	l := &ipLookup{host: host, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		ips, err := r.LookupIPAddr(ctx, host)
		l.out, l.why = classify(len(ips), err)
		if l.out != found {
			return
		}
		l.addrs = make([]netip.Addr, 0, len(ips))
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				l.addrs = append(l.addrs, a.Unmap())
			}
		}
		if len(l.addrs) == 0 {
			l.out = notFound
		}
	}()
	return l
}

// wait waits for the lookup or the context; a lookup the context cut
// short is temporary.
func (l *ipLookup) wait(ctx context.Context) (outcome, string) {
	if !waitDone(ctx, l.done) {
		return temporary, ctxReason(ctx)
	}
	return l.out, l.why
}

// has reports whether the lookup (already waited for) found a.
func (l *ipLookup) has(a netip.Addr) bool {
	for _, x := range l.addrs {
		if x == a {
			return true
		}
	}
	return false
}

// mxLookup is the MX lookup of the HELO name in flight.
type mxLookup struct {
	done  chan struct{}
	hosts []string
	out   outcome
	why   string
}

func startMX(ctx context.Context, r Resolver, domain string) *mxLookup {
	l := &mxLookup{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		mxs, err := r.LookupMX(ctx, domain)
		l.out, l.why = classify(len(mxs), err)
		for _, mx := range mxs {
			if mx != nil && len(l.hosts) < maxPTRNames {
				l.hosts = append(l.hosts, printable(mx.Host, maxLogName))
			}
		}
	}()
	return l
}

func (l *mxLookup) wait(ctx context.Context) (outcome, string) {
	if !waitDone(ctx, l.done) {
		return temporary, ctxReason(ctx)
	}
	return l.out, l.why
}

// ptrLookup is the PTR lookup of the client's address in flight, and
// then, when follow is set, the A/AAAA lookups of its names (for fcrdns).
type ptrLookup struct {
	done    chan struct{}
	names   []string    // normalized, valid, distinct, at most maxPTRNames
	invalid int         // PTR names dropped as not valid host names
	fwd     []*ipLookup // parallel to names when following
	out     outcome
	why     string
}

// startPTR looks up the PTR of ip and, if follow, the addresses of each
// name it finds. A name equal to the HELO name reuses heloA, so no name is
// looked up twice in one evaluation.
func startPTR(ctx context.Context, r Resolver, ip netip.Addr, follow bool, heloA *ipLookup) *ptrLookup {
	l := &ptrLookup{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		names, err := r.LookupAddr(ctx, ip.String())
		l.out, l.why = classify(len(names), err)
		if l.why == reasonMalformed {
			l.invalid++ // PTR records there, none a host name
		}
		if l.out != found {
			return
		}
		for _, raw := range names {
			n, ok := normalizeDomain(raw)
			if !ok {
				l.invalid++
				continue
			}
			if len(l.names) == maxPTRNames || contains(l.names, n) {
				continue
			}
			l.names = append(l.names, n)
		}
		if len(l.names) == 0 {
			l.out = notFound
			return
		}
		if !follow {
			return
		}
		l.fwd = make([]*ipLookup, len(l.names))
		for i, n := range l.names {
			if heloA != nil && heloA.host == n {
				l.fwd[i] = heloA
			} else {
				l.fwd[i] = startIP(ctx, r, n)
			}
		}
	}()
	return l
}

func (l *ptrLookup) wait(ctx context.Context) (outcome, string) {
	if !waitDone(ctx, l.done) {
		return temporary, ctxReason(ctx)
	}
	return l.out, l.why
}

// waitDone waits for done or the end of ctx, preferring done when both
// are ready so that a finished answer is never thrown away.
func waitDone(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

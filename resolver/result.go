package resolver

import (
	"context"
	"errors"
	"net"
	"time"
)

// kind classifies what one (name, type) query produced.
type kind uint8

const (
	kindAnswer    kind = iota // records of the type asked for
	kindNotFound              // NXDOMAIN or NODATA (RFC 2308 §1)
	kindServFail              // SERVFAIL, REFUSED or another error rcode
	kindTimeout               // no answer within the budget
	kindError                 // network error or malformed answer
	kindSaturated             // not sent: Config.MaxInFlight queries were out
)

// outcome is the name of a kind as Config.Observe reports it for the
// caller that sent the query.
func (k kind) outcome() string {
	switch k {
	case kindAnswer:
		return "miss"
	case kindNotFound:
		return "nxdomain"
	case kindServFail:
		return "servfail"
	case kindTimeout:
		return "timeout"
	case kindSaturated:
		return "saturated"
	}
	return "error"
}

// result is the outcome of one (name, type) query: what the cache stores
// and coalesced callers share. It is immutable once built; lookups copy
// out of it, so no caller can change what another sees.
type result struct {
	kind   kind
	ips    []net.IP // A, AAAA: 4- or 16-byte addresses
	names  []string // PTR targets, absolute
	mxs    []net.MX // MX, sorted by preference
	detail string   // for temporary failures: what went wrong
	server string   // the server that gave the final answer or failure
	ttl    time.Duration
}

// errNoSuchHost is the text *net.Resolver uses for NXDOMAIN and NODATA;
// callers may compare it.
const errNoSuchHost = "no such host"

// err turns a failed result into the error *net.Resolver would return for
// name, or nil for an answer. The error is built per call so that Name is
// what this caller asked for, whatever spelling the cache holds.
func (r *result) err(name string) error {
	switch r.kind {
	case kindAnswer:
		return nil
	case kindNotFound:
		return &net.DNSError{Err: errNoSuchHost, Name: name, Server: r.server, IsNotFound: true}
	case kindTimeout:
		return &net.DNSError{Err: r.detail, Name: name, Server: r.server, IsTimeout: true, IsTemporary: true}
	}
	return &net.DNSError{Err: r.detail, Name: name, Server: r.server, IsTemporary: true}
}

// ctxError is the error for a caller whose context ended first. Like
// *net.Resolver's, it is temporary and unwraps to the context's error, so
// errors.Is(err, context.DeadlineExceeded) works.
func ctxError(err error, name string) error {
	return &net.DNSError{
		UnwrapErr:   err,
		Err:         err.Error(),
		Name:        name,
		IsTimeout:   errors.Is(err, context.DeadlineExceeded),
		IsTemporary: true,
	}
}

// ctxOutcome is the Observe outcome of a caller whose context ended.
func ctxOutcome(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

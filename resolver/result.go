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
	kindMalformed             // records of the type, none usable (a PTR that is not a host name)
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
	case kindMalformed:
		return "malformed"
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

// ErrMalformed is what the error of a lookup unwraps to when the answer
// had records of the type asked for but none usable: a PTR or MX target
// that is not a host name, an AAAA holding a mapped IPv4 address. Such an
// answer is permanent, not a temporary failure. Its Malformed method lets
// packages that must not import this one (heloguard) recognise it.
var ErrMalformed error = malformedError{}

type malformedError struct{}

func (malformedError) Error() string   { return "malformed answer" }
func (malformedError) Malformed() bool { return true }

// ErrSaturated is what the error of a lookup unwraps to when it was not
// sent because Config.MaxInFlight queries were out: a temporary failure of
// ours, not of DNS. Its Saturated method lets packages that must not
// import this one (heloguard) tell it apart.
var ErrSaturated error = saturatedError{}

type saturatedError struct{}

func (saturatedError) Error() string   { return "resolver saturated" }
func (saturatedError) Saturated() bool { return true }

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
	case kindSaturated:
		return &net.DNSError{Err: r.detail, Name: name, Server: r.server, IsTemporary: true, UnwrapErr: ErrSaturated}
	case kindMalformed:
		// Permanent: the zone holds these records, asking again gets
		// them again. Neither temporary nor not-found, as *net.Resolver
		// reports "records which contain invalid names".
		return &net.DNSError{Err: r.detail, Name: name, Server: r.server, UnwrapErr: ErrMalformed}
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

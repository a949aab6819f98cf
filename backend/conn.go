package backend

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
)

// Conn is what a session needs of its client connection: facts the
// listener guard learnt on the byte stream, and the few things the
// session tells it back. listener.Conn implements it; NewSession refuses
// a connection that does not. Every fact is the guard's, because go-smtp
// either never sees it (TLS is done by the guard) or normalizes it away.
type Conn interface {
	// ID is the connection's id, as it appears in logs and Received headers.
	ID() string
	// Client is the client's address: the real one, after a PROXY header.
	Client() netip.AddrPort
	// Logger is the connection's logger (conn, listener, client_ip).
	Logger() *slog.Logger
	// TLS is the TLS state, nil while the connection is plaintext. TLS
	// starts at most once per connection (a second STARTTLS is refused),
	// so a change from nil tells the session that everything learnt
	// before must be forgotten (RFC 3207 §4.2).
	TLS() *tls.ConnectionState
	// Greeting is the verb of the last HELO/EHLO and how many the client
	// sent so far: go-smtp calls Reset for a second greeting as for RSET,
	// and a changed count is how the session tells them apart.
	Greeting() (verb string, count int)
	// RcptArgument is what followed "RCPT TO:" on the RCPT command being
	// answered, as the client sent it: go-smtp hands Rcpt the address
	// with the forms address.Check looks for already normalized away.
	RcptArgument() string
	// DotCRLine is the line of the DATA just read where a line began with
	// a dot and a bare CR, which go-smtp's dot reader drops silently; 0
	// if none.
	DotCRLine() int

	// SetAuthenticated records a successful AUTH (STARTTLS is refused after it).
	SetAuthenticated()
	// SetInTransaction tells whether a mail transaction is open, so that
	// a drain leaves it to finish.
	SetInTransaction(bool)
	// SetCommitting marks the time between the client's end of data and
	// our reply to it, when the connection must not be cut.
	SetCommitting(bool)
	// Annotate adds key/value attributes to the disconnect log line.
	Annotate(args ...any)
}

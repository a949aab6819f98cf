package downstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// TLSMode is how the gateway secures a connection to a downstream. It is
// the one enum of relay's delivery and auth's password check.
type TLSMode string

// TLS modes towards a downstream. The first three are the values of
// [relay] tls; TLSImplicit is what an smtps:// URL means.
const (
	TLSNone          TLSMode = "none"          // plain text, STARTTLS never tried
	TLSOpportunistic TLSMode = "opportunistic" // STARTTLS when offered, plain text otherwise (RFC 7435)
	TLSRequired      TLSMode = "required"      // STARTTLS or no connection (RFC 3207)
	TLSImplicit      TLSMode = "implicit"      // TLS from the first byte (RFC 8314 §3.3)
)

// Errors of StartTLS, inside a *StepError.
var (
	// ErrNotOffered: TLSRequired, but the EHLO reply did not list
	// STARTTLS (or EHLO was refused with 500 or 502).
	ErrNotOffered = errors.New("STARTTLS not offered")
	// ErrDataAfterReply: the server sent bytes after the reply that
	// should have been its last in plain text. After the 220 to STARTTLS
	// they would be read as if they came through TLS (the command
	// injection of CVE-2011-0411, in reverse).
	ErrDataAfterReply = errors.New("data after the reply")
	// ErrHandshake marks a failed TLS handshake: errors.Is finds it in
	// a *HandshakeError.
	ErrHandshake = errors.New("TLS handshake failed")
)

// HandshakeError is a failed TLS handshake after STARTTLS.
type HandshakeError struct{ Err error }

func (e *HandshakeError) Error() string        { return ErrHandshake.Error() + ": " + e.Err.Error() }
func (e *HandshakeError) Unwrap() error        { return e.Err }
func (e *HandshakeError) Is(target error) bool { return target == ErrHandshake }

// StepError says which step of StartTLS failed: "greeting", "EHLO",
// "STARTTLS". Err is the server's reply (a *textproto.Error), an I/O
// error, ErrNotOffered, ErrDataAfterReply, or a *HandshakeError.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// replayGreeting is what the returned connection gives go-smtp's client
// in place of the greeting the server sent before. It never crosses the
// wire.
const replayGreeting = "220 replayed greeting\r\n"

// StartTLS speaks the plain-text start of an SMTP session itself —
// greeting, "EHLO helo", and STARTTLS when offered — then the TLS
// handshake with conf (RFC 3207), and returns the connection with a
// stand-in greeting in front, ready for go-smtp's smtp.NewClient, which
// then says EHLO again as RFC 3207 §4.2 requires after TLS.
//
// go-smtp's client cannot be told to say STARTTLS only when offered, and
// its NewClientStartTLS sends EHLO "localhost" before TLS, which a
// downstream checking HELO names would refuse; hence this, once for relay
// and auth.
//
// mode is TLSOpportunistic or TLSRequired. With TLSOpportunistic, a
// server that does not offer STARTTLS, or refuses it with a reply, is
// used in plain text: the returned connection (secured false) continues
// after the EHLO reply. A failed handshake is an error in both modes
// (wrapping ErrHandshake): the connection is spent, and whether to try
// again in plain text is the caller's choice. timeout, when positive,
// bounds each read and write of the plain-text part.
func StartTLS(ctx context.Context, conn net.Conn, helo string, conf *tls.Config, mode TLSMode, timeout time.Duration) (_ net.Conn, secured bool, err error) {
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
		defer conn.SetDeadline(time.Time{})
	}
	br := bufio.NewReader(conn)
	r := textproto.NewReader(br)
	w := textproto.NewWriter(bufio.NewWriter(conn))
	if _, _, err := r.ReadResponse(220); err != nil {
		return nil, false, &StepError{"greeting", err}
	}
	if err := w.PrintfLine("EHLO %s", helo); err != nil {
		return nil, false, &StepError{"EHLO", err}
	}
	offered := false
	_, msg, err := r.ReadResponse(250)
	var te *textproto.Error
	switch {
	case err == nil:
		offered = HasExtension(msg, "STARTTLS")
	case errors.As(err, &te) && (te.Code == 500 || te.Code == 502):
		// No EHLO, so no STARTTLS; go-smtp's client falls back to HELO.
	default:
		return nil, false, &StepError{"EHLO", err}
	}
	plain := func() (net.Conn, bool, error) {
		if br.Buffered() > 0 {
			return nil, false, &StepError{"EHLO", ErrDataAfterReply}
		}
		return &replayConn{Conn: conn, pending: []byte(replayGreeting)}, false, nil
	}
	if !offered {
		if mode == TLSRequired {
			return nil, false, &StepError{"STARTTLS", ErrNotOffered}
		}
		return plain()
	}
	if err := w.PrintfLine("STARTTLS"); err != nil {
		return nil, false, &StepError{"STARTTLS", err}
	}
	if _, _, err := r.ReadResponse(220); err != nil {
		if mode == TLSRequired || !errors.As(err, &te) {
			return nil, false, &StepError{"STARTTLS", err}
		}
		return plain() // refused (454): carry on in clear
	}
	if br.Buffered() > 0 {
		return nil, false, &StepError{"STARTTLS", ErrDataAfterReply}
	}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, &StepError{"STARTTLS", &HandshakeError{err}}
	}
	return &replayConn{Conn: tc, pending: []byte(replayGreeting)}, true, nil
}

// HasExtension reports whether an EHLO reply (its lines after the first:
// keyword and parameters, RFC 5321 §4.1.1.1) lists keyword.
func HasExtension(msg, keyword string) bool {
	lines := strings.Split(msg, "\n")
	for _, line := range lines[1:] {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// replayConn returns pending before reading the connection.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

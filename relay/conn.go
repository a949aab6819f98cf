package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// conn is one SMTP connection to the downstream.
type conn struct {
	raw       net.Conn // the TCP connection: deadlines and forced close
	w         net.Conn // what client writes to (raw, or TLS over it): DATA goes here in bulk
	client    *smtp.Client
	buf       []byte    // DATA copy buffer, reused by every transaction
	stuffed   []byte    // dot-stuffing scratch, reused likewise
	idleSince time.Time // when it went back to the pool
}

// errTLSHandshake marks a failed STARTTLS handshake, after which an
// opportunistic target tries again in plain text.
var errTLSHandshake = errors.New("TLS handshake failed")

// connect opens a connection ready for MAIL: TCP, TLS as configured,
// greeting and EHLO. In opportunistic mode a failed STARTTLS handshake is
// followed by one plain-text attempt: many legacy servers offer STARTTLS
// with TLS versions or ciphers Go no longer speaks (RFC 7435 §6: prefer
// delivery in clear to none).
func (t *SMTPTarget) connect(ctx context.Context) (*conn, error) {
	cn, err := t.connectOnce(ctx, t.cfg.StartTLS != StartTLSNone)
	if err != nil && errors.Is(err, errTLSHandshake) && t.cfg.StartTLS == StartTLSOpportunistic && ctx.Err() == nil {
		t.observe("starttls_fallback")
		cn, err = t.connectOnce(ctx, false)
	}
	if err != nil {
		t.observe("dial_error")
		return nil, err
	}
	t.observe("dial")
	return cn, nil
}

func (t *SMTPTarget) connectOnce(ctx context.Context, startTLS bool) (_ *conn, err error) {
	dctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	raw, err := t.dial(dctx, "tcp", t.cfg.Address)
	if err != nil {
		return nil, opError(ctx, "connect", err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer func() {
		if !stop() && err == nil {
			err = opError(ctx, "greeting", ctx.Err())
		}
		if err != nil {
			raw.Close()
		}
	}()

	var nc net.Conn = raw
	switch {
	case t.cfg.ImplicitTLS:
		tc := tls.Client(raw, t.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, opError(ctx, "TLS handshake", err)
		}
		nc = tc
	case startTLS:
		if nc, err = t.startTLS(dctx, raw); err != nil {
			return nil, err
		}
	}

	c := smtp.NewClient(nc)
	c.CommandTimeout = t.cfg.CommandTimeout
	c.SubmissionTimeout = t.cfg.DataTimeout
	if err := c.Hello(t.cfg.HeloName); err != nil {
		return nil, opError(ctx, "greeting", replyText(err))
	}
	cn := &conn{raw: raw, w: nc, client: c, buf: make([]byte, dataBufSize), stuffed: make([]byte, 0, dataBufSize+dataBufSize/4)}
	t.learn(cn)
	return cn, nil
}

// startTLS reads the greeting, says EHLO and, when STARTTLS is offered,
// starts TLS (RFC 3207). go-smtp v0.25's client cannot be told to say
// STARTTLS only when offered, so this part is done by hand; the connection
// returned replays a greeting for the client, which then says EHLO again
// as RFC 3207 §4.2 requires after TLS.
func (t *SMTPTarget) startTLS(ctx context.Context, raw net.Conn) (net.Conn, error) {
	required := t.cfg.StartTLS == StartTLSRequired
	text := textproto.NewConn(raw) // not closed: that would close raw
	raw.SetDeadline(time.Now().Add(t.cfg.CommandTimeout))
	defer raw.SetDeadline(time.Time{})

	if _, _, err := text.ReadResponse(220); err != nil {
		return nil, opError(ctx, "greeting", replyText(err))
	}
	offered := false
	_, msg, err := command(text, 250, "EHLO "+t.cfg.HeloName)
	switch {
	case err == nil:
		for _, line := range strings.Split(msg, "\n")[1:] {
			if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
				offered = true
			}
		}
	case isCode(err, 500, 502):
		// No EHLO, so no STARTTLS; the client falls back to HELO.
	default:
		return nil, opError(ctx, "EHLO", replyText(err))
	}
	if !offered {
		if required {
			return nil, opError(ctx, "STARTTLS", errors.New("required but not offered by the downstream"))
		}
		return plainReplay(text, raw)
	}
	if _, _, err := command(text, 220, "STARTTLS"); err != nil {
		if required || !isReply(err) {
			return nil, opError(ctx, "STARTTLS", replyText(err))
		}
		return plainReplay(text, raw) // refused (454): carry on in clear
	}
	// Bytes after the 220 would have been sent before TLS by someone in
	// the path and must not be read as if protected (RFC 3207 §6).
	if text.R.Buffered() > 0 {
		return nil, opError(ctx, "STARTTLS", errors.New("data after the 220 reply"))
	}
	tc := tls.Client(raw, t.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, opError(ctx, "STARTTLS", fmt.Errorf("%w: %w", errTLSHandshake, err))
	}
	t.observe("starttls")
	return &replayConn{Conn: tc, pending: []byte(replayGreeting)}, nil
}

// replayGreeting is what replayConn gives the go-smtp client in place of
// the greeting the downstream sent before.
const replayGreeting = "220 replayed greeting\r\n"

// plainReplay hands the plain connection on after EHLO; nothing may be
// left unread.
func plainReplay(text *textproto.Conn, raw net.Conn) (net.Conn, error) {
	if text.R.Buffered() > 0 {
		return nil, unavailable("EHLO", errors.New("unexpected data after the reply"))
	}
	return &replayConn{Conn: raw, pending: []byte(replayGreeting)}, nil
}

// command sends one command line and reads its reply.
func command(text *textproto.Conn, expect int, line string) (int, string, error) {
	id, err := text.Cmd("%s", line)
	if err != nil {
		return 0, "", err
	}
	text.StartResponse(id)
	defer text.EndResponse(id)
	return text.ReadResponse(expect)
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

// watch closes the connection if ctx ends before the returned stop is
// called; stop reports whether the connection is still intact.
func (cn *conn) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { cn.raw.Close() })
}

// close drops the connection at once, without QUIT: used when the
// transaction on it must not complete, the socket is broken or the
// downstream said 421.
func (cn *conn) close() {
	cn.raw.Close()
}

// quit ends the connection politely (RFC 5321 §4.1.1.10), waiting at most
// timeout for the reply.
func (cn *conn) quit(timeout time.Duration) {
	cn.client.CommandTimeout = timeout
	cn.client.Quit()
	cn.raw.Close()
}

// quitAll quits connections in parallel, so it takes one timeout at most.
func quitAll(conns []*conn, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, cn := range conns {
		wg.Go(func() { cn.quit(timeout) })
	}
	wg.Wait()
}

// has reports whether the downstream advertised an EHLO keyword.
func (cn *conn) has(ext string) bool {
	ok, _ := cn.client.Extension(ext)
	return ok
}

// opError wraps err in ErrUnavailable, adding ctx's error when ctx ended
// (that is then the cause of a closed connection).
func opError(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %s: %w (%w)", ErrUnavailable, op, cerr, err)
	}
	return unavailable(op, err)
}

// replyText turns a reply error into a plain error with the reply's text,
// so that a greeting refusal or a 421 is not mistaken by the caller for a
// refusal of the message it could pass on.
func replyText(err error) error {
	if r, ok := fromSMTPError(err); ok {
		return errors.New(r.String())
	}
	return err
}

// isReply reports whether err is a reply of the downstream.
func isReply(err error) bool {
	_, ok := fromSMTPError(err)
	return ok
}

// isCode reports whether err is a reply with one of the codes.
func isCode(err error, codes ...int) bool {
	r, ok := fromSMTPError(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if r.Code == c {
			return true
		}
	}
	return false
}

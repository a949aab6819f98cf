package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
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
var errTLSHandshake = downstream.ErrHandshake

// connect opens a connection ready for MAIL: TCP, TLS as configured,
// greeting and EHLO. In opportunistic mode a failed STARTTLS handshake is
// followed by one plain-text attempt: many legacy servers offer STARTTLS
// with TLS versions or ciphers Go no longer speaks (RFC 7435 §6: prefer
// delivery in clear to none).
func (t *SMTPTarget) connect(ctx context.Context) (*conn, error) {
	cn, err := t.connectOnce(ctx, t.cfg.StartTLS != downstream.TLSNone)
	if err != nil && errors.Is(err, errTLSHandshake) && t.cfg.StartTLS == downstream.TLSOpportunistic && ctx.Err() == nil {
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

// startTLS runs downstream.StartTLS (greeting, EHLO, STARTTLS when
// offered, the handshake) and puts its errors in this package's terms.
func (t *SMTPTarget) startTLS(ctx context.Context, raw net.Conn) (net.Conn, error) {
	nc, secured, err := downstream.StartTLS(ctx, raw, t.cfg.HeloName, t.tlsConf, t.cfg.StartTLS, t.cfg.CommandTimeout)
	var se *downstream.StepError
	switch {
	case err == nil:
		if secured {
			t.observe("starttls")
		}
		return nc, nil
	case !errors.As(err, &se):
		return nil, opError(ctx, "STARTTLS", err)
	case errors.Is(err, downstream.ErrNotOffered):
		return nil, opError(ctx, "STARTTLS", errors.New("required but not offered by the downstream"))
	case errors.Is(err, downstream.ErrDataAfterReply) && se.Step == "EHLO":
		return nil, unavailable("EHLO", errors.New("unexpected data after the reply"))
	case errors.Is(err, downstream.ErrDataAfterReply):
		return nil, opError(ctx, "STARTTLS", errors.New("data after the 220 reply"))
	case errors.Is(err, downstream.ErrHandshake):
		return nil, opError(ctx, "STARTTLS", se.Err) // "TLS handshake failed: ..."
	}
	return nil, opError(ctx, se.Step, replyText(se.Err))
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

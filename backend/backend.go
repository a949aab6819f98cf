package backend

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/reply"
)

// verdictTimeout bounds one HELO evaluation, DNS lookups included.
const verdictTimeout = 10 * time.Second

// Listener describes the listener a Backend serves.
type Listener struct {
	Name              string
	Kind              string // a config.Kind: config.KindMX, config.KindSubmission or config.KindSubmissions
	AuthEnabled       bool
	AllowInsecureAuth bool // lab only: AUTH without TLS
}

// submission reports whether the listener requires AUTH before MAIL.
func (l Listener) submission() bool { return !l.mx() }

// mx reports whether the listener takes mail from anyone, for our
// domains only.
func (l Listener) mx() bool { return config.Kind(l.Kind) == config.KindMX }

// Backend creates the sessions of one listener.
type Backend struct {
	env     *Holder
	lis     Listener
	log     *slog.Logger
	metrics Metrics
	rates   *rateWindow
}

// New returns the Backend of one listener. env is shared by all listeners
// so that a reload reaches them all.
func New(env *Holder, lis Listener, log *slog.Logger, m Metrics) *Backend {
	if m == nil {
		m = nopMetrics{}
	}
	return &Backend{env: env, lis: lis, log: log, metrics: m, rates: newRateWindow()}
}

// ServerOptions are the go-smtp server settings main takes from [limits].
type ServerOptions struct {
	Hostname        string
	MaxMessageBytes int64
	MaxRecipients   int
	WriteTimeout    time.Duration
}

// NewServer returns the go-smtp server of a listener. TLS is done by
// package listener, below go-smtp, so go-smtp never sees a certificate:
// AUTH is offered or refused by the session, which knows the TLS state.
func NewServer(b *Backend, o ServerOptions) *smtp.Server {
	s := smtp.NewServer(b)
	s.Domain = o.Hostname
	s.MaxMessageBytes = o.MaxMessageBytes
	s.MaxRecipients = o.MaxRecipients
	s.WriteTimeout = o.WriteTimeout
	s.ReadTimeout = 0   // listener.Conn owns read deadlines
	s.MaxLineLength = 0 // listener.Conn limits command lines; DATA is streamed
	s.AllowInsecureAuth = true
	// SMTPUTF8 (RFC 6531) and DSN (RFC 3461) follow the downstream.
	// go-smtp reads these switches on every EHLO, MAIL and RCPT without a
	// lock, so they cannot change while it serves: they stay on, go-smtp
	// hands the parameters to the session, which refuses them while the
	// downstream lacks the extension (555 5.5.4), and the listener guard
	// leaves them out of the EHLO reply then (Advertises).
	s.EnableSMTPUTF8 = true
	s.EnableDSN = true
	s.ErrorLog = errorLog{b.log}
	return s
}

// Advertises reports whether the EHLO reply offers an extension keyword
// now, for listener.Config.Advertise: SMTPUTF8 and DSN only while every
// downstream offers them (relay.Router.Extensions); any other keyword
// always.
func (b *Backend) Advertises(keyword string) bool {
	ext := b.env.Load().extensions()
	switch strings.ToUpper(keyword) {
	case "SMTPUTF8":
		return ext.SMTPUTF8
	case "DSN":
		return ext.DSN
	}
	return true
}

// NewSession starts a session at the client's first HELO/EHLO (go-smtp
// calls it then, not at connect).
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	lc, ok := c.Conn().(Conn)
	if !ok {
		// Only the listener guard carries what a session needs; refuse politely.
		b.log.Error("connection without the listener guard", "remote", c.Conn().RemoteAddr().String())
		return nil, toSMTPError(&reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E430MailSystem, Text: "Internal configuration error, try again later"}, true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		b:        b,
		env:      b.env.Load(),
		conn:     lc,
		sc:       c,
		ctx:      ctx,
		cancel:   cancel,
		log:      lc.Logger(),
		greetTLS: lc.TLS() != nil,
	}
	if err := s.greet(c.Hostname()); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// errorLog sends go-smtp's internal errors to the log.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn("smtp server", "err", fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) {
	e.log.Warn("smtp server", "err", fmt.Sprint(v...))
}

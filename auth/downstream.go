package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
)

// Downstream defaults (see DownstreamConfig).
const (
	DefaultDownstreamTimeout  = 10 * time.Second
	DefaultDownstreamCacheTTL = 5 * time.Minute
	DefaultDownstreamCacheMax = 10000
)

// DownstreamConfig says how to reach the server that knows the passwords.
type DownstreamConfig struct {
	Address   string             // host:port of the downstream SMTP server
	TLS       downstream.TLSMode // downstream.TLSNone (passwords in clear), TLSRequired (STARTTLS, also for "") or TLSImplicit
	TLSConfig *tls.Config        // verification settings chosen by the caller; nil verifies against the system roots for the host of Address
	HeloName  string             // EHLO name, the gateway's host name (default "localhost")
	Timeout   time.Duration      // bounds the whole exchange (default DefaultDownstreamTimeout)

	// CacheTTL is how long a successful check is remembered, so that a
	// client polling every minute does not cost a downstream login each
	// time. 0 switches the cache off; DefaultDownstreamCacheTTL is the
	// usual choice. A password changed downstream keeps working here for
	// at most this long.
	CacheTTL time.Duration
	// CacheMax bounds the cache (default DefaultDownstreamCacheMax).
	CacheMax int
	// CacheKey is the HMAC key of the cache entries, at least
	// MinCacheKeyLen bytes; nil: a random key made at start, and the
	// cache is this process's alone.
	CacheKey []byte
	// Shared, when set (with CacheKey, which every replica shares), is
	// where a success is also remembered for the other replicas, and
	// asked before a downstream login. nil: this process's cache only.
	Shared SharedCache
	// Dial opens the TCP connection; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Downstream is a Verifier that asks the downstream SMTP server: it logs
// in there with the client's user name and password (AUTH PLAIN, or LOGIN
// when PLAIN is not offered) and reports what the server said. It is safe
// for concurrent use.
type Downstream struct {
	cfg   DownstreamConfig
	cache *successCache // nil when off
}

// NewDownstream checks cfg and returns a Downstream.
func NewDownstream(cfg DownstreamConfig) (*Downstream, error) {
	var errs []error
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		errs = append(errs, fmt.Errorf("auth: downstream address %q: %w", cfg.Address, err))
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = downstream.TLSRequired
	case downstream.TLSNone, downstream.TLSRequired, downstream.TLSImplicit:
	default:
		// Not TLSOpportunistic: a password is never sent in clear because
		// the server stopped offering STARTTLS.
		errs = append(errs, fmt.Errorf("auth: downstream TLS %q: want %q, %q or %q", cfg.TLS, downstream.TLSNone, downstream.TLSRequired, downstream.TLSImplicit))
	}
	if strings.ContainsFunc(cfg.HeloName, isSpaceOrControl) {
		errs = append(errs, fmt.Errorf("auth: downstream HELO name \"%s\" contains spaces or control characters", SanitizeUser(cfg.HeloName)))
	}
	if cfg.CacheTTL < 0 || cfg.Timeout < 0 || cfg.CacheMax < 0 {
		errs = append(errs, errors.New("auth: downstream timeout, cache TTL and cache size must not be negative"))
	}
	if cfg.CacheKey != nil && len(cfg.CacheKey) < MinCacheKeyLen {
		errs = append(errs, fmt.Errorf("auth: downstream cache key has %d bytes, want at least %d", len(cfg.CacheKey), MinCacheKeyLen))
	}
	if cfg.Shared != nil && cfg.CacheKey == nil {
		// A random key per process would make every replica's entries
		// unreadable to the others.
		errs = append(errs, errors.New("auth: a shared downstream cache needs a cache key every replica shares"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{}
	}
	if cfg.TLSConfig.ServerName == "" {
		cfg.TLSConfig = cfg.TLSConfig.Clone()
		cfg.TLSConfig.ServerName = host
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultDownstreamTimeout
	}
	if cfg.CacheMax == 0 {
		cfg.CacheMax = DefaultDownstreamCacheMax
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	d := &Downstream{cfg: cfg}
	if cfg.CacheTTL > 0 {
		c, err := newSuccessCache(cfg.CacheKey, cfg.CacheTTL, cfg.CacheMax, time.Now)
		if err != nil {
			return nil, err
		}
		d.cache = c
	}
	return d, nil
}

// Verify logs in to the downstream server as username. It returns nil on
// 235, an error wrapping ErrInvalidCredentials when the server refused the
// credentials (535, or another 5xx that is not about the mechanism or
// TLS), and a temporary error otherwise (4xx, network, timeout, no usable
// mechanism). Only successes are cached: in this process, and in the
// SharedCache when there is one (asked when this process has no entry; a
// failing SharedCache only costs the downstream login).
func (d *Downstream) Verify(ctx context.Context, username, password string) error {
	if username == "" || password == "" {
		return errEmptyPassword
	}
	var sum CacheSum
	if d.cache != nil {
		sum = d.cache.sum(username, password)
		if d.cache.hitSum(sum) {
			return nil
		}
		if d.cfg.Shared != nil {
			if left, err := d.cfg.Shared.Seen(sum); err == nil && left > 0 {
				d.cache.addFor(sum, left)
				return nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := d.login(ctx, username, password); err != nil {
		return err
	}
	if d.cache != nil {
		d.cache.addFor(sum, d.cfg.CacheTTL)
		if d.cfg.Shared != nil {
			_ = d.cfg.Shared.Store(sum, d.cfg.CacheTTL) // the store logs and counts its failures
		}
	}
	return nil
}

// login runs one SMTP session: greeting, EHLO, TLS as configured, AUTH,
// QUIT.
func (d *Downstream) login(ctx context.Context, username, password string) error {
	conn, err := d.cfg.Dial(ctx, "tcp", d.cfg.Address)
	if err != nil {
		return d.temporary(ctx, "connect", err)
	}
	// go-smtp's client sets and clears deadlines per command; deadlineConn
	// keeps each one within ctx's deadline, and AfterFunc unblocks I/O if
	// the caller gives up first.
	deadline, _ := ctx.Deadline()
	raw := &deadlineConn{Conn: conn, limit: deadline}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	conn = raw

	switch d.cfg.TLS {
	case downstream.TLSImplicit:
		tc := tls.Client(conn, d.cfg.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return d.temporary(ctx, "TLS handshake", err)
		}
		conn = tc
	case downstream.TLSRequired:
		conn, err = startTLS(ctx, conn, d.cfg.HeloName, d.cfg.TLSConfig)
		if err != nil {
			return d.temporary(ctx, "STARTTLS", err)
		}
	}

	c := smtp.NewClient(conn)
	c.CommandTimeout = d.cfg.Timeout
	if err := c.Hello(d.cfg.HeloName); err != nil {
		return d.temporary(ctx, "EHLO", err)
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", username, password)
	case c.SupportsAuth(sasl.Login):
		mech = &loginClient{username: username, password: password}
	default:
		return d.temporary(ctx, "AUTH", errors.New("server offers neither AUTH PLAIN nor AUTH LOGIN (is TLS required before AUTH?)"))
	}
	err = c.Auth(mech)
	if err == nil {
		_ = c.Quit() // the answer is known; a failing QUIT changes nothing
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && refusesCredentials(se) {
		_ = c.Quit()
		return fmt.Errorf("%w (downstream %s answered %s)", ErrInvalidCredentials, d.cfg.Address, describeReply(se))
	}
	return d.temporary(ctx, "AUTH", err)
}

// refusesCredentials tells a refusal of the user's credentials from a
// permanent error that is the server's or our configuration's problem.
// RFC 4954 §6: 535 5.7.8 is the credentials reply; 500/502/504 (AUTH or
// the mechanism unknown), 530 (authentication required), 534 (mechanism
// too weak) and 538 (encryption required) say nothing about the password,
// so the client must not hear 535 for them.
func refusesCredentials(se *smtp.SMTPError) bool {
	switch se.Code {
	case 500, 502, 504, 530, 534, 538:
		return false
	}
	return se.Code >= 500 && se.Code < 600
}

// describeReply renders a downstream reply for an error message, cut and
// escaped because it is the downstream server's text.
func describeReply(se *smtp.SMTPError) string {
	s := fmt.Sprintf("%d", se.Code)
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return s + " " + sanitize(se.Message, 128)
}

// temporary describes a failure that says nothing about the credentials.
// When ctx ended, that is the cause: the I/O error is only its echo
// (AfterFunc closed the connection, or deadlineConn's deadline, which is
// ctx's, fired a moment before ctx noticed).
func (d *Downstream) temporary(ctx context.Context, step string, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		err = context.DeadlineExceeded
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Errorf("auth: downstream %s: %s: answered %s", d.cfg.Address, step, describeReply(se))
	}
	return fmt.Errorf("auth: downstream %s: %s: %w", d.cfg.Address, step, err)
}

// deadlineConn keeps every deadline set on it at or before limit.
type deadlineConn struct {
	net.Conn
	limit time.Time
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if c.limit.IsZero() || (!t.IsZero() && t.Before(c.limit)) {
		return t
	}
	return c.limit
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// loginClient is the client side of LOGIN (draft-murchison-sasl-login).
// Unlike go-sasl's, it sends no initial response (not every server takes
// one for LOGIN) and answers the two challenges in order whatever their
// wording ("Username:", "User Name", localized texts).
type loginClient struct {
	username, password string
	step               int
}

func (c *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	c.step++
	switch {
	case c.step == 1:
		return []byte(c.username), nil
	case c.step == 2:
		return []byte(c.password), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

package listener

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// Config says how a Listener treats its connections. Zero durations and
// counts switch the corresponding guard off, except where noted.
type Config struct {
	Name     string // the listener's name, for logs
	Kind     string // "mx", "submission", "submissions", for logs
	Hostname string // our name, in replies

	// TLS returns the server TLS configuration; it is called for every
	// handshake so that certificates can be reloaded. nil: no TLS at all
	// (STARTTLS is not offered).
	TLS func() *tls.Config
	// ImplicitTLS: the TLS handshake comes first (RFC 8314, port 465).
	ImplicitTLS bool

	// PROXY protocol (HAProxy v1/v2) from these networks only. A trusted
	// source must send a header; anyone else who sends one is cut off.
	Proxy        bool
	ProxyTrusted []netip.Prefix

	Gate           *Gate         // shared connection limits; nil: none
	PregreetDelay  time.Duration // 0: no pregreet test
	MaxLineLength  int           // command line limit without CRLF; 0: 1000 (AUTH exchanges: 12288)
	MaxCommands    int
	MaxErrors      int
	MaxGreetings   int           // HELO/EHLO per connection, STARTTLS or not; 0: no limit
	CommandTimeout time.Duration // waiting for one command line; 0: 5m
	DataTimeout    time.Duration // between reads within DATA or BDAT; 0: 3m
	SessionTimeout time.Duration // the whole connection; 0: none

	Logger *slog.Logger
	// OnConnect, if set, is called once per admitted connection before
	// go-smtp sees it (e.g. to start the PTR lookup).
	OnConnect func(*Conn)
	// OnRefuse, if set, is called for every connection refused before
	// SMTP starts, with the reason ("max_connections", "pregreet", ...).
	OnRefuse func(listener, reason string)
	// PTR, if set, names the client for the connect log line (like
	// Postfix's "connect from name[ip]"): a reverse lookup that bounds its
	// own time, "" when there is no name. It runs alongside the pregreet
	// wait, so it rarely delays the greeting.
	PTR func(ip netip.Addr) string
	// BeforeGreeting, if set, answers MAIL sent before any HELO/EHLO: a
	// reply of one or more CRLF-separated lines to send instead of
	// go-smtp's own "502 5.5.1 Please introduce yourself first", or ""
	// to leave it to go-smtp. It logs its own refusal.
	BeforeGreeting func(c *Conn) string
	// Advertise, if set, is asked about each extension keyword of
	// go-smtp's EHLO reply (a "250-KEYWORD" line after the first); a
	// keyword it declines is left out of the reply. go-smtp reads its
	// Enable* switches on every EHLO without a lock, so extensions that
	// follow the downstream (SMTPUTF8, DSN) stay switched on there and
	// are hidden here while the downstream lacks them.
	Advertise func(keyword string) bool
}

// Limits are the per-connection limits of a Listener, which SetLimits may
// change while it runs (a configuration reload): every connection keeps the
// ones in force when it was accepted. Config gives the initial values.
type Limits struct {
	PregreetDelay  time.Duration
	MaxLineLength  int
	MaxCommands    int
	MaxErrors      int
	MaxGreetings   int
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	SessionTimeout time.Duration
}

// withDefaults fills in the limits that may not be zero.
func (lim Limits) withDefaults() Limits {
	if lim.MaxLineLength == 0 {
		lim.MaxLineLength = 1000
	}
	if lim.CommandTimeout == 0 {
		lim.CommandTimeout = 5 * time.Minute
	}
	if lim.DataTimeout == 0 {
		lim.DataTimeout = 3 * time.Minute
	}
	return lim
}

// handshakeTimeout bounds PROXY headers and TLS handshakes.
const handshakeTimeout = 30 * time.Second

// Listener is a net.Listener whose Accept returns prepared *Conn values.
type Listener struct {
	inner net.Listener
	cfg   Config
	ready chan *Conn
	done  chan struct{}
	once  sync.Once
	err   error
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[*Conn]struct{}

	lim atomic.Pointer[Limits]
}

// New starts accepting on inner. Call Close to stop.
func New(inner net.Listener, cfg Config) *Listener {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Listener{
		inner: inner,
		cfg:   cfg,
		ready: make(chan *Conn),
		done:  make(chan struct{}),
		conns: map[*Conn]struct{}{},
	}
	l.SetLimits(Limits{
		PregreetDelay:  cfg.PregreetDelay,
		MaxLineLength:  cfg.MaxLineLength,
		MaxCommands:    cfg.MaxCommands,
		MaxErrors:      cfg.MaxErrors,
		MaxGreetings:   cfg.MaxGreetings,
		CommandTimeout: cfg.CommandTimeout,
		DataTimeout:    cfg.DataTimeout,
		SessionTimeout: cfg.SessionTimeout,
	})
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// SetLimits replaces the per-connection limits for connections accepted
// from now on; open ones keep theirs.
func (l *Listener) SetLimits(lim Limits) {
	lim = lim.withDefaults()
	l.lim.Store(&lim)
}

// Limits returns the per-connection limits new connections get.
func (l *Listener) Limits() Limits { return *l.lim.Load() }

// Accept returns the next connection that passed the edge checks.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Addr is the address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops accepting. Connections already handed out are not closed;
// see Drain.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.err = l.inner.Close()
	})
	return l.err
}

// Conns returns the connections currently open through this listener.
func (l *Listener) Conns() []*Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		out = append(out, c)
	}
	return out
}

// Drain asks every open connection to end: idle sessions get 421 4.3.2
// now, sessions in a transaction after it.
func (l *Listener) Drain() {
	for _, c := range l.Conns() {
		c.Drain()
	}
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			// Out of file descriptors and the like: back off, don't spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.cfg.Logger.Error("accept failed", "listener", l.cfg.Name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go l.prepare(raw)
	}
}

// prepare runs the edge checks for one connection and hands it to Accept.
func (l *Listener) prepare(raw net.Conn) {
	peer := addrPort(raw.RemoteAddr())
	c := &Conn{
		l:       l,
		raw:     raw,
		cur:     raw,
		id:      newID(),
		client:  peer,
		started: time.Now(),
		stats:   newStats(),
		lim:     l.lim.Load(),
	}
	log := l.cfg.Logger.With("conn", c.id, "listener", l.cfg.Name)

	if l.cfg.Proxy {
		if err := c.readProxyHeader(l.trusted(peer.Addr())); err != nil {
			log.Info("refused", "client_ip", peer.Addr().String(), "reason", "proxy_protocol", "evidence", err.Error())
			l.refused("proxy_protocol")
			raw.Close()
			return
		}
	}
	c.log = log.With("client_ip", c.client.Addr().String())

	if g := l.cfg.Gate; g != nil {
		if reason, detail := g.Admit(c.client.Addr()); reason != "" {
			c.log.Info("refused", "reason", reason, "code", 421, "enhanced", "4.7.0", "evidence", detail)
			l.refused(reason)
			if !l.cfg.ImplicitTLS {
				raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
				r := tooManyConnections(l.cfg.Hostname, detail)
				io.WriteString(raw, r.Wire())
			}
			raw.Close()
			return
		}
		c.admitted = true
	}
	if c.lim.SessionTimeout > 0 {
		c.sessionEnd = c.started.Add(c.lim.SessionTimeout)
	}
	var ptr chan string
	if l.cfg.PTR != nil {
		ptr = make(chan string, 1)
		go func(ip netip.Addr) { ptr <- l.cfg.PTR(ip) }(c.client.Addr())
	}

	if c.lim.PregreetDelay > 0 && !l.cfg.ImplicitTLS {
		if early, err := c.pregreet(c.lim.PregreetDelay); err != nil || early {
			if early {
				c.log.Info("refused", "reason", "pregreet", "code", 554, "enhanced", "5.5.1", "evidence", "client sent data before the final 220 line")
				c.writeRaw(named(replyPregreet, l.cfg.Hostname).Wire())
				l.refused("pregreet")
			}
			c.release()
			raw.Close()
			return
		}
	}

	if l.cfg.ImplicitTLS {
		if err := c.handshake(); err != nil {
			c.log.Info("tls handshake failed", "evidence", err.Error())
			l.refused("tls_handshake")
			c.release()
			raw.Close()
			return
		}
	}

	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	attrs := []any{"kind", l.cfg.Kind, "tls", c.tlsState != nil}
	if ptr != nil {
		name := <-ptr
		if name == "" {
			name = "unknown"
		}
		attrs = append([]any{"ptr", name}, attrs...)
	}
	c.log.Info("connect", attrs...)
	if l.cfg.OnConnect != nil {
		l.cfg.OnConnect(c)
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *Listener) refused(reason string) {
	if l.cfg.OnRefuse != nil {
		l.cfg.OnRefuse(l.cfg.Name, reason)
	}
}

func (l *Listener) forget(c *Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *Listener) trusted(a netip.Addr) bool {
	for _, p := range l.cfg.ProxyTrusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// readProxyHeader reads a PROXY v1/v2 header from a trusted source and
// takes the client address from it. Untrusted sources are checked later,
// on their first line (see Conn.Read): they may not send one at all.
func (c *Conn) readProxyHeader(trusted bool) error {
	if !trusted {
		c.proxyUntrusted = true
		return nil
	}
	c.raw.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer c.raw.SetReadDeadline(time.Time{})
	br := bufio.NewReaderSize(c.raw, 512)
	h, err := proxyproto.Read(br)
	if err != nil {
		return fmt.Errorf("trusted source %s sent no valid PROXY header: %v", c.client.Addr(), err)
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		c.stash = append(c.stash, b...)
	}
	if h.Command.IsLocal() {
		// A health check of the load balancer itself (PROXY v2 LOCAL).
		return nil
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		return fmt.Errorf("PROXY header from %s carries no TCP addresses", c.client.Addr())
	}
	c.client = addrPort(src)
	c.local = dst
	return nil
}

// pregreet sends the first line of a multi-line greeting and waits: a
// client that sends anything before the final "220 " line (which go-smtp
// writes) does not follow RFC 5321 §4.3.1 and is most likely a spam bot.
func (c *Conn) pregreet(d time.Duration) (early bool, err error) {
	if err := c.writeRaw(fmt.Sprintf("220-%s ESMTP\r\n", c.l.cfg.Hostname)); err != nil {
		return false, err
	}
	c.raw.SetReadDeadline(time.Now().Add(d))
	defer c.raw.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := c.raw.Read(b[:])
	if n > 0 {
		return true, nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return false, err
}

// handshake runs a server TLS handshake over the raw connection (and any
// bytes already stashed) and switches the guard to it.
func (c *Conn) handshake() error {
	cfg := c.l.cfg.TLS
	if cfg == nil {
		return errors.New("no TLS configuration")
	}
	under := &stashConn{Conn: c.raw, stash: c.stash}
	c.stash = nil
	tc := tls.Server(under, cfg())
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	st := tc.ConnectionState()
	c.mu.Lock()
	c.cur = tc
	c.tlsState = &st
	c.mu.Unlock()
	return nil
}

// stashConn replays bytes read ahead before reading the connection.
type stashConn struct {
	net.Conn
	stash []byte
}

func (s *stashConn) Read(p []byte) (int, error) {
	if len(s.stash) > 0 {
		n := copy(p, s.stash)
		s.stash = s.stash[n:]
		return n, nil
	}
	return s.Conn.Read(p)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// newID returns a connection id: 12 hex digits, unique enough to find a
// connection's lines in the logs and in Received headers.
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

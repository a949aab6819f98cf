package backend_test

// The harness of the backend unit tests: the real go-smtp server behind the
// real listener guard on 127.0.0.1:0, a fake downstream (relay.Target), a
// fake DNS (heloguard.Resolver) and a raw SMTP client that returns reply
// lines exactly as they were sent.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/listener"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"

	"github.com/smtpgateway/gateway/internal/testcert"

	"github.com/smtpgateway/gateway/internal/syncbuf"
)

const (
	gwHost     = "mx.gw-one.net"
	localDom   = "local-one.net"
	remoteDom  = "remote.example"
	clientHELO = "mx.client-one.net" // resolves to 127.0.0.1, and back
	userName   = "alice"
	userPass   = "correct horse"
	userAddr   = "alice@" + localDom
)

// waitTimeout bounds every wait on the server; tests never sleep for a
// fixed time, they wait for an event.
const waitTimeout = 10 * time.Second

// ---------------------------------------------------------------------------
// Fake downstream.

// fakeTarget is a relay.Target that records its transactions. Its behaviour
// is set before the session uses it; dataErr and dataReply may be changed
// later with setData.
type fakeTarget struct {
	name string

	ext       relay.Extensions // what the target takes; none by default
	beginErr  error            // Begin fails with this
	rcptErr   map[string]error // Rcpt of this address fails with this
	dataErr   error            // Data reads the whole message, then fails with this
	dataReply *reply.Reply     // the 250 of Data; nil: "250 2.0.0 Ok: queued as 4ZxY1k2Lm3z5"
	stall     chan struct{}    // Data, after reading the message, waits for this to be closed

	dataRead chan struct{} // closed when a Data has read its message to EOF (stall tests)

	mu  sync.Mutex
	txs []*fakeTx
}

const fakeQID = "4ZxY1k2Lm3z5"

func newTarget(name string) *fakeTarget {
	return &fakeTarget{name: name, rcptErr: map[string]error{}, dataRead: make(chan struct{})}
}

func (t *fakeTarget) Name() string                 { return t.name }
func (t *fakeTarget) Extensions() relay.Extensions { return t.ext }
func (t *fakeTarget) Close() error                 { return nil }

func (t *fakeTarget) Begin(ctx context.Context, from string, opts relay.MailOptions) (relay.Transaction, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.beginErr != nil {
		return nil, t.beginErr
	}
	tx := &fakeTx{t: t, from: from, opts: opts, aborted: make(chan struct{})}
	t.txs = append(t.txs, tx)
	return tx, nil
}

// setBegin changes what the next Begin calls fail with (nil: succeed).
func (t *fakeTarget) setBegin(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.beginErr = err
}

// setData changes what the next Data calls return.
func (t *fakeTarget) setData(rep *reply.Reply, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dataReply, t.dataErr = rep, err
}

// transactions returns a snapshot of the transactions begun so far.
func (t *fakeTarget) transactions() []fakeTxView {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]fakeTxView, len(t.txs))
	for i, tx := range t.txs {
		out[i] = tx.view()
	}
	return out
}

// tx returns transaction i, failing the test when there is none.
func (t *fakeTarget) tx(tb testing.TB, i int) fakeTxView {
	tb.Helper()
	txs := t.transactions()
	if i >= len(txs) {
		tb.Fatalf("%s: transaction %d wanted, %d begun: %+v", t.name, i, len(txs), txs)
	}
	return txs[i]
}

// waitAborted waits until transaction i was aborted.
func (t *fakeTarget) waitAborted(tb testing.TB, i int) fakeTxView {
	tb.Helper()
	t.mu.Lock()
	if i >= len(t.txs) {
		t.mu.Unlock()
		tb.Fatalf("%s: transaction %d wanted, %d begun", t.name, i, len(t.txs))
	}
	tx := t.txs[i]
	t.mu.Unlock()
	select {
	case <-tx.aborted:
	case <-time.After(waitTimeout):
		tb.Fatalf("%s: transaction %d was never aborted: %+v", t.name, i, tx.view())
	}
	return tx.view()
}

type fakeTx struct {
	t    *fakeTarget
	from string
	opts relay.MailOptions

	mu        sync.Mutex
	rcpts     []string
	rcptOpts  []relay.RcptOptions
	dataCalls int
	data      []byte // what Data read
	readErr   error  // the reader's error, if it failed
	delivered bool   // Data returned a 250
	abortOnce sync.Once
	aborted   chan struct{}
	abortedOK bool // Abort came while nothing was delivered
	inData    bool // a Data call is running
	overlap   bool // Abort or Rcpt was called while Data was running
}

// fakeTxView is a copy of a fakeTx's record.
type fakeTxView struct {
	From      string
	Opts      relay.MailOptions
	Rcpts     []string
	RcptOpts  []relay.RcptOptions
	DataCalls int
	Data      string
	ReadErr   error
	Delivered bool
	Aborted   bool // aborted before anything was delivered
	Overlap   bool // used by two goroutines at once (relay forbids it)
}

func (tx *fakeTx) view() fakeTxView {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return fakeTxView{
		From: tx.from, Opts: tx.opts, Rcpts: append([]string(nil), tx.rcpts...), RcptOpts: append([]relay.RcptOptions(nil), tx.rcptOpts...),
		DataCalls: tx.dataCalls, Data: string(tx.data), ReadErr: tx.readErr,
		Delivered: tx.delivered, Aborted: tx.abortedOK, Overlap: tx.overlap,
	}
}

func (tx *fakeTx) Rcpt(ctx context.Context, to string, opts relay.RcptOptions) error {
	if err := tx.t.rcptErr[to]; err != nil {
		return err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.overlap = tx.overlap || tx.inData
	tx.rcpts = append(tx.rcpts, to)
	tx.rcptOpts = append(tx.rcptOpts, opts)
	return nil
}

func (tx *fakeTx) Data(ctx context.Context, r io.Reader) (*reply.Reply, error) {
	tx.mu.Lock()
	tx.dataCalls++
	tx.inData = true
	tx.mu.Unlock()
	defer func() {
		tx.mu.Lock()
		tx.inData = false
		tx.mu.Unlock()
	}()
	b, err := io.ReadAll(r)
	tx.mu.Lock()
	tx.data, tx.readErr = b, err
	tx.mu.Unlock()
	if err != nil {
		// As relay does: the end of data is never sent.
		return nil, fmt.Errorf("relay: message abandoned before its end: %w", err)
	}
	if tx.t.stall != nil {
		close(tx.t.dataRead)
		select {
		case <-tx.t.stall:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: end of data: %w", relay.ErrUnavailable, ctx.Err())
		}
	}
	tx.t.mu.Lock()
	dataErr, rep := tx.t.dataErr, tx.t.dataReply
	tx.t.mu.Unlock()
	if dataErr != nil {
		return nil, dataErr
	}
	if rep == nil {
		rep = &reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Ok: queued as " + fakeQID}
	}
	tx.mu.Lock()
	tx.delivered = true
	tx.mu.Unlock()
	return rep, nil
}

func (tx *fakeTx) Abort() {
	tx.mu.Lock()
	tx.overlap = tx.overlap || tx.inData
	if !tx.delivered {
		tx.abortedOK = true
	}
	tx.mu.Unlock()
	tx.abortOnce.Do(func() { close(tx.aborted) })
}

// ---------------------------------------------------------------------------
// Fake DNS.

// fakeDNS answers from a map keyed "A name", "MX name" or "PTR ip" (names
// lower case, without the trailing dot); a missing key is NXDOMAIN.
type fakeDNS struct{ records map[string][]string }

func (f fakeDNS) answer(key string) ([]string, error) {
	ans, ok := f.records[key]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
	}
	return ans, nil
}

func dnsKey(kind, name string) string {
	return kind + " " + strings.ToLower(strings.TrimSuffix(name, "."))
}

func (f fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ans, err := f.answer(dnsKey("A", host))
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, 0, len(ans))
	for _, s := range ans {
		out = append(out, net.IPAddr{IP: net.IP(netip.MustParseAddr(s).AsSlice())})
	}
	return out, nil
}

func (f fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return f.answer(dnsKey("PTR", addr))
}

func (f fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	ans, err := f.answer(dnsKey("MX", name))
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(ans))
	for _, s := range ans {
		out = append(out, &net.MX{Host: s, Pref: 10})
	}
	return out, nil
}

// labDNS makes clientHELO a name that resolves to 127.0.0.1, whose PTR
// names it back (FCrDNS pass).
func labDNS() fakeDNS {
	return fakeDNS{records: map[string][]string{
		"A " + clientHELO:   {"127.0.0.1"},
		"MX client-one.net": {clientHELO},
		"PTR 127.0.0.1":     {clientHELO + "."},
	}}
}

// ---------------------------------------------------------------------------
// Environment and server.

// newEnv returns an Env with local domain localDom, no HELO policy, no
// AUTH, and target as the downstream for everything.
func newEnv(t testing.TB, target relay.Target, routes ...relay.Route) *backend.Env {
	t.Helper()
	router, err := relay.NewRouter(target, routes)
	if err != nil {
		t.Fatal(err)
	}
	return &backend.Env{
		Hostname:     gwHost,
		LocalDomains: map[string]bool{localDom: true},
		Resolver:     labDNS(),
		Identity:     heloguard.Identity{Hostname: gwHost, Domains: []string{localDom}},
		Router:       router,
	}
}

// withHELO sets a HELO policy built from cfg.
func withHELO(t testing.TB, e *backend.Env, cfg heloguard.Config) *backend.Env {
	t.Helper()
	p, err := heloguard.NewPolicy(cfg, e.Identity)
	if err != nil {
		t.Fatal(err)
	}
	e.HELO = p
	return e
}

var (
	hashOnce sync.Once
	userHash string
)

// cheapHash is userPass hashed with bcrypt's minimum cost: the production
// cost would make each AUTH take seconds under -race.
func cheapHash(t testing.TB) string {
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(userPass), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		userHash = string(h)
	})
	return userHash
}

// withAuth gives e a user store holding alice (who owns userAddr) and a
// limiter that never delays.
func withAuth(t testing.TB, e *backend.Env) *backend.Env {
	t.Helper()
	store, err := auth.NewStore([]auth.User{{Name: userName, PasswordHash: cheapHash(t), Addresses: []string{userAddr}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.Auth = backend.AuthEnv{
		Verifier: store,
		Limiter:  auth.NewLimiter(auth.LimiterConfig{DelayAfter: 1000, BlockAfter: 1000}),
		Owns:     store.Owns,
	}
	return e
}

// opts are the per-test server settings.
type opts struct {
	kind         string // "mx" when ""
	authEnabled  bool
	insecureAuth bool
	tls          bool
	server       backend.ServerOptions
	guard        func(*listener.Config)
}

type harness struct {
	t       testing.TB
	addr    string
	holder  *backend.Holder
	guard   *listener.Listener
	logs    *syncbuf.Buffer
	metrics *fakeMetrics
	tlsConf *tls.Config // the server's; clients use roots
	roots   *x509.CertPool
}

// start runs a listener with env and o, stopped when the test ends.
func start(t testing.TB, env *backend.Env, o opts) *harness {
	t.Helper()
	if o.kind == "" {
		o.kind = "mx"
	}
	if o.server.Hostname == "" {
		o.server.Hostname = gwHost
	}
	h := &harness{t: t, holder: backend.NewHolder(env), logs: &syncbuf.Buffer{}, metrics: &fakeMetrics{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := listener.Config{
		Name:     "test-" + o.kind,
		Kind:     o.kind,
		Hostname: gwHost,
		Logger:   log,
	}
	if o.tls {
		tc := testcert.New(t, gwHost, gwHost)
		h.tlsConf, h.roots = tc.ServerConfig(), tc.Pool
		cfg.TLS = func() *tls.Config { return h.tlsConf }
	}
	var be *backend.Backend // set before the server starts
	cfg.Advertise = func(kw string) bool { return be.Advertises(kw) }
	if o.guard != nil {
		o.guard(&cfg)
	}
	h.guard = listener.New(ln, cfg)
	be = backend.New(h.holder, backend.Listener{
		Name:              cfg.Name,
		Kind:              o.kind,
		AuthEnabled:       o.authEnabled,
		AllowInsecureAuth: o.insecureAuth,
	}, log, h.metrics)
	srv := backend.NewServer(be, o.server)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(h.guard)
	}()
	h.addr = ln.Addr().String()
	t.Cleanup(func() {
		// The clients are closed by now (cleanups run last first): let
		// every connection end on its own. srv.Close would end them from
		// this goroutine, racing the guard's own Close (see the report on
		// listener.Conn.Annotate).
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("connections still open at the end of the test: %v", err)
			srv.Close()
		}
		h.guard.Close()
		<-served
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// fakeMetrics records refusals as "command check code".
type fakeMetrics struct {
	mu      sync.Mutex
	refused []string
	relayed []string // "downstream outcome"
	auths   []string // "mechanism result"
	would   []string // "profile check"
}

func (m *fakeMetrics) Refused(_, command, check string, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refused = append(m.refused, fmt.Sprintf("%s %s %d", command, check, code))
}
func (m *fakeMetrics) HELOCheck(string, string, string) {}
func (m *fakeMetrics) HELOWouldRefuse(profile, check string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.would = append(m.would, profile+" "+check)
}
func (m *fakeMetrics) Auth(mech, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.auths = append(m.auths, mech+" "+result)
}
func (m *fakeMetrics) RelayDone(downstream, outcome string, _ time.Duration, _ int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.relayed = append(m.relayed, downstream+" "+outcome)
}

func (m *fakeMetrics) snapshot() (refused, relayed, auths []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.refused...), append([]string(nil), m.relayed...), append([]string(nil), m.auths...)
}

// ---------------------------------------------------------------------------
// Raw client.

// client speaks SMTP line by line and returns replies as sent.
type client struct {
	t    testing.TB
	h    *harness
	conn net.Conn
	r    *bufio.Reader
}

// dial connects and reads the greeting.
func (h *harness) dial() *client {
	h.t.Helper()
	conn, err := net.DialTimeout("tcp", h.addr, waitTimeout)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	c := &client{t: h.t, h: h, conn: conn, r: bufio.NewReader(conn)}
	if got := c.reply(); len(got) != 1 || got[0] != "220 "+gwHost+" ESMTP Service Ready" {
		h.t.Fatalf("greeting: %q", got)
	}
	return c
}

// reply reads one complete reply, all its lines, without CRLF.
func (c *client) reply() []string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

// send writes raw bytes.
func (c *client) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("writing %q: %v", s, err)
	}
}

// cmd sends one command line and returns its reply.
func (c *client) cmd(line string) []string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect sends a command and checks that the reply is exactly want (one
// string per line).
func (c *client) expect(line string, want ...string) {
	c.t.Helper()
	got := c.cmd(line)
	if !equal(got, want) {
		c.t.Fatalf("%s:\n got %q\nwant %q", printable(line), got, want)
	}
}

// expectCode sends a command and checks the first line's code.
func (c *client) expectCode(line string, code string) []string {
	c.t.Helper()
	got := c.cmd(line)
	if !strings.HasPrefix(got[0], code+" ") && !strings.HasPrefix(got[0], code+"-") {
		c.t.Fatalf("%s: got %q, want code %s", printable(line), got, code)
	}
	return got
}

// ehlo greets with EHLO and returns the extension lines.
func (c *client) ehlo(name string) []string {
	c.t.Helper()
	got := c.cmd("EHLO " + name)
	if got[0] != "250-Hello "+name && got[0] != "250 Hello "+name {
		c.t.Fatalf("EHLO %s: %q", name, got)
	}
	return got
}

// startTLS runs STARTTLS and switches the client to TLS.
func (c *client) startTLS() {
	c.t.Helper()
	c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(c.conn, &tls.Config{ServerName: gwHost, RootCAs: c.h.roots})
	tc.SetDeadline(time.Now().Add(waitTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// authPlain authenticates with an initial response.
func (c *client) authPlain(authzid, user, pass string) []string {
	c.t.Helper()
	return c.cmd("AUTH PLAIN " + b64(authzid+"\x00"+user+"\x00"+pass))
}

// login does TLS if the harness has it, EHLO and AUTH PLAIN as alice.
func (c *client) login() {
	c.t.Helper()
	c.ehlo(clientHELO)
	if c.h.tlsConf != nil {
		c.startTLS()
		c.ehlo(clientHELO)
	}
	if got := c.authPlain("", userName, userPass); !equal(got, []string{"235 2.0.0 Authentication succeeded"}) {
		c.t.Fatalf("AUTH: %q", got)
	}
}

// data sends DATA and body (which must end in CRLF, without the final
// dot) and returns the reply to the end of data.
func (c *client) data(body string) []string {
	c.t.Helper()
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send(body + ".\r\n")
	return c.reply()
}

// sync sends NOOP and waits for its reply: the server has then finished
// everything the commands before it started (go-smtp runs a session's
// commands one after the other, Reset after a DATA reply included).
func (c *client) sync() {
	c.t.Helper()
	c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// msg is a small message with CRLF line endings.
const msg = "From: <sender@remote.example>\r\nTo: <bob@local-one.net>\r\nSubject: test\r\n\r\nHello.\r\n"

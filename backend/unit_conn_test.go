package backend_test

import (
	"bufio"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/backend"
)

// fakeConn is a client connection with made-up facts: one end of a
// net.Pipe that also implements backend.Conn, so that the session's use of
// each fact is tested without the listener guard.
type fakeConn struct {
	net.Conn
	mu        sync.Mutex
	tls       *tls.ConnectionState
	verb      string
	greetings int
	rcptArg   string
	inTx      bool
	notes     map[any]any
}

func (f *fakeConn) ID() string             { return "fake1" }
func (f *fakeConn) Client() netip.AddrPort { return netip.MustParseAddrPort("192.0.2.7:4321") }
func (f *fakeConn) Logger() *slog.Logger   { return slog.New(slog.DiscardHandler) }
func (f *fakeConn) DotCRLine() int         { return 0 }
func (f *fakeConn) SetAuthenticated()      {}
func (f *fakeConn) SetCommitting(bool)     {}

func (f *fakeConn) TLS() *tls.ConnectionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tls
}

func (f *fakeConn) Greeting() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verb, f.greetings
}

func (f *fakeConn) RcptArgument() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rcptArg
}

func (f *fakeConn) SetInTransaction(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inTx = b
}

func (f *fakeConn) Annotate(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i+1 < len(args); i += 2 {
		f.notes[args[i]] = args[i+1]
	}
}

func (f *fakeConn) set(fn func(f *fakeConn)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// oneConn is a net.Listener that hands out one connection.
type oneConn struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConn) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *oneConn) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// startFake serves one session on a fakeConn and returns the client.
func startFake(t *testing.T) (*fakeConn, *client) {
	t.Helper()
	srvEnd, cliEnd := net.Pipe()
	fc := &fakeConn{Conn: srvEnd, notes: map[any]any{}}
	be := backend.New(backend.NewHolder(newEnv(t, newTarget("down"))),
		backend.Listener{Name: "test-mx", Kind: "mx"}, slog.New(slog.DiscardHandler), &fakeMetrics{})
	srv := backend.NewServer(be, backend.ServerOptions{Hostname: gwHost})
	ln := &oneConn{c: make(chan net.Conn, 1), done: make(chan struct{})}
	ln.c <- fc
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		cliEnd.Close()
		srv.Close()
		select {
		case <-served:
		case <-time.After(waitTimeout):
			t.Error("server did not end")
		}
	})
	c := &client{t: t, conn: cliEnd, r: bufio.NewReader(cliEnd)}
	if got := c.reply(); len(got) != 1 || got[0] != "220 "+gwHost+" ESMTP Service Ready" {
		t.Fatalf("greeting: %q", got)
	}
	return fc, c
}

// The recipient's raw form comes from Conn.RcptArgument, not from what
// go-smtp hands Rcpt: a source route the connection reports is refused
// even though go-smtp normalized it away.
func TestConnFactRcptArgument(t *testing.T) {
	fc, c := startFake(t)
	fc.set(func(f *fakeConn) { f.verb, f.greetings = "EHLO", 1 })
	c.ehlo("client.example")
	c.expect("MAIL FROM:<a@client.example>", "250 2.0.0 Roger, accepting mail from <a@client.example>")
	fc.set(func(f *fakeConn) { f.rcptArg = "<@relay.example:user@" + localDom + ">" })
	c.expect("RCPT TO:<user@"+localDom+">",
		"554 5.7.1 <user@"+localDom+">: Recipient address rejected: source route addresses are not accepted here")
	fc.set(func(f *fakeConn) { f.rcptArg = "<user@" + localDom + ">" })
	c.expectCode("RCPT TO:<user@"+localDom+">", "250")
}

// TLS starting under a session (Conn.TLS turns non-nil) makes it forget
// the plaintext greeting until the next one (RFC 3207 §4.2); the next
// greeting is recognized by Conn.Greeting's count, not by go-smtp, which
// calls Reset for it as for RSET. The session tells the connection when a
// transaction is open and annotates the disconnect line with the HELO.
func TestConnFactTLSAndGreeting(t *testing.T) {
	fc, c := startFake(t)
	fc.set(func(f *fakeConn) { f.verb, f.greetings = "EHLO", 1 })
	c.ehlo("plain.example")
	fc.set(func(f *fakeConn) { f.tls = &tls.ConnectionState{Version: tls.VersionTLS13} })
	c.expect("MAIL FROM:<a@client.example>", "503 5.5.1 Error: send EHLO again after STARTTLS (RFC 3207 section 4.2)")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("MAIL FROM:<a@client.example>", "503 5.5.1 Error: send EHLO again after STARTTLS (RFC 3207 section 4.2)")
	fc.set(func(f *fakeConn) { f.greetings = 2 })
	c.ehlo("secure.example")
	c.expect("MAIL FROM:<a@client.example>", "250 2.0.0 Roger, accepting mail from <a@client.example>")
	var inTx bool
	var helo any
	fc.set(func(f *fakeConn) { inTx, helo = f.inTx, f.notes["helo"] })
	if !inTx || helo != "secure.example" {
		t.Fatalf("after MAIL: in transaction %v, helo note %v; want true, secure.example", inTx, helo)
	}
	c.expect("RSET", "250 2.0.0 Session reset")
	fc.set(func(f *fakeConn) { inTx = f.inTx })
	if inTx {
		t.Fatal("after RSET the connection still thinks a transaction is open")
	}
}

package listener_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/listener"

	"github.com/smtpgateway/gateway/internal/testcert"

	"github.com/smtpgateway/gateway/internal/syncbuf"
)

// recorder is a go-smtp backend that remembers what reached it.
type recorder struct {
	mu       sync.Mutex
	mails    []string
	messages [][]byte
	clients  []netip.Addr
	hold     chan struct{} // if set, Data waits on it before reading
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	lc := c.Conn().(*listener.Conn)
	r.mu.Lock()
	r.clients = append(r.clients, lc.Client().Addr())
	r.mu.Unlock()
	return &recSession{r: r, lc: lc}, nil
}

type recSession struct {
	r  *recorder
	lc *listener.Conn
}

func (s *recSession) Reset()        { s.lc.SetInTransaction(false) }
func (s *recSession) Logout() error { return nil }
func (s *recSession) Mail(from string, _ *smtp.MailOptions) error {
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, from)
	s.r.mu.Unlock()
	s.lc.SetInTransaction(true)
	return nil
}
func (s *recSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *recSession) Data(r io.Reader) error {
	if s.r.hold != nil {
		<-s.r.hold
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.messages = append(s.r.messages, b)
	s.r.mu.Unlock()
	return nil
}

func (r *recorder) snapshot() ([]string, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.mails...), append([][]byte(nil), r.messages...)
}

type fixture struct {
	addr string
	rec  *recorder
	lis  *listener.Listener
	logs *syncbuf.Buffer
}

// start runs a go-smtp server behind a guard configured by edit.
func start(t *testing.T, edit func(*listener.Config)) *fixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	cfg := listener.Config{
		Name:           "test",
		Kind:           "mx",
		Hostname:       "mx.test.example",
		MaxLineLength:  512,
		CommandTimeout: 10 * time.Second,
		DataTimeout:    10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	g := listener.New(ln, cfg)
	rec := &recorder{}
	srv := smtp.NewServer(rec)
	srv.Domain = "mx.test.example"
	srv.MaxLineLength = 0
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLog{}
	go srv.Serve(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	return &fixture{addr: ln.Addr().String(), rec: rec, lis: g, logs: logs}
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

// client is a raw SMTP client: exact bytes out, replies in.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr, localIP string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (c *client) reply() []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return lines
		}
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) cmd(s string) []string {
	c.t.Helper()
	c.send(s + "\r\n")
	return c.reply()
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil
}

func (c *client) startTLS() {
	c.t.Helper()
	if got := c.cmd("STARTTLS"); got[0] != "220 2.0.0 Ready to start TLS" {
		c.t.Fatalf("STARTTLS: %q", got)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

func testTLS(t *testing.T) func() *tls.Config {
	cfg := testcert.New(t, "mx.test.example", "mx.test.example").ServerConfig()
	return func() *tls.Config { return cfg }
}

func has(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestSTARTTLSOfferedAndWorks(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.TLS = testTLS(t) })
	c := dial(t, f.addr, "")
	c.reply()
	ehlo := c.cmd("EHLO client.example.org")
	if !has(ehlo, "250-STARTTLS") || !strings.HasPrefix(ehlo[0], "250-") {
		t.Fatalf("STARTTLS not advertised: %q", ehlo)
	}
	c.startTLS()
	ehlo = c.cmd("EHLO client.example.org")
	if has(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS advertised again inside TLS: %q", ehlo)
	}
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got[0], "503 5.5.1") {
		t.Errorf("second STARTTLS: %q", got)
	}
	c.cmd("MAIL FROM:<a@example.org>")
	c.cmd("RCPT TO:<b@example.com>")
	if got := c.cmd("DATA"); !strings.HasPrefix(got[0], "354") {
		t.Fatalf("DATA: %q", got)
	}
	if got := c.cmd("Subject: x\r\n\r\nhello\r\n."); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("end of data: %q", got)
	}
	_, msgs := f.rec.snapshot()
	if len(msgs) != 1 || string(msgs[0]) != "Subject: x\r\n\r\nhello\r\n" {
		t.Errorf("message over TLS: %q", msgs)
	}
}

func TestNoSTARTTLSWithoutCertificate(t *testing.T) {
	f := start(t, nil)
	c := dial(t, f.addr, "")
	c.reply()
	if ehlo := c.cmd("EHLO client.example.org"); has(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS advertised without TLS: %q", ehlo)
	}
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got[0], "502") {
		t.Errorf("STARTTLS without TLS: %q", got)
	}
}

// Commands pipelined behind STARTTLS in plaintext must be thrown away, not
// executed inside the TLS session (CVE-2011-0411).
func TestSTARTTLSInjectionDiscarded(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.TLS = testTLS(t) })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.send("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
	if got := c.reply(); got[0] != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS: %q", got)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.cmd("EHLO client.example.org")
	// Had the injected MAIL run, RCPT would be accepted.
	if got := c.cmd("RCPT TO:<b@example.com>"); !strings.HasPrefix(got[0], "502") {
		t.Errorf("RCPT after injection: %q (the injected MAIL was executed)", got)
	}
	if mails, _ := f.rec.snapshot(); len(mails) != 0 {
		t.Errorf("injected MAIL reached the session: %q", mails)
	}
	if !strings.Contains(f.logs.String(), "starttls injection discarded") {
		t.Errorf("no log line for the injection:\n%s", f.logs)
	}
}

func TestLineTooLong(t *testing.T) {
	tests := []struct {
		name string
		send string
	}{
		{"command", "EHLO " + strings.Repeat("a", 600) + "\r\n"},
		{"no newline at all", strings.Repeat("x", 100*1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, nil)
			c := dial(t, f.addr, "")
			c.reply()
			c.send(tc.send)
			if got := c.reply(); got[0] != "500 5.5.2 Line too long" {
				t.Errorf("got %q", got)
			}
			if !c.closed() {
				t.Error("connection left open")
			}
		})
	}
}

// DATA and BDAT content is data: lines that look like commands, long
// lines and STARTTLS inside a message are passed through untouched.
func TestMessageContentIsNotCommands(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.TLS = testTLS(t) })
	long := strings.Repeat("L", 2000)
	body := "Subject: t\r\n\r\nSTARTTLS\r\nEHLO x\r\n" + long + "\r\n..dot\r\n"
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.cmd("MAIL FROM:<a@example.org>")
	c.cmd("RCPT TO:<b@example.com>")
	c.cmd("DATA")
	if got := c.cmd(body + "."); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("end of data: %q", got)
	}
	chunk := "BDAT-looking: EHLO y\r\nSTARTTLS\r\n" + long + "\r\n"
	c.cmd("MAIL FROM:<a@example.org>")
	c.cmd("RCPT TO:<b@example.com>")
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	if got := c.reply(); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("BDAT: %q", got)
	}
	if got := c.cmd("NOOP"); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("NOOP after BDAT: %q", got)
	}
	_, msgs := f.rec.snapshot()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if want := "Subject: t\r\n\r\nSTARTTLS\r\nEHLO x\r\n" + long + "\r\n.dot\r\n"; string(msgs[0]) != want {
		t.Errorf("DATA body changed:\n got %q\nwant %q", msgs[0], want)
	}
	if string(msgs[1]) != chunk {
		t.Errorf("BDAT body changed: %q", msgs[1])
	}
}

func TestPipelining(t *testing.T) {
	f := start(t, nil)
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
	for i := 0; i < 3; i++ {
		if got := c.reply(); !strings.HasPrefix(got[0], "250") {
			t.Fatalf("reply %d: %q", i, got)
		}
	}
	if got := c.reply(); !strings.HasPrefix(got[0], "354") {
		t.Fatalf("DATA: %q", got)
	}
	// The end of data and the next commands in one segment.
	c.send("x\r\n.\r\nRSET\r\nQUIT\r\n")
	for _, want := range []string{"250", "250", "221"} {
		if got := c.reply(); !strings.HasPrefix(got[0], want) {
			t.Fatalf("want %s, got %q", want, got)
		}
	}
	if _, msgs := f.rec.snapshot(); len(msgs) != 1 || string(msgs[0]) != "x\r\n" {
		t.Errorf("messages: %q", msgs)
	}
	waitFor(t, func() bool {
		return strings.Contains(f.logs.String(), "ehlo=1 mail=1 rcpt=2 data=1 rset=1 quit=1 commands=7")
	}, f.logs)
}

func TestCommandTimeout(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.CommandTimeout = 200 * time.Millisecond })
	c := dial(t, f.addr, "")
	c.reply()
	c.send("EHLO slow") // no CRLF: a slowloris line
	if got := c.reply(); !strings.HasPrefix(got[0], "421 4.4.2") || !strings.Contains(got[0], "timeout") {
		t.Errorf("got %q", got)
	}
	if !c.closed() {
		t.Error("connection left open")
	}
}

func TestDataTimeoutEndsTransaction(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.DataTimeout = 200 * time.Millisecond })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.cmd("MAIL FROM:<a@example.org>")
	c.cmd("RCPT TO:<b@example.com>")
	c.cmd("DATA")
	c.send("Subject: half\r\n")
	if got := c.reply(); !strings.HasPrefix(got[0], "421 4.4.2") {
		t.Errorf("got %q", got)
	}
	if _, msgs := f.rec.snapshot(); len(msgs) != 0 {
		t.Errorf("a message was completed: %q", msgs)
	}
}

func TestSessionTimeout(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.SessionTimeout = 300 * time.Millisecond })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := c.reply(); !strings.Contains(got[0], "421 4.4.2") || !strings.Contains(got[0], "session time limit") {
		t.Errorf("got %q", got)
	}
}

func TestTooManyErrors(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.MaxErrors = 3 })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	for i := 0; i < 2; i++ {
		c.cmd("RCPT TO:<b@example.com>") // 502: no MAIL
	}
	c.send("RCPT TO:<b@example.com>\r\n")
	c.reply()
	if got := c.reply(); !strings.HasPrefix(got[0], "421 4.7.0") || !strings.Contains(got[0], "too many errors") {
		t.Errorf("got %q", got)
	}
	if !c.closed() {
		t.Error("connection left open")
	}
}

func TestTooManyCommands(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.MaxCommands = 5 })
	c := dial(t, f.addr, "")
	c.reply()
	for i := 0; i < 5; i++ {
		c.cmd("NOOP")
	}
	if got := c.cmd("NOOP"); !strings.HasPrefix(got[0], "421 4.7.0") {
		t.Errorf("got %q", got)
	}
}

func TestConnectionLimits(t *testing.T) {
	gate := &listener.Gate{MaxConns: 3, MaxPerIP: 2}
	f := start(t, func(c *listener.Config) { c.Gate = gate })
	a1 := dial(t, f.addr, "127.0.0.2")
	a1.reply()
	a2 := dial(t, f.addr, "127.0.0.2")
	a2.reply()
	a3 := dial(t, f.addr, "127.0.0.2")
	got := a3.reply()
	if got[len(got)-1] != "421 4.7.0 Too many connections" || !strings.Contains(got[0], "127.0.0.2") {
		t.Errorf("third from one address: %q", got)
	}
	if !a3.closed() {
		t.Error("refused connection left open")
	}
	b1 := dial(t, f.addr, "127.0.0.3")
	if got := b1.reply(); !strings.HasPrefix(got[0], "220") {
		t.Errorf("another address: %q", got)
	}
	b2 := dial(t, f.addr, "127.0.0.4")
	if got := b2.reply(); got[len(got)-1] != "421 4.7.0 Too many connections" {
		t.Errorf("over the total: %q", got)
	}
	a1.cmd("QUIT")
	waitFor(t, func() bool { return gate.Open() == 2 }, f.logs)
	a4 := dial(t, f.addr, "127.0.0.2")
	if got := a4.reply(); !strings.HasPrefix(got[0], "220") {
		t.Errorf("after one closed: %q", got)
	}
}

func TestConnectionRate(t *testing.T) {
	gate := &listener.Gate{RatePerMin: 2}
	f := start(t, func(c *listener.Config) { c.Gate = gate })
	for i := 0; i < 2; i++ {
		c := dial(t, f.addr, "127.0.0.5")
		c.reply()
		c.cmd("QUIT")
	}
	c := dial(t, f.addr, "127.0.0.5")
	if got := c.reply(); got[len(got)-1] != "421 4.7.0 Too many connections" {
		t.Errorf("got %q", got)
	}
}

func TestPregreet(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.PregreetDelay = 300 * time.Millisecond })
	early := dial(t, f.addr, "")
	if l, _ := early.r.ReadString('\n'); !strings.HasPrefix(l, "220-mx.test.example") {
		t.Fatalf("first line %q", l)
	}
	early.send("EHLO bot.example\r\n")
	if got := early.reply(); !strings.HasPrefix(got[0], "554 5.5.1") {
		t.Errorf("talker: %q", got)
	}
	if !strings.Contains(f.logs.String(), "reason=pregreet") {
		t.Errorf("no pregreet log line:\n%s", f.logs)
	}
	patient := dial(t, f.addr, "")
	got := patient.reply()
	if len(got) != 2 || got[1] != "220 mx.test.example ESMTP Service Ready" {
		t.Fatalf("greeting: %q", got)
	}
	if got := patient.cmd("EHLO good.example"); !strings.HasPrefix(got[0], "250") {
		t.Errorf("patient client: %q", got)
	}
}

func TestProxyProtocol(t *testing.T) {
	f := start(t, func(c *listener.Config) {
		c.Proxy = true
		c.ProxyTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.10/32")}
	})
	t.Run("v1 from trusted", func(t *testing.T) {
		c := dial(t, f.addr, "127.0.0.10")
		c.send("PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n")
		c.reply()
		c.cmd("EHLO client.example.org")
		f.rec.mu.Lock()
		got := f.rec.clients[len(f.rec.clients)-1]
		f.rec.mu.Unlock()
		if got != netip.MustParseAddr("198.51.100.7") {
			t.Errorf("client address %v, want the one from the PROXY header", got)
		}
	})
	t.Run("v2 from trusted", func(t *testing.T) {
		c := dial(t, f.addr, "127.0.0.10")
		hdr := []byte("\r\n\r\n\x00\r\nQUIT\n")
		hdr = append(hdr, 0x21, 0x11, 0x00, 12) // v2 PROXY, TCP over IPv4, 12 bytes
		hdr = append(hdr, 203, 0, 113, 9, 192, 0, 2, 1, 0x9c, 0x40, 0, 25)
		c.send(string(hdr))
		c.reply()
		c.cmd("EHLO client.example.org")
		f.rec.mu.Lock()
		got := f.rec.clients[len(f.rec.clients)-1]
		f.rec.mu.Unlock()
		if got != netip.MustParseAddr("203.0.113.9") {
			t.Errorf("client address %v", got)
		}
	})
	t.Run("trusted without header", func(t *testing.T) {
		c := dial(t, f.addr, "127.0.0.10")
		c.send("EHLO client.example.org\r\n")
		if !c.closed() {
			t.Error("a trusted source without a PROXY header was served")
		}
	})
	t.Run("untrusted with header", func(t *testing.T) {
		c := dial(t, f.addr, "127.0.0.11")
		c.reply()
		c.send("PROXY TCP4 198.51.100.7 192.0.2.1 40000 25\r\n")
		if !c.closed() {
			t.Error("a PROXY header from an untrusted source was accepted")
		}
		if !strings.Contains(f.logs.String(), "not in proxy_trusted") {
			t.Errorf("no log line:\n%s", f.logs)
		}
	})
}

func TestImplicitTLS(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.TLS = testTLS(t); c.ImplicitTLS = true })
	raw, err := tls.Dial("tcp", f.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := &client{t: t, conn: raw, r: bufio.NewReader(raw)}
	c.reply()
	ehlo := c.cmd("EHLO client.example.org")
	if has(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered on implicit TLS: %q", ehlo)
	}
}

func TestDrain(t *testing.T) {
	f := start(t, nil)
	f.rec.hold = make(chan struct{})
	idle := dial(t, f.addr, "")
	idle.reply()
	idle.cmd("EHLO idle.example.org")
	busy := dial(t, f.addr, "")
	busy.reply()
	busy.cmd("EHLO busy.example.org")
	busy.cmd("MAIL FROM:<a@example.org>")
	busy.cmd("RCPT TO:<b@example.com>")
	busy.cmd("DATA")
	busy.send("Subject: in flight\r\n\r\nbody\r\n.\r\n")
	waitFor(t, func() bool { return len(f.lis.Conns()) == 2 }, f.logs)

	f.lis.Close()
	f.lis.Drain()
	if got := idle.reply(); !strings.HasPrefix(got[0], "421 4.3.2") {
		t.Errorf("idle session: %q", got)
	}
	close(f.rec.hold) // the transaction in flight completes
	if got := busy.reply(); !strings.HasPrefix(got[0], "250") {
		t.Errorf("transaction in flight: %q", got)
	}
	if got := busy.reply(); !strings.HasPrefix(got[0], "421 4.3.2") {
		t.Errorf("after its transaction: %q", got)
	}
	if _, msgs := f.rec.snapshot(); len(msgs) != 1 {
		t.Errorf("%d messages", len(msgs))
	}
	if _, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		t.Error("still accepting after Close")
	}
}

func waitFor(t *testing.T, cond func() bool, logs *syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package listener_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/listener"

	"github.com/smtpgateway/gateway/internal/syncbuf"
)

// holdBackend reads a whole message, reports it on read and then waits on
// release before answering: the moment a downstream may already hold the
// message while the client has no reply yet.
type holdBackend struct {
	read    chan struct{}
	release chan struct{}
}

func (b *holdBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &holdSession{b: b, lc: c.Conn().(*listener.Conn)}, nil
}

type holdSession struct {
	b  *holdBackend
	lc *listener.Conn
}

func (s *holdSession) Reset()        { s.lc.SetInTransaction(false) }
func (s *holdSession) Logout() error { return nil }
func (s *holdSession) Mail(string, *smtp.MailOptions) error {
	s.lc.SetInTransaction(true)
	return nil
}
func (s *holdSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *holdSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	s.b.read <- struct{}{}
	<-s.b.release
	return nil
}

func startHold(t *testing.T) (*listener.Listener, *holdBackend, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := listener.New(ln, listener.Config{Name: "test", Kind: "mx", Hostname: "mx.test.example", Logger: slog.New(slog.DiscardHandler)})
	b := &holdBackend{read: make(chan struct{}, 1), release: make(chan struct{})}
	srv := smtp.NewServer(b)
	srv.Domain = "mx.test.example"
	srv.MaxLineLength = 0
	srv.EnableBINARYMIME = true
	srv.ErrorLog = nopLog{}
	go srv.Serve(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	return g, b, ln.Addr().String()
}

// TestCommittingFromEndOfData: the guard counts a connection as committing
// from the moment it reads the client's end of data until the reply to it
// is written, even if the session has not said so yet: a shutdown that cut
// the connection in between could deliver a message whose 250 the client
// never hears.
func TestCommittingFromEndOfData(t *testing.T) {
	for _, tc := range []struct{ name, cmd, body string }{
		{"DATA", "DATA", "Subject: x\r\n\r\nbody\r\n.\r\n"},
		{"BDAT LAST", "", "BDAT 20 LAST\r\nSubject: x\r\n\r\nbody\r\n"},
		{"BDAT chunks", "", "BDAT 12\r\nSubject: x\r\nBDAT 8 LAST\r\n\r\nbody\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, b, addr := startHold(t)
			c := dial(t, addr, "")
			c.reply()
			c.cmd("EHLO client.example.org")
			c.cmd("MAIL FROM:<a@example.org>")
			c.cmd("RCPT TO:<b@example.com>")
			if tc.cmd != "" {
				if got := c.cmd(tc.cmd); !strings.HasPrefix(got[0], "354") {
					t.Fatalf("%s: %q", tc.cmd, got)
				}
			}
			conns := g.Conns()
			if len(conns) != 1 || conns[0].Committing() {
				t.Fatalf("before the end of data: %d conns, committing", len(conns))
			}
			c.send(tc.body)
			if tc.name == "BDAT chunks" {
				c.reply() // the first chunk's 250
			}
			select {
			case <-b.read:
			case <-time.After(5 * time.Second):
				t.Fatal("the message never reached the backend")
			}
			if !conns[0].Committing() {
				t.Error("end of data read, reply pending: not committing")
			}
			close(b.release)
			if got := c.reply(); !strings.HasPrefix(got[0], "250") {
				t.Fatalf("end of data: %q", got)
			}
			waitFor(t, func() bool { return !conns[0].Committing() }, &syncbuf.Buffer{})
		})
	}
}

// TestRefusedChunkIsNotCommitting: go-smtp refuses a BDAT before reading
// its chunk; the chunk's end must not leave the connection committing,
// which would hold up a shutdown for the relay's data timeout.
func TestRefusedChunkIsNotCommitting(t *testing.T) {
	g, _, addr := startHold(t)
	c := dial(t, addr, "")
	c.reply()
	c.cmd("EHLO client.example.org")
	c.send("BDAT 5 LAST\r\nhello")
	if got := c.reply(); !strings.HasPrefix(got[0], "5") {
		t.Fatalf("BDAT without a transaction: %q", got)
	}
	if got := c.cmd("NOOP"); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("NOOP: %q", got)
	}
	if conns := g.Conns(); len(conns) != 1 || conns[0].Committing() {
		t.Errorf("a refused chunk left the connection committing")
	}
}

// TestSetLimits: new limits reach connections accepted after the change;
// open ones keep theirs. The shared Gate changes the same way.
func TestSetLimits(t *testing.T) {
	gate := &listener.Gate{MaxConns: 10, MaxPerIP: 10}
	f := start(t, func(c *listener.Config) { c.Gate = gate })
	before := dial(t, f.addr, "127.0.0.7")
	before.reply()

	lim := f.lis.Limits()
	lim.MaxCommands = 3
	f.lis.SetLimits(lim)
	gate.SetLimits(10, 2, 0)

	after := dial(t, f.addr, "127.0.0.7")
	after.reply()
	for i := 0; i < 3; i++ {
		after.cmd("NOOP")
	}
	if got := after.cmd("NOOP"); !strings.HasPrefix(got[0], "421 4.7.0") {
		t.Errorf("4th command with max 3: %q", got)
	}
	for i := 0; i < 6; i++ {
		if got := before.cmd("NOOP"); !strings.HasPrefix(got[0], "250") {
			t.Fatalf("a connection from before the change: %q", got)
		}
	}
	waitFor(t, func() bool { return gate.Open() == 1 }, f.logs)
	second := dial(t, f.addr, "127.0.0.7")
	second.reply()
	third := dial(t, f.addr, "127.0.0.7")
	if got := third.reply(); got[len(got)-1] != "421 4.7.0 Too many connections" {
		t.Errorf("3rd connection with max 2 per address: %q", got)
	}
	if got := f.lis.Limits(); got.MaxLineLength != 512 || got.CommandTimeout != 10*time.Second {
		t.Errorf("Limits: %+v", got)
	}
}

// TestPipelinedLongLinesAcrossReads: long command lines pipelined in
// batches that end mid-line make the guard compact its buffer; every line
// must reach go-smtp exactly once. (The buffer once compacted into a
// zero-length slice, so lines already executed were executed again: 10,000
// RCPTs became 15,000.)
func TestPipelinedLongLinesAcrossReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	g := listener.New(ln, listener.Config{Name: "t", Kind: "mx", Hostname: "mx.test.example", MaxLineLength: 4096, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	rec := &recorder{}
	srv := smtp.NewServer(rec)
	srv.MaxLineLength = 0
	srv.ErrorLog = nopLog{}
	go srv.Serve(g)
	t.Cleanup(func() { g.Close(); srv.Close() })

	c := dial(t, ln.Addr().String(), "")
	c.reply()
	c.cmd("EHLO client.example.org")
	const n = 2000
	go func() {
		var b strings.Builder
		for i := range n {
			if i%2 == 0 {
				fmt.Fprintf(&b, "MAIL FROM:<s%d@example.org>\r\n", i)
			} else {
				fmt.Fprintf(&b, "RSET %s\r\n", strings.Repeat("r", 1000+i))
			}
			if b.Len() > 32<<10 || i == n-1 {
				if _, err := c.conn.Write([]byte(b.String())); err != nil {
					return
				}
				b.Reset()
			}
		}
	}()
	for i := range n {
		if got := c.reply(); !strings.HasPrefix(got[0], "250") {
			t.Fatalf("command %d: %q", i, got)
		}
	}
	if got := c.cmd("NOOP"); !strings.HasPrefix(got[0], "250 2.0.0 I have successfully done nothing") {
		t.Fatalf("NOOP after %d commands got %q: more replies than commands", n, got)
	}
	mails, _ := rec.snapshot()
	if len(mails) != n/2 {
		t.Errorf("%d MAIL commands reached the backend, want %d", len(mails), n/2)
	}
	for i, m := range mails {
		if want := fmt.Sprintf("s%d@example.org", 2*i); m != want {
			t.Fatalf("MAIL %d: %q, want %q", i, m, want)
		}
	}
}

package listener

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The differential framing test runs the guard under a real go-smtp server
// and checks, at every read go-smtp makes, that both frame the stream the
// same way: the guard's mode (command line, DATA, BDAT chunk) against the
// reader go-smtp is reading with, learnt from the call stack (its
// textproto line reader, its DATA dot reader, the chunk reader of
// handleBdat). In DATA and BDAT the guard hands go-smtp one byte per read,
// so go-smtp's buffer never holds bytes ahead of its own reader: if go-smtp
// ended the data earlier than the guard, its next command read comes while
// the guard is still in the data; later, its data read comes while the
// guard is reading commands. Either is a smuggling gap (a command one
// side executes and the other takes for message text).

// diffConn is the guard's Conn as go-smtp sees it in this test.
type diffConn struct {
	*Conn
	mu       sync.Mutex
	problems []string
	reads    int
	done     chan struct{}
	once     sync.Once
}

func (d *diffConn) Read(p []byte) (int, error) {
	c := d.Conn
	guard := "closed"
	if !c.closed.Load() && len(c.deliver) == 0 {
		guard = [...]string{modeCmd: "command", modeData: "data", modeBDAT: "bdat"}[c.mode]
	}
	reader := goSMTPReader()
	d.mu.Lock()
	d.reads++
	if guard != "closed" && guard != reader && len(d.problems) < 5 {
		d.problems = append(d.problems, fmt.Sprintf("read %d: go-smtp reads with its %s reader while the guard is in %s mode", d.reads, reader, guard))
	}
	d.mu.Unlock()
	if c.mode != modeCmd && len(p) > 1 {
		p = p[:1]
	}
	return c.Read(p)
}

func (d *diffConn) Close() error {
	err := d.Conn.Close()
	d.once.Do(func() { close(d.done) })
	return err
}

func (d *diffConn) report() (problems []string, reads int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.problems...), d.reads
}

// goSMTPReader names the go-smtp reader that is reading now.
func goSMTPReader() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var seen []string
	for {
		f, more := frames.Next()
		switch {
		case strings.HasSuffix(f.Function, "go-smtp.(*dataReader).Read"):
			return "data"
		case strings.HasSuffix(f.Function, "go-smtp.(*Conn).handleBdat"):
			return "bdat"
		case strings.HasSuffix(f.Function, "go-smtp.(*Conn).readLine"):
			return "command"
		}
		seen = append(seen, f.Function)
		if !more {
			return "unknown (" + strings.Join(seen, " < ") + ")"
		}
	}
}

// diffListener wraps each guarded connection in a diffConn, found again by
// the client's address.
type diffListener struct {
	*Listener
	mu    sync.Mutex
	conns map[string]*diffConn
}

func (l *diffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := &diffConn{Conn: c.(*Conn), done: make(chan struct{})}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = d
	l.mu.Unlock()
	return d, nil
}

func (l *diffListener) take(addr string) *diffConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.conns[addr]
	delete(l.conns, addr)
	return d
}

var diffServer struct {
	once sync.Once
	ln   *diffListener
	addr string
}

// diffBackend accepts everything but recipients with "bad" in them, and
// reads every message to its end.
type diffBackend struct{}

func (diffBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return diffSession{}, nil }

type diffSession struct{}

func (diffSession) Reset()                               {}
func (diffSession) Logout() error                        { return nil }
func (diffSession) Mail(string, *smtp.MailOptions) error { return nil }
func (diffSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (diffSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.Contains(to, "bad") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
	}
	return nil
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

func startDiffServer(t *testing.T) (*diffListener, string) {
	diffServer.once.Do(func() {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := New(inner, Config{Name: "diff", Kind: "mx", Hostname: "mx.test.example",
			Logger: slog.New(slog.DiscardHandler)})
		diffServer.ln = &diffListener{Listener: g, conns: map[string]*diffConn{}}
		srv := smtp.NewServer(diffBackend{})
		srv.Domain = "mx.test.example"
		srv.MaxLineLength = 0
		srv.ErrorLog = quietLog{}
		go srv.Serve(diffServer.ln)
		diffServer.addr = inner.Addr().String()
	})
	return diffServer.ln, diffServer.addr
}

// FuzzFramingDifferential sends the input as it is, after EHLO, and
// checks that the guard and go-smtp agree on every command line, every
// end of DATA and every BDAT chunk (see diffConn).
func FuzzFramingDifferential(f *testing.F) {
	tx := "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	for _, seed := range []string{
		tx + "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		tx + "DATA\r\nbody\n.\nMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n",                    // bare LF dot
		tx + "DATA\r\nbody\r\n.\nRCPT TO:<evil@x.example>\r\n.\r\nNOOP\r\n",                    // CRLF dot LF
		tx + "DATA\r\nbody\n.\r\nRSET\r\n\r\n.\r\nNOOP\r\n",                                    // LF dot CRLF
		tx + "DATA\r\nbody\r.\r\nRSET\r\n\r\n.\r\nNOOP\r\n",                                    // bare CR dot
		tx + "DATA\r\nbody\r\n.\rRSET\r\n.\r\r\n.\r\nNOOP\r\n",                                 // dot bare CR
		tx + "DATA\r\n..\r\n.x\r\n\r\n..\r\n.\r\nNOOP\r\n",                                     // dot stuffing
		tx + "DATA\r\n.\r\nNOOP\r\n",                                                           // empty message
		tx + "BDAT 12\r\nRSET\r\nNOOP\r\nBDAT 0 LAST\r\nNOOP\r\n",                              // commands in a chunk
		tx + "BDAT 5 LAST\r\n\r\n.\r\nNOOP\r\n",                                                // a dot in a chunk
		tx + "BDAT 3\r\nabcBDAT 4 last\r\nwxyzNOOP\r\n",                                        // chunks back to back
		"BDAT 6\r\nRSET\r\nNOOP\r\n",                                                           // chunk of a refused BDAT
		"BDAT  4\r\nNOOPBDAT 4294967296\r\nNOOP\r\nBDAT 4 MORE\r\nNOOP\r\nBDAT -1\r\nNOOP\r\n", // odd sizes
		tx + "DATA\r\n" + tx + "DATA\r\nRSET\r\n.\r\n.\r\n",                                    // pipelining into DATA
		"RSET\nNOOP\rNOOP\r\n\x00NOOP\r\nDATA\r\nx\r\n.\r\nXDAT\r\nBDAT 3\r\nabc",              // bare LF, bare CR, NUL, unknown verbs
		"AUTH PLAIN\r\nDATA\r\n*\r\nSTARTTLS\r\nNOOP\r\n",
		tx + "DATA X\r\nx\r\n.\r\nBDAT 2 LAST X\r\nxxNOOP\r\n", // refused DATA, malformed BDAT
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			in = in[:4096]
		}
		ln, addr := startDiffServer(t)
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		stream := append([]byte("EHLO client.example\r\n"), in...)
		go func() {
			c.Write(stream)
			c.(*net.TCPConn).CloseWrite()
		}()
		// Read every reply until the server ends the connection.
		if _, err := io.Copy(io.Discard, bufio.NewReader(c)); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Fatalf("reading replies: %v (stream %q)", err, stream)
		}
		var d *diffConn
		for i := 0; i < 500 && d == nil; i++ { // Accept may lag the dial
			if d = ln.take(c.LocalAddr().String()); d == nil {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if d == nil {
			t.Fatal("the server never saw the connection")
		}
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("the server did not end the connection (stream %q)", stream)
		}
		p, reads := d.report()
		if len(p) > 0 {
			t.Fatalf("guard and go-smtp frame the stream differently:\n%s\nstream %q", strings.Join(p, "\n"), stream)
		}
		if reads == 0 {
			t.Fatal("no reads recorded: the test checks nothing")
		}
	})
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

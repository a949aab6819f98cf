package listener_test

import (
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/internal/syncbuf"
	"github.com/smtpgateway/gateway/listener"
)

// authRecorder is the recorder with AUTH PLAIN that accepts anyone.
type authRecorder struct{ *recorder }

func (a authRecorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := a.recorder.NewSession(c)
	return authSession{s.(*recSession)}, err
}

type authSession struct{ *recSession }

func (authSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
}

// startAuth is start with AUTH and the default line limit.
func startAuth(t *testing.T) (addr string, logs *syncbuf.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncbuf.Buffer{}
	g := listener.New(ln, listener.Config{Name: "test", Kind: "submission", Hostname: "mx.test.example",
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv := smtp.NewServer(authRecorder{&recorder{}})
	srv.Domain = "mx.test.example"
	srv.MaxLineLength = 0
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLog{}
	go srv.Serve(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	return ln.Addr().String(), logs
}

// The default command line limit is 1000 (RFC 5321 §4.5.3.1.4), but AUTH
// with an initial response and the SASL response after 334 may be 12288
// (RFC 4954 §4).
func TestLineLimitDefaultAndAUTH(t *testing.T) {
	addr, _ := startAuth(t)
	plain := func(n int) string { // a PLAIN response of n base64 bytes
		raw := "\x00user\x00" + strings.Repeat("p", n*3/4-6)
		return base64.StdEncoding.EncodeToString([]byte(raw))
	}
	tests := []struct {
		name  string
		lines []string // sent in turn; the last one's reply is checked
		want  string
		close bool
	}{
		{"1000 bytes", []string{"NOOP " + strings.Repeat("n", 995)}, "250 ", false},
		{"1001 bytes", []string{"NOOP " + strings.Repeat("n", 996)}, "500 5.5.2 Line too long", true},
		{"AUTH initial response", []string{"AUTH PLAIN " + plain(12000)}, "235 ", false},
		{"AUTH initial response too long", []string{"AUTH PLAIN " + plain(12400)}, "500 5.5.2 Line too long", true},
		{"SASL response after 334", []string{"AUTH PLAIN", plain(12000)}, "235 ", false},
		{"SASL response too long", []string{"AUTH PLAIN", plain(12400)}, "500 5.5.2 Line too long", true},
		{"after AUTH the limit is 1000 again", []string{"AUTH PLAIN", plain(12000), "NOOP " + strings.Repeat("n", 996)}, "500 5.5.2 Line too long", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, "")
			c.reply()
			c.cmd("EHLO client.example")
			var got []string
			for _, l := range tc.lines {
				got = c.cmd(l)
			}
			if !strings.HasPrefix(got[len(got)-1], tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.close && !c.closed() {
				t.Fatal("connection left open")
			}
			if !tc.close {
				if got := c.cmd("NOOP"); !strings.HasPrefix(got[0], "250 ") {
					t.Fatalf("NOOP after it: %q", got)
				}
			}
		})
	}
}

// Control characters in a command line (HTAB aside): 501 5.5.2, never
// echoed, never handed to go-smtp; the session goes on.
func TestControlCharactersRefused(t *testing.T) {
	f := start(t, nil)
	tests := []struct{ name, line string }{
		{"CR in EHLO", "EHLO evil\rX-Injected: yes"},
		{"NUL in MAIL", "MAIL FROM:<a\x00b@x.example>"},
		{"trailing bare CR", "NOOP\r"},
		{"BEL", "NOOP \x07"},
		{"DEL", "NOOP \x7f"},
		{"ESC in the verb", "NO\x1bOP"},
	}
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example")
	for _, tc := range tests {
		got := c.cmd(tc.line)
		if len(got) != 1 || got[0] != "501 5.5.2 Syntax error: control characters in command line" {
			t.Errorf("%s: got %q", tc.name, got)
		}
	}
	if got := c.cmd("NOOP a\tb"); !strings.HasPrefix(got[0], "250 ") {
		t.Errorf("HTAB: got %q", got)
	}
	if got := c.cmd("MAIL FROM:<clean@x.example>"); !strings.HasPrefix(got[0], "250 ") {
		t.Errorf("MAIL after the refusals: %q", got)
	}
	if mails, _ := f.rec.snapshot(); len(mails) != 1 || mails[0] != "clean@x.example" {
		t.Errorf("go-smtp got MAIL %q", mails)
	}
	if n := strings.Count(f.logs.String(), "reason=control_characters"); n != len(tests) {
		t.Errorf("%d log lines, want %d:\n%s", n, len(tests), f.logs.String())
	}
}

// An unrecognized command gets 500 5.5.1 whatever its length (go-smtp says
// 501 Bad command to any verb that is not four letters), and counts as an
// error toward max_errors.
func TestUnknownCommand(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.MaxErrors = 4 })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO client.example")
	for _, l := range []string{"XYZZY", "FOO bar", "QU"} {
		if got := c.cmd(l); len(got) != 1 || got[0] != "500 5.5.1 Error: command not recognized" {
			t.Errorf("%s: got %q", l, got)
		}
	}
	if got := c.cmd("HELLO there"); got[0] != "500 5.5.1 Error: command not recognized" || !strings.HasPrefix(c.reply()[0], "421 4.7.0") {
		t.Errorf("the 4th error: got %q, then no 421", got)
	}
}

// A BDAT chunk or DATA cut short by a clean close (FIN) is no message: the
// session's reader gets an error, never io.EOF (issue 12, bug 1).
func TestCutShortByFIN(t *testing.T) {
	for _, open := range []string{"BDAT 100 LAST\r\n", "BDAT 100\r\n", "DATA\r\n"} {
		t.Run(strings.TrimSpace(open), func(t *testing.T) {
			f := start(t, nil)
			c := dial(t, f.addr, "")
			c.reply()
			c.cmd("EHLO client.example")
			c.cmd("MAIL FROM:<a@x.example>")
			c.cmd("RCPT TO:<b@y.example>")
			c.send(open)
			if open == "DATA\r\n" {
				c.reply()
			}
			c.send("Subject: cut\r\n\r\nshort")
			if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.closed()
			time.Sleep(50 * time.Millisecond)
			if _, msgs := f.rec.snapshot(); len(msgs) != 0 {
				t.Fatalf("a cut message reached the session as complete: %q", msgs)
			}
		})
	}
}

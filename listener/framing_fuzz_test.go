package listener_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/listener"
)

var framing struct {
	once sync.Once
	addr string
}

// framingServer is one guarded go-smtp server for the whole fuzz run.
func framingServer(t *testing.T) string {
	framing.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := listener.New(ln, listener.Config{Name: "fuzz", Kind: "mx", Hostname: "mx.test.example",
			MaxLineLength: 4096, Logger: slog.New(slog.DiscardHandler)})
		srv := smtp.NewServer(&recorder{})
		srv.Domain = "mx.test.example"
		srv.MaxLineLength = 0
		srv.ErrorLog = nopLog{}
		go srv.Serve(g)
		framing.addr = ln.Addr().String()
	})
	return framing.addr
}

// FuzzCommandFraming sends command lines taken from the input, pipelined
// and cut into writes at places the input chooses, through the guard to
// go-smtp. However the bytes arrive, every line must be one command: one
// reply each, then NOOP's own reply. (Each line is an RSET carrying the
// input as its argument: modal commands such as DATA or AUTH would change
// what a line is.) A line with a control character gets the guard's 501
// instead, still one reply.
func FuzzCommandFraming(f *testing.F) {
	f.Add([]byte("EHLO a.example\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nRSET\n"), []byte{3, 50, 7})
	f.Add([]byte(strings.Repeat("NOOP "+strings.Repeat("x", 900)+"\n", 40)), []byte{200, 1, 255, 13})
	f.Add([]byte("\n\r\n\x00\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\nHELO\n"), []byte{1})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		var lines []string
		for _, l := range strings.Split(string(in), "\n") {
			if len(lines) >= 200 {
				break
			}
			// The content goes into RSET's argument, which go-smtp ignores:
			// every line is a command with one 250 reply, whatever it holds.
			l = strings.ReplaceAll(l, "\r", "")
			lines = append(lines, "RSET x"+l[:min(len(l), 1000)])
		}
		var stream bytes.Buffer
		for _, l := range lines {
			stream.WriteString(l + "\r\n")
		}
		stream.WriteString("NOOP\r\n")

		c, err := net.DialTimeout("tcp", framingServer(t), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		readReply := func() string {
			var last string
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("reading a reply: %v (stream %q)", err, stream.String())
				}
				last = l
				if len(l) < 4 || l[3] != '-' {
					return last
				}
			}
		}
		readReply() // greeting
		go func() {
			b := stream.Bytes()
			for i := 0; len(b) > 0; i++ {
				n := len(b)
				if len(cuts) > 0 {
					n = min(n, int(cuts[i%len(cuts)])*17+1)
				}
				if _, err := c.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
		}()
		for i, l := range lines {
			// A line with a control character (HTAB aside) is refused by
			// the guard itself; any other one is go-smtp's RSET.
			want := "250 "
			if strings.ContainsFunc(l, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
				want = "501 5.5.2 Syntax error: control characters in command line"
			}
			if rep := readReply(); !strings.HasPrefix(rep, want) || strings.Contains(rep, "I have successfully done nothing") {
				t.Fatalf("reply %d of %d is %q, want %q: commands were lost or mangled (lines %q)", i+1, len(lines), rep, want, lines)
			}
		}
		if rep := readReply(); !strings.HasPrefix(rep, "250 2.0.0 I have successfully done nothing") {
			t.Fatalf("after %d commands, NOOP got %q: more replies than commands (lines %q)", len(lines), rep, lines)
		}
	})
}

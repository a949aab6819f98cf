package e2e

// A client that goes away in the middle of its message (issue 12, bug 1).
// Setup: the gateway, with STARTTLS and metrics, in front of the recording
// raw downstream. Each case opens a transaction, sends only part of its
// message (DATA without the final dot, or 21 bytes of a 100-byte BDAT
// chunk, LAST or not), then ends the connection: FIN, TLS close_notify, or
// RST. Proof: in every case the gateway logs `aborted` and never `relayed`,
// the client never hears 250, the downstream completes no transaction (no
// final dot ever reached it), and the relay metric counts each one as
// outcome="aborted", not "failed" (which is for downstream trouble).

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// cutClient is a bare SMTP client that keeps hold of its TCP connection,
// so that a test can end it exactly how it wants (FIN, close_notify, RST).
type cutClient struct {
	tcp  *net.TCPConn
	conn net.Conn // tcp, or the TLS connection over it
	r    *bufio.Reader
}

func dialCut(t *testing.T, addr, localIP string) *cutClient {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cc := &cutClient{tcp: c.(*net.TCPConn), conn: c, r: bufio.NewReader(c)}
	if code, text := cc.reply(t); code != 220 {
		t.Fatalf("greeting: %d %s", code, text)
	}
	return cc
}

// reply reads one reply and returns its code and last line.
func (c *cutClient) reply(t *testing.T) (int, string) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for range 100 {
		l, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v (got %q)", err, l)
		}
		if len(l) < 4 {
			t.Fatalf("short reply line %q", l)
		}
		if l[3] == ' ' || l[3] == '\r' {
			var code int
			fmt.Sscanf(l[:3], "%d", &code)
			return code, strings.TrimRight(l, "\r\n")
		}
	}
	t.Fatal("reply of more than 100 lines")
	return 0, ""
}

func (c *cutClient) send(t *testing.T, s string) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func (c *cutClient) cmd(t *testing.T, line string, want int) {
	t.Helper()
	c.send(t, line+"\r\n")
	if code, text := c.reply(t); code != want {
		t.Fatalf("%s: got %q, want %d", line, text, want)
	}
}

func (c *cutClient) startTLS(t *testing.T) {
	t.Helper()
	c.cmd(t, "STARTTLS", 220)
	tc := tls.Client(c.tcp, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test client, self-signed server
	_ = tc.SetDeadline(time.Now().Add(20 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// rest reads what the server still sends until it closes (bounded).
func (c *cutClient) rest() string {
	_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, _ := io.ReadAll(io.LimitReader(c.r, 1<<20))
	return string(b)
}

func TestClientGoneMidMessage(t *testing.T) {
	e2etest.Require(t, "curl")
	cert, key := writeCert(t)
	sink := startRawSink(t)
	mx := e2etest.FreeAddr(t, "127.0.0.1")
	met := e2etest.FreeAddr(t, "127.0.0.1")
	cfg := opts{mx: mx, downstream: "smtp://" + sink.addr(), dns: startDNS(t),
		extra: fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n[metrics]\naddress = %q\n", cert, key, met)}
	gw := e2etest.StartGateway(t, cfg.toml(), mx, met)

	const part = "Subject: cut\r\n\r\nshort" // 21 bytes
	type cutCase struct {
		name  string
		tls   bool
		start string // what opens the message: DATA or a BDAT command line
		end   string // fin, close_notify, rst
	}
	var cases []cutCase
	for _, tlsOn := range []bool{false, true} {
		ends := []string{"fin", "rst"}
		if tlsOn {
			ends = []string{"close_notify", "fin", "rst"}
		}
		for _, start := range []string{"DATA", "BDAT 100 LAST", "BDAT 100"} {
			for _, end := range ends {
				name := map[bool]string{false: "plain", true: "tls"}[tlsOn] + "/" + strings.ReplaceAll(start, " ", "_") + "/" + end
				cases = append(cases, cutCase{name, tlsOn, start, end})
			}
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialCut(t, mx, fmt.Sprintf("127.0.2.%d", i+1))
			c.cmd(t, "EHLO "+clientHELO, 250)
			if tc.tls {
				c.startTLS(t)
				c.cmd(t, "EHLO "+clientHELO, 250)
			}
			c.cmd(t, "MAIL FROM:<"+sender+">", 250)
			c.cmd(t, "RCPT TO:<bob@example.com>", 250)
			if tc.start == "DATA" {
				c.cmd(t, "DATA", 354)
				c.send(t, part)
			} else {
				c.send(t, tc.start+"\r\n"+part)
			}
			time.Sleep(100 * time.Millisecond) // let the gateway stream what it got
			heard := ""
			switch tc.end {
			case "fin":
				if err := c.tcp.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				heard = c.rest()
			case "close_notify":
				if err := c.conn.(*tls.Conn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				heard = c.rest()
			case "rst":
				_ = c.tcp.SetLinger(0)
				c.tcp.Close()
			}
			if strings.Contains(heard, "250 ") {
				t.Errorf("the client heard 250 for a message it never finished: %q", heard)
			}
			deadline := time.Now().Add(10 * time.Second)
			for countLines(gw.Logs(), "msg=aborted") < i+1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := countLines(gw.Logs(), "msg=aborted"); n != i+1 {
				t.Errorf("%d aborted lines after %d cut messages", n, i+1)
			}
			if strings.Contains(gw.Logs(), "msg=relayed") {
				t.Fatalf("a cut message was relayed:\n%s", gw.Logs())
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	streams, messages := sink.snapshot()
	mails := 0
	for _, s := range streams {
		mails += countMAIL(s)
	}
	if len(messages) != 0 || mails != 0 {
		t.Errorf("the downstream completed %d transactions (%d recorded messages), want none: %q", mails, len(messages), messages)
	}
	samples, _ := scrape(t, met)
	downstream := "smtp://" + sink.addr()
	if v, _ := sum(samples, "gateway_relay_messages_total", "downstream", downstream, "outcome", "aborted"); int(v) != len(cases) {
		t.Errorf("gateway_relay_messages_total{outcome=\"aborted\"} = %v, want %d", v, len(cases))
	}
	if v, n := sum(samples, "gateway_relay_messages_total", "outcome", "failed"); n != 0 {
		t.Errorf("gateway_relay_messages_total{outcome=\"failed\"} = %v: a client that went away is no downstream failure", v)
	}
}

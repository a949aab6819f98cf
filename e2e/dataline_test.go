package e2e

// Lines inside a message (issue 12): a line without end, and the ".<CR>"
// line go-smtp's dot reader drops. Setup: the gateway with default limits
// in front of the recording raw downstream. Proof: a 20 MB line, over DATA
// and over BDAT, gets "552 5.3.4" once the client has sent it all (the
// session goes on), and at most a little more than max_data_line_length of
// it reaches the downstream, which completes no transaction for it; a line
// of exactly 65536 bytes is delivered whole; "<CRLF>.<CR><CR><LF>" gets
// the bare-CR refusal instead of being delivered with its CR dropped.

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestDataLineLimits(t *testing.T) {
	sink := startRawSink(t)
	mx := e2etest.FreeAddr(t, "127.0.0.1")
	cfg := opts{mx: mx, downstream: "smtp://" + sink.addr(), dns: startDNS(t)}
	gw := e2etest.StartGateway(t, cfg.toml(), mx)

	const huge = 20 << 20
	const long = "5.3.4 Error: line 2 of the message is too long for this server"
	open := func(t *testing.T, ip string) *e2etest.Raw {
		r := e2etest.DialRaw(t, mx, ip)
		greetEHLO(t, r, clientHELO)
		wantReply(t, "MAIL", r.Cmd(t, "MAIL FROM:<"+sender+">"), 250, "")
		wantReply(t, "RCPT", r.Cmd(t, "RCPT TO:<bob@example.com>"), 250, "")
		return r
	}
	// sendLine writes head, n bytes of 'x', then tail, in 64 KB pieces.
	sendLine := func(t *testing.T, r *e2etest.Raw, head string, n int, tail string) {
		r.Send(t, []byte(head))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			r.Send(t, chunk[:min(len(chunk), n-sent)])
		}
		r.Send(t, []byte(tail))
	}

	t.Run("20 MB line over DATA", func(t *testing.T) {
		r := open(t, "127.0.0.60")
		wantReply(t, "DATA", r.Cmd(t, "DATA"), 354, "")
		sendLine(t, r, "Subject: long\r\n", huge, "\r\nend\r\n.\r\n")
		wantReply(t, "end of data", r.ReadReply(t), 552, long)
		wantReply(t, "NOOP after it", r.Cmd(t, "NOOP"), 250, "")
	})
	t.Run("20 MB line over BDAT", func(t *testing.T) {
		r := open(t, "127.0.0.61")
		body := len("Subject: long\r\n") + huge + len("\r\nend\r\n")
		sendLine(t, r, fmt.Sprintf("BDAT %d LAST\r\nSubject: long\r\n", body), huge, "\r\nend\r\n")
		wantReply(t, "BDAT", r.ReadReply(t), 552, long)
		wantReply(t, "NOOP after it", r.Cmd(t, "NOOP"), 250, "")
	})
	t.Run("a line at the limit", func(t *testing.T) {
		r := open(t, "127.0.0.62")
		wantReply(t, "DATA", r.Cmd(t, "DATA"), 354, "")
		sendLine(t, r, "Subject: at the limit\r\n", 65536, "\r\n.\r\n")
		wantReply(t, "end of data", r.ReadReply(t), 250, "")
	})
	t.Run("dot and bare CR", func(t *testing.T) {
		r := open(t, "127.0.0.63")
		wantReply(t, "DATA", r.Cmd(t, "DATA"), 354, "")
		r.Send(t, []byte("Subject: dot cr\r\n\r\nhi\r\n.\r\r\nafter\r\n.\r\n"))
		wantReply(t, "end of data", r.ReadReply(t), 550, "5.5.2 Error: bare <CR> received")
		wantReply(t, "NOOP after it", r.Cmd(t, "NOOP"), 250, "")
	})

	time.Sleep(200 * time.Millisecond)
	streams, messages := sink.snapshot()
	total, mails := 0, 0
	for _, s := range streams {
		total += len(s)
		mails += countMAIL(s)
	}
	if len(messages) != 1 || mails != 1 {
		t.Fatalf("the downstream completed %d transactions (%d messages), want only the one at the limit", mails, len(messages))
	}
	if !bytes.Contains(messages[0], append(bytes.Repeat([]byte("x"), 65536), '\r', '\n')) {
		t.Errorf("the line at the limit did not arrive whole")
	}
	// Each refused message may have streamed up to its 64 KB line limit
	// plus a buffer or two; 20 MB must not have.
	t.Logf("downstream received %d bytes in all", total)
	if total > 2<<20 {
		t.Errorf("the downstream received %d bytes: the long lines were streamed", total)
	}
	if n := waitCount(gw, 2, "check=data_line_length", "code=552"); n != 2 {
		t.Errorf("%d data_line_length log lines, want 2", n)
	}
}

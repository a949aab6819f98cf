package e2etest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawTimeout bounds each read and write of a Raw client.
const rawTimeout = 30 * time.Second

// maxReplyLines bounds a multi-line reply, so a broken server cannot make a
// test read forever.
const maxReplyLines = 1000

// Reply is one SMTP reply (RFC 5321 §4.2): a code and one or more lines.
type Reply struct {
	// Code is the three-digit reply code.
	Code int
	// Lines is the text of each line after "250-" or "250 ", without
	// CRLF.
	Lines []string
	// Raw is the reply exactly as received, CRLFs included.
	Raw string
}

// Text returns the reply's lines joined by "\n".
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// String returns the reply as received, without the final CRLF.
func (r Reply) String() string { return strings.TrimRight(r.Raw, "\r\n") }

// Raw is an SMTP client for tests that need exact bytes on the wire: it
// sends what it is given and reports what it reads, with no protocol logic
// besides reading a complete reply.
type Raw struct {
	// Greeting is the server's greeting, read by DialRaw.
	Greeting Reply

	conn net.Conn
	r    *bufio.Reader
}

// DialRaw connects to addr, from localIP when it is not "" (any 127.0.0.0/8
// address works on Linux loopback, e.g. "127.0.0.2" to look like another
// client), and reads the greeting. A cleanup closes the connection.
func DialRaw(t testing.TB, addr, localIP string) *Raw {
	t.Helper()
	d := net.Dialer{Timeout: rawTimeout}
	if localIP != "" {
		ip := net.ParseIP(localIP)
		if ip == nil {
			t.Fatalf("DialRaw: bad local IP %q", localIP)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("DialRaw %s: %v", addr, err)
	}
	r := &Raw{conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(r.Close)
	r.Greeting = r.ReadReply(t)
	return r
}

// WrapRaw is DialRaw for a connection the test dialed itself and may have
// written to already (a PROXY protocol header, say): it reads the greeting.
// A cleanup closes the connection.
func WrapRaw(t testing.TB, conn net.Conn) *Raw {
	t.Helper()
	r := &Raw{conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(r.Close)
	r.Greeting = r.ReadReply(t)
	return r
}

// Cmd sends line followed by CRLF and reads the reply.
func (r *Raw) Cmd(t testing.TB, line string) Reply {
	t.Helper()
	r.Send(t, []byte(line+"\r\n"))
	return r.ReadReply(t)
}

// Send writes data as is: no CRLF is added, no dot is stuffed.
func (r *Raw) Send(t testing.TB, data []byte) {
	t.Helper()
	_ = r.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := r.conn.Write(data); err != nil {
		t.Fatalf("Raw.Send: %v", err)
	}
}

// Write writes p as is and returns the error instead of failing the test:
// for goroutines other than the test's, which must not call Send.
func (r *Raw) Write(p []byte) (int, error) {
	_ = r.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	return r.conn.Write(p)
}

// ReadReply reads one complete reply, failing the test on a malformed or
// missing one.
func (r *Raw) ReadReply(t testing.TB) Reply {
	t.Helper()
	rep, err := r.TryReadReply()
	if err != nil {
		t.Fatalf("Raw.ReadReply: %v", err)
	}
	return rep
}

// TryReadReply reads one complete reply and returns an error instead of
// failing the test: io.EOF when the server closed the connection cleanly
// before a reply began.
func (r *Raw) TryReadReply() (Reply, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(rawTimeout))
	return readReply(r.r)
}

// WaitClosed fails the test unless the server closes the connection (reads
// EOF) within timeout; a reply read meanwhile is a failure too.
func (r *Raw) WaitClosed(t testing.TB, timeout time.Duration) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(timeout))
	b, err := r.r.ReadByte()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
		return
	}
	if err != nil {
		t.Fatalf("Raw.WaitClosed: %v", err)
	}
	rest, _ := r.r.Peek(r.r.Buffered())
	t.Fatalf("Raw.WaitClosed: read %q instead of EOF", append([]byte{b}, rest...))
}

// isReset reports whether err is a connection reset: a server that closes
// with unread input in its buffer sends RST instead of FIN.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// StartTLS sends STARTTLS, requires 220 and performs the TLS handshake
// (RFC 3207 §4) without verifying the certificate; after it, Cmd and Send
// go through TLS.
func (r *Raw) StartTLS(t testing.TB) {
	t.Helper()
	if rep := r.Cmd(t, "STARTTLS"); rep.Code != 220 {
		t.Fatalf("Raw.StartTLS: STARTTLS got %q", rep.String())
	}
	if n := r.r.Buffered(); n > 0 {
		// RFC 3207 §4: nothing may follow the 220 in the clear.
		extra, _ := r.r.Peek(n)
		t.Fatalf("Raw.StartTLS: server sent %q after 220, before the handshake", extra)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test client, self-signed servers
	_ = tc.SetDeadline(time.Now().Add(rawTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("Raw.StartTLS: handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	r.conn, r.r = tc, bufio.NewReader(tc)
}

// Handshake performs the client side of a TLS handshake now, without
// sending STARTTLS: for tests that sent STARTTLS themselves together with
// other bytes (STARTTLS injection). Bytes the server sent in the clear
// before the handshake fail the test.
func (r *Raw) Handshake(t testing.TB) {
	t.Helper()
	if n := r.r.Buffered(); n > 0 {
		extra, _ := r.r.Peek(n)
		t.Fatalf("Raw.Handshake: server sent %q in the clear before the handshake", extra)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test client, self-signed servers
	_ = tc.SetDeadline(time.Now().Add(rawTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("Raw.Handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	r.conn, r.r = tc, bufio.NewReader(tc)
}

// TLS returns the TLS connection state after StartTLS, and false before.
func (r *Raw) TLS() (tls.ConnectionState, bool) {
	tc, ok := r.conn.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// LocalAddr returns the client side's address.
func (r *Raw) LocalAddr() net.Addr { return r.conn.LocalAddr() }

// Close closes the connection; closing twice is harmless.
func (r *Raw) Close() { _ = r.conn.Close() }

// readReply reads lines "CODE-text" until "CODE text" or "CODE" (RFC 5321
// §4.2.1). Every line must carry the same code.
func readReply(br *bufio.Reader) (Reply, error) {
	var rep Reply
	var raw strings.Builder
	for n := 0; n < maxReplyLines; n++ {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			if errors.Is(err, io.EOF) && raw.Len() == 0 {
				return Reply{}, io.EOF
			}
			return Reply{}, fmt.Errorf("reading reply after %q: %w", raw.String(), err)
		}
		text := strings.TrimRight(line, "\r\n")
		if len(text) < 3 {
			return Reply{}, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(text[:3])
		if err != nil || code < 200 || code > 599 {
			return Reply{}, fmt.Errorf("malformed reply code in %q", line)
		}
		if n > 0 && code != rep.Code {
			return Reply{}, fmt.Errorf("reply code changed from %d to %d in %q", rep.Code, code, raw.String())
		}
		rep.Code = code
		last := true
		if len(text) > 3 {
			switch text[3] {
			case '-':
				last = false
			case ' ':
			default:
				return Reply{}, fmt.Errorf("malformed reply line %q", line)
			}
			rep.Lines = append(rep.Lines, text[4:])
		} else {
			rep.Lines = append(rep.Lines, "")
		}
		if last {
			rep.Raw = raw.String()
			return rep, nil
		}
	}
	return Reply{}, fmt.Errorf("reply longer than %d lines", maxReplyLines)
}

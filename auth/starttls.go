package auth

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
)

// startTLS speaks the plain-text part of an RFC 3207 session itself
// (greeting, EHLO helo, STARTTLS) and returns the TLS connection with a
// stand-in greeting in front of it, ready for smtp.NewClient.
//
// go-smtp's client can do STARTTLS only through NewClientStartTLS, which
// sends EHLO "localhost" before TLS; a downstream server that checks HELO
// names would refuse that, so the configured name is used throughout.
// The stand-in greeting is read only by our client and never crosses the
// wire.
func startTLS(ctx context.Context, conn net.Conn, helo string, cfg *tls.Config) (net.Conn, error) {
	br := bufio.NewReader(conn)
	r := textproto.NewReader(br)
	w := textproto.NewWriter(bufio.NewWriter(conn))
	if _, _, err := r.ReadResponse(220); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := w.PrintfLine("EHLO %s", helo); err != nil {
		return nil, err
	}
	_, msg, err := r.ReadResponse(250)
	if err != nil {
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	if !hasExtension(msg, "STARTTLS") {
		return nil, errors.New("server does not offer STARTTLS")
	}
	if err := w.PrintfLine("STARTTLS"); err != nil {
		return nil, err
	}
	if _, _, err := r.ReadResponse(220); err != nil {
		return nil, err
	}
	// Anything the server sent after its 220 would be read as if it came
	// through TLS: the STARTTLS command injection of CVE-2011-0411 in
	// reverse. A correct server sends nothing until the handshake.
	if br.Buffered() > 0 {
		return nil, errors.New("server sent data after its STARTTLS reply")
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return &greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 TLS established\r\n"), tc)}, nil
}

// hasExtension reports whether an EHLO reply (lines after the first:
// keyword and parameters, RFC 5321 §4.1.1.1) lists keyword.
func hasExtension(msg, keyword string) bool {
	lines := strings.Split(msg, "\n")
	for _, line := range lines[1:] {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// greetedConn reads from r (a greeting, then the connection).
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (c *greetedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

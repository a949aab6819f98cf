package relay

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// discardBackend accepts everything and keeps nothing.
type discardBackend struct{}

func (discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }

type discardSession struct{}

func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }

// benchMessage is a 10 KB message of 74-byte CRLF lines.
func benchMessage(size int) []byte {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
	return []byte(strings.Repeat(line, size/len(line)+1)[:size-2] + "\r\n")
}

// BenchmarkRelay10KB measures one pooled transaction (MAIL, RCPT, DATA of
// 10 KB, final reply) through an SMTPTarget to a go-smtp sink on loopback.
func BenchmarkRelay10KB(b *testing.B) {
	srv := smtp.NewServer(discardBackend{})
	srv.Domain = "sink.test"
	srv.ErrorLog = discardLog{}
	addr := serveServer(b, srv, false)
	tg, cnt := newTarget(b, addr, nil)
	msg := benchMessage(10 << 10)
	src := bytes.NewReader(msg)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		tx, err := tg.Begin(ctx, "a@example.com", MailOptions{Size: int64(len(msg))})
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
			b.Fatal(err)
		}
		src.Reset(msg)
		if rep, err := tx.Data(ctx, src); err != nil || rep.Code != 250 {
			b.Fatal(rep, err)
		}
	}
	if n := cnt.dials.Load(); n != 1 {
		b.Fatalf("%d dials, want 1 (pooled)", n)
	}
}

// BenchmarkDataWriter measures the DATA write path alone: the bare-CR
// guard in front of go-smtp's dot-stuffing writer (textproto.DotWriter).
func BenchmarkDataWriter(b *testing.B) {
	msg := benchMessage(1 << 20)
	w := textproto.NewWriter(bufio.NewWriter(io.Discard))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		dw := w.DotWriter()
		g := &crlfGuard{w: dw}
		if _, err := g.Write(msg); err != nil {
			b.Fatal(err)
		}
		g.Close()
		dw.Close()
	}
}

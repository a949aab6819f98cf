package listener_test

import (
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/internal/syncbuf"
	"github.com/smtpgateway/gateway/listener"
)

// Config.Advertise leaves extension keywords out of go-smtp's EHLO reply
// (SMTPUTF8 and DSN follow the downstream this way) and decides anew at
// every EHLO; other replies and the STARTTLS injection are untouched.
func TestAdvertiseFiltersEHLO(t *testing.T) {
	var dsn atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := listener.New(ln, listener.Config{
		Name: "test", Kind: "mx", Hostname: "mx.test.example",
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil)),
		TLS:    testTLS(t),
		Advertise: func(kw string) bool {
			return kw != "DSN" || dsn.Load()
		},
	})
	srv := smtp.NewServer(&recorder{})
	srv.Domain = "mx.test.example"
	srv.MaxLineLength = 0
	srv.ErrorLog = nopLog{}
	srv.EnableSMTPUTF8, srv.EnableDSN = true, true
	go srv.Serve(g)
	t.Cleanup(func() { g.Close(); srv.Close() })

	c := dial(t, ln.Addr().String(), "")
	c.reply()
	ehlo := c.cmd("EHLO client.example.org")
	if has(ehlo, "DSN") || !has(ehlo, "250-SMTPUTF8") || !has(ehlo, "250-STARTTLS") {
		t.Errorf("EHLO reply %q: want SMTPUTF8 and STARTTLS, no DSN", ehlo)
	}
	if last := ehlo[len(ehlo)-1]; !strings.HasPrefix(last, "250 ") {
		t.Errorf("EHLO reply does not end: %q", ehlo)
	}
	dsn.Store(true)
	// Pipelined: the EHLO reply is filtered, the NOOP's passes.
	c.send("EHLO client.example.org\r\nNOOP\r\n")
	if ehlo := c.reply(); !has(ehlo, "250-DSN") {
		t.Errorf("EHLO reply %q: want DSN now", ehlo)
	}
	if noop := c.reply(); len(noop) != 1 || !strings.HasPrefix(noop[0], "250 ") {
		t.Errorf("NOOP reply %q", noop)
	}
}

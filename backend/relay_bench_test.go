package backend_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/listener"
	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/relay"
)

// The end-to-end relay benchmark of BENCHMARKS.md: a go-smtp client sends
// one 10 KB message to the gateway (listener guard, go-smtp server, backend
// with the default cPanel HELO policy on an in-memory warm DNS), which
// relays it over loopback through the pooled SMTP target to an in-process
// go-smtp sink. One op is one whole client session: connect, greeting,
// EHLO, MAIL, RCPT, DATA, the sink's 250 relayed back, QUIT.

const (
	benchGWHost = "mx.bench-gw.net"
	benchHELO   = "mail.bench-client.net"
)

// benchDNS is a warm cache: the client's HELO resolves to 127.0.0.1 and back.
type benchDNS struct{}

func (benchDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if strings.EqualFold(strings.TrimSuffix(host, "."), benchHELO) {
		return []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (benchDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if addr == "127.0.0.1" {
		return []string{benchHELO + "."}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (benchDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// benchSink is the downstream: it reads each message to the end and
// discards it.
type benchSink struct{}

func (benchSink) NewSession(*smtp.Conn) (smtp.Session, error) { return benchSinkSession{}, nil }

type benchSinkSession struct{}

func (benchSinkSession) Reset()                               {}
func (benchSinkSession) Logout() error                        { return nil }
func (benchSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (benchSinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (benchSinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

type benchNopLog struct{}

func (benchNopLog) Printf(string, ...any) {}
func (benchNopLog) Println(...any)        {}

func benchServe(b *testing.B, srv *smtp.Server, ln net.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ln.Close()
		<-done
	})
}

func benchBody(size int) string {
	var sb strings.Builder
	sb.WriteString("From: <a@bench-client.net>\r\nTo: <b@example.com>\r\nSubject: bench\r\n\r\n")
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
	for sb.Len() < size {
		sb.WriteString(line)
	}
	return sb.String()[:size-2] + "\r\n"
}

func BenchmarkRelayEndToEnd10KB(b *testing.B) { benchRelay(b, 10<<10) }

// BenchmarkRelayEndToEnd4MB streams a big message: what limits the
// gateway's MB/s (and the 50 MB figure of BENCHMARKS.md).
func BenchmarkRelayEndToEnd4MB(b *testing.B) { benchRelay(b, 4<<20) }

func benchRelay(b *testing.B, size int) {
	// The sink.
	sink := smtp.NewServer(benchSink{})
	sink.Domain = "sink.bench.net"
	sink.ErrorLog = benchNopLog{}
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, sink, sinkLn)

	// The gateway.
	tg, err := relay.NewSMTP(relay.SMTPConfig{
		Address:        sinkLn.Addr().String(),
		StartTLS:       downstream.TLSNone,
		HeloName:       benchGWHost,
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
		MaxConns:       10,
		MaxIdle:        10,
		IdleTimeout:    time.Minute,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tg.Close() })
	router, err := relay.NewRouter(tg, nil)
	if err != nil {
		b.Fatal(err)
	}
	id := heloguard.Identity{Hostname: benchGWHost, Domains: []string{"example.com"}}
	policy, err := heloguard.NewPolicy(heloguard.Config{Profile: heloguard.ProfileCPanel, Explain: true}, id)
	if err != nil {
		b.Fatal(err)
	}
	env := &backend.Env{
		Hostname:     benchGWHost,
		LocalDomains: map[string]bool{"example.com": true},
		HELO:         policy,
		Resolver:     benchDNS{},
		Identity:     id,
		Router:       router,
		Filter:       message.FilterOptions{LineEndings: message.Reject, NUL: message.Reject},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	guard := listener.New(ln, listener.Config{Name: "mx", Kind: "mx", Hostname: benchGWHost, Logger: log,
		Gate: &listener.Gate{MaxConns: 1000, MaxPerIP: 1000}})
	be := backend.New(backend.NewHolder(env), backend.Listener{Name: "mx", Kind: "mx"}, log, nil)
	srv := backend.NewServer(be, backend.ServerOptions{Hostname: benchGWHost, MaxMessageBytes: 64 << 20, MaxRecipients: 100, WriteTimeout: 5 * time.Second})
	benchServe(b, srv, guard)
	addr := ln.Addr().String()

	body := benchBody(size)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Hello(benchHELO); err != nil {
			b.Fatal(err)
		}
		if err := c.SendMail("a@bench-client.net", []string{"b@example.com"}, strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	}
}

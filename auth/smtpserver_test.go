package auth

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
)

// testServer is a go-smtp submission server on 127.0.0.1:0 that offers
// this package's mechanisms and maps errors the way backend is expected
// to: ErrInvalidCredentials → 535 5.7.8, ErrMalformed → 501 5.5.2, an
// *smtp.SMTPError as is, anything else → 454 4.7.0.
type testServer struct {
	addr     string
	mechs    []string
	verify   func(identity, username, password string) error
	attempts atomic.Int32 // authenticator calls
	conns    atomic.Int32 // sessions started
}

type testServerConfig struct {
	mechs  []string           // default PLAIN and LOGIN
	tls    downstream.TLSMode // downstream.TLSNone (default), TLSRequired (STARTTLS), TLSImplicit
	cert   *tls.Certificate
	verify func(identity, username, password string) error
	// onSession sees each session start (after every EHLO that begins one).
	onSession func(c *smtp.Conn)
}

func startTestServer(t *testing.T, cfg testServerConfig) *testServer {
	t.Helper()
	ts := &testServer{mechs: cfg.mechs, verify: cfg.verify}
	if ts.mechs == nil {
		ts.mechs = []string{sasl.Plain, sasl.Login}
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ts.conns.Add(1)
		if cfg.onSession != nil {
			cfg.onSession(c)
		}
		return &testSession{ts: ts}, nil
	}))
	srv.Domain = "downstream.test"
	srv.AllowInsecureAuth = true // the test speaks plain TCP to loopback
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = testLogger{t}
	var l net.Listener
	var err error
	switch cfg.tls {
	case downstream.TLSImplicit:
		l, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cfg.cert}})
	case downstream.TLSRequired:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cfg.cert}}
		fallthrough
	default:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

// authenticate is the Authenticator the test server hands the mechanisms.
func (ts *testServer) authenticate(identity, username, password string) error {
	ts.attempts.Add(1)
	err := ts.verify(identity, username, password)
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrInvalidCredentials):
		return smtp.ErrAuthFailed
	default:
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	}
}

type testSession struct{ ts *testServer }

func (s *testSession) AuthMechanisms() []string { return s.ts.mechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	var inner sasl.Server
	switch mech {
	case sasl.Plain:
		inner = NewPlainServer(s.ts.authenticate)
	case sasl.Login:
		inner = NewLoginServer(s.ts.authenticate)
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return malformedAs501{inner}, nil
}

func (s *testSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *testSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *testSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *testSession) Reset()        {}
func (s *testSession) Logout() error { return nil }

// malformedAs501 shows how backend keeps go-smtp from sending a plain
// error's text: ErrMalformed becomes 501 5.5.2 (RFC 4954 §4).
type malformedAs501 struct{ sasl.Server }

func (m malformedAs501) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := m.Server.Next(response)
	if errors.Is(err, ErrMalformed) {
		err = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication data"}
	}
	return challenge, done, err
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf(format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(v...) }

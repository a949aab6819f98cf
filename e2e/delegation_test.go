package e2e

// Delegated AUTH ([auth] backend = "downstream"): the legacy server keeps
// the user database; the gateway checks credentials by authenticating to
// it. The legacy server here is a small go-smtp server in the test that
// knows one user and counts the AUTH attempts it sees, so the cache of
// successes can be observed.

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

type legacyAuthServer struct {
	user, pass string
	attempts   atomic.Int32
}

func (b *legacyAuthServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &legacySession{b: b}, nil
}

type legacySession struct{ b *legacyAuthServer }

func (s *legacySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *legacySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.b.attempts.Add(1)
		if user != s.b.user || pass != s.b.pass {
			// What real servers answer (go-smtp would say 454 for a
			// plain error, which means "try later").
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		return nil
	}), nil
}

func (s *legacySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *legacySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *legacySession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *legacySession) Reset()        {}
func (s *legacySession) Logout() error { return nil }

func TestDelegatedAuth(t *testing.T) {
	e2etest.Require(t, "postfix", "swaks")
	legacy := &legacyAuthServer{user: "carol@example.com", pass: "legacy secret"}
	srv := smtp.NewServer(legacy)
	srv.Domain = "legacy.example.com"
	srv.AllowInsecureAuth = true // loopback lab server
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	sub := e2etest.FreeAddr(t, "127.0.0.1")
	e := setup(t, &e2etest.PostfixOptions{}, opts{
		listeners: fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n", sub),
		extra: fmt.Sprintf("[auth]\nbackend = \"downstream\"\ndownstream = \"smtp://%s\"\ncache_ttl = \"1m\"\n",
			ln.Addr().String()),
	})
	send := func(pass, subject string) (string, int) {
		return e2etest.Swaks(t, "--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", "carol@example.com",
			"--auth-password", pass, "--ehlo", "laptop.sender-e2e.net", "--from", "carol@example.com",
			"--to", "bob@example.com", "--header", "Subject: "+subject)
	}
	if out, code := send("legacy secret", "delegated 1"); code != 0 || !strings.Contains(out, "235 2.0.0") {
		t.Fatalf("good credentials: exit %d\n%s", code, out)
	}
	if n := legacy.attempts.Load(); n != 1 {
		t.Errorf("legacy server saw %d AUTH attempts, want 1", n)
	}
	// Within cache_ttl a success is not asked again.
	if out, code := send("legacy secret", "delegated 2"); code != 0 {
		t.Fatalf("second send: exit %d\n%s", code, out)
	}
	if n := legacy.attempts.Load(); n != 1 {
		t.Errorf("after a cached success the legacy server saw %d attempts, want 1", n)
	}
	// A wrong password is asked (failures are never cached) and refused.
	if out, _ := send("wrong guess", "delegated 3"); !strings.Contains(out, "535 5.7.8") {
		t.Errorf("wrong password:\n%s", out)
	}
	if n := legacy.attempts.Load(); n != 2 {
		t.Errorf("legacy server saw %d attempts, want 2", n)
	}
	// With the legacy server gone, an uncached login is a temporary
	// failure (454 4.7.0: the client retries), never a 535.
	srv.Close()
	if out, _ := send("another try", "delegated 4"); !strings.Contains(out, "454 4.7.0") {
		t.Errorf("legacy server down:\n%s", out)
	}
	msgs := e.postfix.WaitMessages(t, 2, 20*time.Second)
	for _, m := range msgs {
		if !strings.Contains(string(m.Relayed()), "with ESMTPSA id") {
			t.Errorf("not marked authenticated:\n%s", m.Relayed())
		}
		if strings.Contains(string(m.Raw), "delegated 3") {
			t.Errorf("the refused session's message was delivered")
		}
	}
	if strings.Contains(e.gw.Logs(), "legacy secret") || strings.Contains(e.gw.Logs(), "wrong guess") {
		t.Errorf("a password reached the log")
	}
}

package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/internal/testcert"
)

func TestStartTLS(t *testing.T) {
	tc := testcert.New(t, "sink.test", "sink.test", "127.0.0.1")
	cert, pool := tc.TLS, tc.Pool
	withTLS := func(s *smtp.Server) { s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}} }
	tests := []struct {
		name       string
		server     func(*smtp.Server)
		modify     func(*SMTPConfig)
		wantErr    bool
		wantTLS    bool
		wantEvents []string
	}{
		{name: "opportunistic, offered", server: withTLS, modify: func(c *SMTPConfig) { c.StartTLS = downstream.TLSOpportunistic }, wantTLS: true, wantEvents: []string{"starttls"}},
		{name: "opportunistic, not offered", modify: func(c *SMTPConfig) { c.StartTLS = downstream.TLSOpportunistic }},
		{name: "required, offered", server: withTLS, modify: func(c *SMTPConfig) { c.StartTLS = downstream.TLSRequired }, wantTLS: true},
		{name: "required, not offered", modify: func(c *SMTPConfig) { c.StartTLS = downstream.TLSRequired }, wantErr: true},
		{name: "none, offered", server: withTLS},
		{
			name: "verified against the right root", server: withTLS, wantTLS: true,
			modify: func(c *SMTPConfig) {
				c.StartTLS, c.TLSVerify, c.RootCAs, c.TLSServerName = downstream.TLSRequired, true, pool, "sink.test"
			},
		},
		{
			name: "verification fails with other roots", server: withTLS, wantErr: true,
			modify: func(c *SMTPConfig) {
				c.StartTLS, c.TLSVerify, c.RootCAs = downstream.TLSRequired, true, x509.NewCertPool()
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			tg, cnt := newTarget(t, startSink(t, s, tc.server), tc.modify)
			_, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n")
			if tc.wantErr {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("error %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			tlsSeen := s.tlsSeen
			s.mu.Unlock()
			if tlsSeen != tc.wantTLS {
				t.Errorf("downstream saw TLS %v, want %v", tlsSeen, tc.wantTLS)
			}
			for _, e := range tc.wantEvents {
				if cnt.event(e) != 1 {
					t.Errorf("events %v, want %s", cnt.events, e)
				}
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	cert := testcert.New(t, "sink.test", "sink.test", "127.0.0.1").TLS
	s := &sink{}
	addr := startSinkImplicitTLS(t, s, &tls.Config{Certificates: []tls.Certificate{cert}})
	tg, _ := newTarget(t, addr, func(c *SMTPConfig) { c.ImplicitTLS = true })
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tlsSeen || len(s.messages) != 1 {
		t.Errorf("TLS %v, %d messages; want TLS and 1", s.tlsSeen, len(s.messages))
	}
}

func TestStartTLSHandshakeFailure(t *testing.T) {
	tests := []struct {
		name    string
		mode    downstream.TLSMode
		wantErr bool
	}{
		{name: "opportunistic falls back to plain text", mode: downstream.TLSOpportunistic},
		{name: "required fails", mode: downstream.TLSRequired, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Offers STARTTLS, says 220, then drops the connection instead
			// of a handshake, as a server with a broken TLS setup does.
			raw := startRaw(t, []string{"STARTTLS"}, func(_ int, cmd string) string {
				if cmd == "STARTTLS" {
					return "220 2.0.0 Ready\r\n" + replyClose
				}
				return ""
			})
			tg, cnt := newTarget(t, raw.addr(), func(c *SMTPConfig) { c.StartTLS = tc.mode })
			_, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n")
			if tc.wantErr {
				if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errTLSHandshake) {
					t.Fatalf("error %v, want ErrUnavailable from the handshake", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cnt.event("starttls_fallback") != 1 || cnt.dials.Load() != 2 {
				t.Errorf("events %v, %d dials; want one starttls_fallback and 2 dials", cnt.events, cnt.dials.Load())
			}
			var plain []string
			for _, c := range raw.commands() {
				if strings.HasPrefix(c, "2 ") {
					plain = append(plain, strings.Fields(c)[1])
				}
			}
			if strings.Join(plain, " ") != "EHLO MAIL RCPT DATA" {
				t.Errorf("second connection commands %q, want plain EHLO MAIL RCPT DATA", plain)
			}
		})
	}
}

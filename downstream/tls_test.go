package downstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/testcert"
)

// script runs a server side on a pipe: for each step it reads one line
// (when want is not "") and checks it, then writes reply.
type step struct{ want, reply string }

func serve(t *testing.T, steps []step, then func(net.Conn)) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	go func() {
		defer func() {
			if then == nil {
				server.Close()
			}
		}()
		r := bufio.NewReader(server)
		for _, s := range steps {
			if s.want != "" {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.TrimRight(line, "\r\n") != s.want {
					t.Errorf("server read %q, want %q", line, s.want)
					return
				}
			}
			if _, err := io.WriteString(server, s.reply); err != nil {
				return
			}
		}
		if then != nil {
			then(server)
		}
	}()
	t.Cleanup(func() { client.Close(); server.Close() })
	return client
}

// readGreeting reads what go-smtp's client would read first.
func readGreeting(t *testing.T, c net.Conn) string {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestStartTLSPlain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ehlo    string
		mode    TLSMode
		wantErr error
		step    string
	}{
		{name: "not offered, opportunistic", ehlo: "250-hi\r\n250 PIPELINING\r\n", mode: TLSOpportunistic},
		{name: "no EHLO, opportunistic", ehlo: "502 5.5.1 no\r\n", mode: TLSOpportunistic},
		{name: "not offered, required", ehlo: "250-hi\r\n250 PIPELINING\r\n", mode: TLSRequired, wantErr: ErrNotOffered, step: "STARTTLS"},
		{name: "no EHLO, required", ehlo: "500 5.5.1 no\r\n", mode: TLSRequired, wantErr: ErrNotOffered, step: "STARTTLS"},
		{name: "data after the EHLO reply", ehlo: "250-hi\r\n250 8BITMIME\r\n250 extra\r\n", mode: TLSOpportunistic, wantErr: ErrDataAfterReply, step: "EHLO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, []step{{"", "220 mx.test ESMTP\r\n"}, {"EHLO gw.example.net", tc.ehlo}}, func(net.Conn) {})
			nc, secured, err := StartTLS(context.Background(), c, "gw.example.net", &tls.Config{}, tc.mode, 5*time.Second)
			var se *StepError
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &se) || se.Step != tc.step {
					t.Fatalf("err %v, want %v at %s", err, tc.wantErr, tc.step)
				}
			case err != nil || secured:
				t.Fatalf("StartTLS = %v, %v; want plain text", secured, err)
			default:
				if g := readGreeting(t, nc); g != replayGreeting {
					t.Errorf("client reads %q first, want the stand-in greeting", g)
				}
			}
		})
	}
}

func TestStartTLSRefused(t *testing.T) {
	for _, mode := range []TLSMode{TLSOpportunistic, TLSRequired} {
		t.Run(string(mode), func(t *testing.T) {
			c := serve(t, []step{{"", "220 mx.test\r\n"}, {"EHLO gw", "250-hi\r\n250 STARTTLS\r\n"}, {"STARTTLS", "454 4.7.0 no TLS now\r\n"}}, func(net.Conn) {})
			_, secured, err := StartTLS(context.Background(), c, "gw", &tls.Config{}, mode, 5*time.Second)
			if mode == TLSRequired {
				if err == nil || !strings.Contains(err.Error(), "454") {
					t.Fatalf("err %v, want the 454", err)
				}
				return
			}
			if err != nil || secured {
				t.Fatalf("StartTLS = %v, %v; want plain text after the 454", secured, err)
			}
		})
	}
}

func TestStartTLSDataAfter220(t *testing.T) {
	c := serve(t, []step{{"", "220 mx.test\r\n"}, {"EHLO gw", "250-hi\r\n250 STARTTLS\r\n"}, {"STARTTLS", "220 go ahead\r\n250 injected\r\n"}}, func(net.Conn) {})
	_, _, err := StartTLS(context.Background(), c, "gw", &tls.Config{}, TLSRequired, 5*time.Second)
	if !errors.Is(err, ErrDataAfterReply) {
		t.Fatalf("err %v, want ErrDataAfterReply", err)
	}
}

func TestStartTLSHandshake(t *testing.T) {
	tc := testcert.New(t, "mx.test", "mx.test")
	steps := []step{{"", "220 mx.test\r\n"}, {"EHLO gw", "250-hi\r\n250 STARTTLS\r\n"}, {"STARTTLS", "220 go ahead\r\n"}}
	t.Run("secured", func(t *testing.T) {
		c := serve(t, steps, func(s net.Conn) {
			ts := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{tc.TLS}})
			if ts.Handshake() == nil {
				io.WriteString(ts, "250 after TLS\r\n")
			}
		})
		nc, secured, err := StartTLS(context.Background(), c, "gw", &tls.Config{RootCAs: tc.Pool, ServerName: "mx.test"}, TLSOpportunistic, 5*time.Second)
		if err != nil || !secured {
			t.Fatalf("StartTLS = %v, %v", secured, err)
		}
		r := bufio.NewReader(nc)
		for _, want := range []string{replayGreeting, "250 after TLS\r\n"} {
			if line, _ := r.ReadString('\n'); line != want {
				t.Errorf("read %q, want %q", line, want)
			}
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		c := serve(t, steps, func(s net.Conn) {
			tls.Server(s, &tls.Config{Certificates: []tls.Certificate{tc.TLS}}).Handshake()
		})
		_, _, err := StartTLS(context.Background(), c, "gw", &tls.Config{ServerName: "mx.test"}, TLSOpportunistic, 5*time.Second)
		var he *HandshakeError
		if !errors.Is(err, ErrHandshake) || !errors.As(err, &he) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err %v, want a handshake error about the certificate", err)
		}
	})
}

package heloguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestReportReplies(t *testing.T) {
	const (
		compat = "550 5.7.1 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"
		ok     = "250 " + ourHost
	)
	tests := []struct {
		name     string
		cfg      Config
		helo     string
		ehlo     bool
		auth     bool
		want     Replies
		accepted bool
	}{
		{name: "refused at MAIL", cfg: Config{}, helo: "mailserver", ehlo: true,
			want: Replies{HELO: ok, Mail: compat, Rcpt: notReached}},
		{name: "refused at HELO", cfg: Config{Stage: StageHELO}, helo: "mailserver", ehlo: true,
			want: Replies{HELO: compat, Mail: notReached, Rcpt: notReached}},
		{name: "refused at RCPT", cfg: Config{Stage: StageRcpt}, helo: "mailserver", ehlo: true,
			want: Replies{HELO: ok, Mail: "250 2.1.0 Ok", Rcpt: compat}},
		{name: "HELO client gets no enhanced code", cfg: Config{}, helo: "mailserver", ehlo: false,
			want: Replies{HELO: ok, Mail: "550 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)", Rcpt: notReached}},
		{name: "explanation as a continuation line", cfg: Config{Explain: true}, helo: "mailserver", ehlo: true,
			want: Replies{HELO: ok, Mail: "550-HELO 'mailserver' is not a fully-qualified domain name; use your server's public hostname (e.g. mail.example.com) or authenticate (check: fqdn)\n" + compat, Rcpt: notReached}},
		{name: "authenticated", cfg: Config{}, helo: "mailserver", ehlo: true, auth: true,
			want: Replies{HELO: ok, Mail: "250 2.1.0 Ok", Rcpt: "250 2.1.5 Ok"}, accepted: true},
		{name: "tagged is accepted", cfg: Config{}, helo: "fakedomain.xyz", ehlo: true,
			want: Replies{HELO: ok, Mail: "250 2.1.0 Ok", Rcpt: "250 2.1.5 Ok"}, accepted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: tc.helo, Sent: true, EHLO: tc.ehlo, Authenticated: tc.auth}, newFake(testZone()))
			r := p.Report(v)
			if r.Replies != tc.want {
				t.Errorf("replies\n got %#v\nwant %#v", r.Replies, tc.want)
			}
			if r.Accepted != tc.accepted {
				t.Errorf("accepted = %v", r.Accepted)
			}
		})
	}
}

func TestReportJSONAndText(t *testing.T) {
	p := mustPolicy(t, Config{Explain: true})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: "python-email-server", Sent: true, EHLO: true}, newFake(testZone()))
	r := p.Report(v)

	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"helo", "client_ip", "profile", "stage", "action", "accepted", "checks", "replies"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, data)
		}
	}
	checks, _ := m["checks"].([]any)
	first, _ := checks[2].(map[string]any)
	for _, key := range []string{"check", "result", "action", "reason", "explanation", "evidence", "fix"} {
		if _, ok := first[key]; !ok {
			t.Errorf("fqdn check JSON lacks %q: %v", key, first)
		}
	}

	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"HELO:     python-email-server",
		"client:   203.0.113.50 (PTR -; iprev fail)",
		"profile:  cpanel, refusing at MAIL",
		"verdict:  reject (decided by fqdn)",
		"fqdn           fail",
		"MAIL  550-HELO 'python-email-server'",
		"        550 5.7.1 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)",
		"to fix:",
		"fqdn (reject): HELO 'python-email-server' is not a fully-qualified domain name; use your server's public hostname",
		"rdns (tag): your address 203.0.113.50 has no PTR record",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReportWriteError(t *testing.T) {
	p := mustPolicy(t, Config{})
	r := p.Report(p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mailserver", Sent: true}, nil))
	if err := r.WriteText(failingWriter{}); err == nil {
		t.Error("no error from a failing writer")
	}
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/reply"
)

func TestLazyMail(t *testing.T) {
	s := &sink{}
	tg, cnt := newTarget(t, startSink(t, s, nil), nil)
	ctx := context.Background()
	tx, err := tg.Begin(ctx, "a@example.com", MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if n := cnt.dials.Load(); n != 0 {
		t.Fatalf("Begin dialed %d times, want no network before the first Rcpt", n)
	}
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, mails, _, _ := s.snapshot(); mails != 1 || cnt.dials.Load() != 1 {
		t.Errorf("after Rcpt: %d MAIL, %d dials; want 1 and 1", mails, cnt.dials.Load())
	}
}

func TestDeliver(t *testing.T) {
	s := &sink{}
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	body := "Subject: x\r\n\r\n.hidden\r\n..two dots\r\n.\r\nlast\r\n"
	rep, err := send(t, tg, "a@example.com", []string{"b@example.org", "c@example.org"}, body)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Code != 250 || rep.Enhanced != [3]int{2, 0, 0} {
		t.Errorf("reply %v, want 250 2.0.0", rep)
	}
	_, _, _, _, msgs := s.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "a@example.com" || strings.Join(m.Rcpts, ",") != "b@example.org,c@example.org" {
		t.Errorf("envelope %q %q", m.From, m.Rcpts)
	}
	if m.Data != body {
		t.Errorf("body %q, want %q (dot-stuffing must round-trip)", m.Data, body)
	}
}

func TestDotStuffingOnTheWire(t *testing.T) {
	tests := []struct {
		name string
		body string
		wire string
	}{
		{name: "leading dots doubled", body: ".a\r\nb\r\n..c\r\n", wire: "..a\r\nb\r\n...c\r\n.\r\n"},
		{name: "a lone dot line is not the end", body: "a\r\n.\r\nMAIL FROM:<x>\r\n", wire: "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"},
		{name: "missing final CRLF added", body: "a\r\nb", wire: "a\r\nb\r\n.\r\n"},
		{name: "bare CR becomes CRLF before a dot", body: "a\r.\r\nb\r\n", wire: "a\r\n..\r\nb\r\n.\r\n"},
		{name: "bare CR at the end", body: "a\r", wire: "a\r\n.\r\n"},
		{name: "bare LF becomes CRLF before a dot", body: "a\n.\nb\r\n", wire: "a\r\n..\r\nb\r\n.\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := startRaw(t, []string{"8BITMIME"}, nil)
			tg, _ := newTarget(t, raw.addr(), nil)
			if _, err := send(t, tg, "a@x.test", []string{"b@y.test"}, tc.body); err != nil {
				t.Fatal(err)
			}
			d := raw.datas()
			if len(d) != 1 || d[0] != tc.wire {
				t.Errorf("wire %q, want %q", d, tc.wire)
			}
		})
	}
}

func TestRcptRefusalPassthrough(t *testing.T) {
	s := &sink{rcptErr: map[string]error{
		"unknown@example.org": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
		"full@example.org":    &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full\nTry later"},
	}}
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	tests := []struct {
		name string
		rcpt string
		want reply.Reply
		temp bool
	}{
		{name: "permanent", rcpt: "unknown@example.org", want: reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "User unknown"}},
		{name: "temporary multi-line", rcpt: "full@example.org", want: reply.Reply{Code: 452, Enhanced: [3]int{4, 2, 2}, Text: "Mailbox full\nTry later"}, temp: true},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
			defer tx.Abort()
			err := tx.Rcpt(ctx, tc.rcpt, RcptOptions{})
			var r *ReplyError
			if !errors.As(err, &r) {
				t.Fatalf("error %v, want a *ReplyError", err)
			}
			if *r.Reply != tc.want || r.Temporary() != tc.temp {
				t.Errorf("reply %+v (temporary %v), want %+v (%v)", *r.Reply, r.Temporary(), tc.want, tc.temp)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Error("a refusal must not be ErrUnavailable")
			}
			// The transaction goes on with another recipient.
			if err := tx.Rcpt(ctx, "ok@example.org", RcptOptions{}); err != nil {
				t.Errorf("next Rcpt: %v", err)
			}
		})
	}
}

func TestMailRefusalThenRetry(t *testing.T) {
	s := &sink{mailErr: func(n int, _ string) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}
		}
		return nil
	}}
	tg, cnt := newTarget(t, startSink(t, s, nil), nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	var r *ReplyError
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); !errors.As(err, &r) || r.Code != 451 || r.Text != "Greylisted" {
		t.Fatalf("first Rcpt: %v, want the MAIL refusal 451 Greylisted", err)
	}
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatalf("second Rcpt: %v, want MAIL tried again and accepted", err)
	}
	if rep, err := tx.Data(ctx, strings.NewReader("x\r\n")); err != nil || rep.Code != 250 {
		t.Fatalf("Data: %v %v", rep, err)
	}
	if _, _, mails, _, msgs := s.snapshot(); mails != 2 || len(msgs) != 1 || cnt.dials.Load() != 1 {
		t.Errorf("%d MAIL, %d messages, %d dials; want 2, 1, 1", mails, len(msgs), cnt.dials.Load())
	}
}

func TestDataRefusedAtEnd(t *testing.T) {
	tests := []struct {
		name string
		err  *smtp.SMTPError
		want reply.Reply
	}{
		{name: "permanent", err: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam"}, want: reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Spam"}},
		{name: "temporary", err: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}, want: reply.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Try later"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{dataErr: tc.err}
			tg, cnt := newTarget(t, startSink(t, s, nil), nil)
			rep, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n")
			var r *ReplyError
			if rep != nil || !errors.As(err, &r) || *r.Reply != tc.want {
				t.Fatalf("Data: %v, %v; want a %v error", rep, err, tc.want)
			}
			// The connection is fine and reused.
			s.mu.Lock()
			s.dataErr = nil
			s.mu.Unlock()
			if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
				t.Fatal(err)
			}
			if n := cnt.dials.Load(); n != 1 {
				t.Errorf("%d dials, want the connection reused", n)
			}
		})
	}
}

func TestReaderErrorAbandonsMessage(t *testing.T) {
	s := &sink{}
	tg, cnt := newTarget(t, startSink(t, s, nil), nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	// More than the copy buffer, so part of it is surely on the wire.
	body := strings.Repeat("line of the message\r\n", 4000)
	rep, err := tx.Data(ctx, &failingReader{data: body, err: errBoom})
	if rep != nil || !errors.Is(err, errBoom) {
		t.Fatalf("Data: %v, %v; want the reader's error", rep, err)
	}
	var r *ReplyError
	if errors.As(err, &r) {
		t.Errorf("error %v must not be a *ReplyError", err)
	}
	eventually(t, "the downstream to see the connection drop", func() bool {
		_, logouts, _, aborted, _ := s.snapshot()
		return logouts == 1 && aborted == 1
	})
	if _, _, _, _, msgs := s.snapshot(); len(msgs) != 0 {
		t.Errorf("downstream recorded %d messages, want none", len(msgs))
	}
	if cnt.event("discard") != 1 {
		t.Errorf("events %v, want one discard", cnt.events)
	}
	// The next transaction needs a new connection.
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if n := cnt.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2: an abandoned connection is never reused", n)
	}
}

func TestContextCancelMidData(t *testing.T) {
	s := &sink{dataStarted: make(chan struct{})}
	started := s.dataStarted
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		// Enough to pass the go-smtp data writer's buffer, then wait
		// until the downstream is reading the message.
		pw.Write([]byte(strings.Repeat(strings.Repeat("x", 78)+"\r\n", 110)))
		select {
		case <-started:
		case <-time.After(5 * time.Second):
		}
		cancel()
		pw.Write([]byte("more\r\n")) // the client still sends; it must not matter
	}()
	rep, err := tx.Data(ctx, pr)
	if rep != nil || !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Data: %v, %v; want context.Canceled and ErrUnavailable", rep, err)
	}
	eventually(t, "the downstream to see the connection drop", func() bool {
		_, logouts, _, _, _ := s.snapshot()
		return logouts == 1
	})
	if _, _, _, _, msgs := s.snapshot(); len(msgs) != 0 {
		t.Errorf("downstream recorded %d messages, want none", len(msgs))
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	tg, cnt := newTarget(t, addr, nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	err = tx.Rcpt(ctx, "b@example.org", RcptOptions{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Rcpt: %v, want ErrUnavailable", err)
	}
	if cnt.event("dial_error") != 1 {
		t.Errorf("events %v, want one dial_error", cnt.events)
	}
	// The pool slot was given back: MaxConns 1 would block otherwise.
	tg.mu.Lock()
	open := tg.open
	tg.mu.Unlock()
	if open != 0 {
		t.Errorf("%d connections counted open after a failed dial", open)
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name   string
		hangAt string // command (prefix) after which the server stops answering
		data   bool   // whether the hang is at the end of data
	}{
		{name: "greeting", hangAt: "<greeting>"},
		{name: "EHLO", hangAt: "EHLO"},
		{name: "MAIL", hangAt: "MAIL"},
		{name: "RCPT", hangAt: "RCPT"},
		{name: "end of data", hangAt: "<end of data>", data: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := startRaw(t, nil, func(_ int, cmd string) string {
				if strings.HasPrefix(cmd, tc.hangAt) {
					return replyHang
				}
				return ""
			})
			tg, _ := newTarget(t, raw.addr(), func(c *SMTPConfig) {
				c.CommandTimeout = 150 * time.Millisecond
				c.DataTimeout = 150 * time.Millisecond
			})
			_, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n")
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("error %v, want ErrUnavailable wrapping a deadline", err)
			}
		})
	}
}

func TestDownstream421(t *testing.T) {
	tests := []struct {
		name string
		at   string
	}{
		{name: "at MAIL", at: "MAIL"},
		{name: "at RCPT", at: "RCPT"},
		{name: "at DATA", at: "DATA"},
		{name: "at end of data", at: "<end of data>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := startRaw(t, nil, func(n int, cmd string) string {
				if n == 1 && strings.HasPrefix(cmd, tc.at) {
					return "421 4.3.2 Shutting down"
				}
				return ""
			})
			tg, cnt := newTarget(t, raw.addr(), nil)
			_, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n")
			var r *ReplyError
			if !errors.Is(err, ErrUnavailable) || errors.As(err, &r) {
				t.Fatalf("error %v, want ErrUnavailable and no *ReplyError", err)
			}
			if !strings.Contains(err.Error(), "421 4.3.2 Shutting down") {
				t.Errorf("error %q does not say what the downstream said", err)
			}
			if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
				t.Fatal(err)
			}
			if n := cnt.dials.Load(); n != 2 {
				t.Errorf("%d dials, want 2: a connection that said 421 is closed", n)
			}
		})
	}
}

func TestBrokenAfterAcceptedRcptFailsTransaction(t *testing.T) {
	raw := startRaw(t, nil, func(n int, cmd string) string {
		if cmd == "RCPT TO:<second@example.org>" {
			return replyClose
		}
		return ""
	})
	tg, _ := newTarget(t, raw.addr(), nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	if err := tx.Rcpt(ctx, "first@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rcpt(ctx, "second@example.org", RcptOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second Rcpt: %v, want ErrUnavailable", err)
	}
	// The first recipient is gone downstream: nothing may be delivered.
	if err := tx.Rcpt(ctx, "third@example.org", RcptOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("third Rcpt: %v, want ErrUnavailable", err)
	}
	if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Data: %v, want ErrUnavailable", err)
	}
	if d := raw.datas(); len(d) != 0 {
		t.Errorf("downstream received %q", d)
	}
}

func TestBrokenBeforeAnyRcptStartsAgain(t *testing.T) {
	raw := startRaw(t, nil, func(n int, cmd string) string {
		if n == 1 && strings.HasPrefix(cmd, "RCPT") {
			return replyClose
		}
		return ""
	})
	tg, _ := newTarget(t, raw.addr(), nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first Rcpt: %v, want ErrUnavailable", err)
	}
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatalf("second Rcpt: %v, want a fresh MAIL on a new connection", err)
	}
	if rep, err := tx.Data(ctx, strings.NewReader("x\r\n")); err != nil || QueueID(rep) != "RAW123" {
		t.Fatalf("Data: %v, %v", rep, err)
	}
}

func TestDataWithoutRecipient(t *testing.T) {
	s := &sink{rcptErr: map[string]error{"no@example.org": &smtp.SMTPError{Code: 550, Message: "no"}}}
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	_, err := send(t, tg, "a@example.com", nil, "x\r\n")
	var r *ReplyError
	if !errors.As(err, &r) || r.Code != 554 {
		t.Errorf("Data without recipients: %v, want 554 5.5.1", err)
	}
}

func TestFinishedTransaction(t *testing.T) {
	s := &sink{}
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	ctx := context.Background()
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	tx.Abort() // after Data: nothing
	tx.Abort() // idempotent
	if err := tx.Rcpt(ctx, "c@example.org", RcptOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Rcpt after Data: %v, want ErrUnavailable", err)
	}
	if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("second Data: %v, want ErrUnavailable", err)
	}
	if _, _, _, _, msgs := s.snapshot(); len(msgs) != 1 {
		t.Errorf("%d messages, want exactly 1", len(msgs))
	}
}

func TestBadAddressesNeverSent(t *testing.T) {
	raw := startRaw(t, nil, nil)
	tg, _ := newTarget(t, raw.addr(), nil)
	ctx := context.Background()
	tests := []struct {
		name, from, to string
		code           int
	}{
		{name: "CRLF in recipient", from: "a@x.test", to: "b@y.test\r\nRSET", code: 501},
		{name: "empty recipient", from: "a@x.test", to: "", code: 501},
		{name: "CRLF in sender", from: "a@x.test\r\nRSET", to: "b@y.test", code: 501},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx, _ := tg.Begin(ctx, tc.from, MailOptions{})
			defer tx.Abort()
			var r *ReplyError
			if err := tx.Rcpt(ctx, tc.to, RcptOptions{}); !errors.As(err, &r) || r.Code != tc.code {
				t.Errorf("Rcpt: %v, want %d", err, tc.code)
			}
		})
	}
	for _, c := range raw.commands() {
		if strings.Contains(c, "RSET") {
			t.Errorf("downstream received %q", c)
		}
	}
}

func TestMailParameters(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*smtp.Server)
		from      string
		rcpt      string
		opts      MailOptions
		rcptOpts  RcptOptions
		wantCode  int // 0: accepted
		wantOpts  smtp.MailOptions
		wantRcpt  string // the recorded RCPT options, %+v
	}{
		{
			name: "SIZE sent when advertised", configure: func(s *smtp.Server) { s.MaxMessageBytes = 1 << 20 },
			opts: MailOptions{Size: 1234}, wantOpts: smtp.MailOptions{Size: 1234, Body: smtp.Body8BitMIME},
		},
		{
			name: "SMTPUTF8 sent when advertised", configure: func(s *smtp.Server) { s.EnableSMTPUTF8 = true },
			from: "jörg@example.com", opts: MailOptions{UTF8: true}, wantOpts: smtp.MailOptions{UTF8: true, Body: smtp.Body8BitMIME},
		},
		{
			name: "SMTPUTF8 dropped for an ASCII envelope", opts: MailOptions{UTF8: true},
			wantOpts: smtp.MailOptions{Body: smtp.Body8BitMIME},
		},
		{name: "SMTPUTF8 sender refused without support", from: "jörg@example.com", opts: MailOptions{UTF8: true}, wantCode: 553},
		{name: "SMTPUTF8 recipient refused without support", rcpt: "jörg@example.org", opts: MailOptions{UTF8: true}, wantCode: 553},
		{name: "REQUIRETLS refused without support", opts: MailOptions{RequireTLS: true}, wantCode: 550},
		{
			name: "DSN parameters passed on when advertised", configure: func(s *smtp.Server) { s.EnableDSN = true },
			opts:     MailOptions{Return: "HDRS", EnvelopeID: "QQ314159+2B"},
			rcptOpts: RcptOptions{Notify: []string{"SUCCESS", "FAILURE"}, ORCPTType: "rfc822", ORCPT: "B@example.org"},
			wantOpts: smtp.MailOptions{Body: smtp.Body8BitMIME, Return: smtp.DSNReturnHeaders, EnvelopeID: "QQ314159+2B"},
			wantRcpt: "{Notify:[SUCCESS FAILURE] OriginalRecipientType:RFC822 OriginalRecipient:B@example.org RequireRecipientValidSince:0001-01-01 00:00:00 +0000 UTC}",
		},
		{
			name: "UTF-8 ORCPT passed on", configure: func(s *smtp.Server) { s.EnableDSN, s.EnableSMTPUTF8 = true, true },
			rcpt: "usuário@example.org", opts: MailOptions{UTF8: true},
			rcptOpts: RcptOptions{Notify: []string{"NEVER"}, ORCPTType: "utf-8", ORCPT: "usuário@example.org"},
			wantOpts: smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: true},
			wantRcpt: "{Notify:[NEVER] OriginalRecipientType:UTF-8 OriginalRecipient:usuário@example.org RequireRecipientValidSince:0001-01-01 00:00:00 +0000 UTC}",
		},
		{name: "RET refused without DSN", opts: MailOptions{Return: "FULL"}, wantCode: 555},
		{name: "ENVID refused without DSN", opts: MailOptions{EnvelopeID: "x"}, wantCode: 555},
		{name: "NOTIFY refused without DSN", rcptOpts: RcptOptions{Notify: []string{"NEVER"}}, wantCode: 555},
		{name: "ORCPT refused without DSN", rcptOpts: RcptOptions{ORCPTType: "rfc822", ORCPT: "b@example.org"}, wantCode: 555},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			tg, _ := newTarget(t, startSink(t, s, tc.configure), nil)
			from, rcpt := tc.from, tc.rcpt
			if from == "" {
				from = "a@example.com"
			}
			if rcpt == "" {
				rcpt = "b@example.org"
			}
			ctx := context.Background()
			tx, _ := tg.Begin(ctx, from, tc.opts)
			defer tx.Abort()
			err := tx.Rcpt(ctx, rcpt, tc.rcptOpts)
			if tc.wantCode != 0 {
				var r *ReplyError
				if !errors.As(err, &r) || r.Code != tc.wantCode {
					t.Fatalf("Rcpt: %v, want %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); err != nil {
				t.Fatal(err)
			}
			_, _, _, _, msgs := s.snapshot()
			if len(msgs) != 1 || msgs[0].Opts != tc.wantOpts {
				t.Errorf("MAIL options %+v, want %+v", msgs, tc.wantOpts)
			}
			if got := fmt.Sprintf("%+v", msgs[0].RcptOpts); tc.wantRcpt != "" && got != "["+tc.wantRcpt+"]" {
				t.Errorf("RCPT options %s, want [%s]", got, tc.wantRcpt)
			}
		})
	}
}

// TestExtensionsFollowEHLO: a target knows nothing before its first
// connection and then what the downstream's EHLO offered.
func TestExtensionsFollowEHLO(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*smtp.Server)
		want      Extensions
	}{
		{name: "neither", want: Extensions{}},
		{name: "SMTPUTF8", configure: func(s *smtp.Server) { s.EnableSMTPUTF8 = true }, want: Extensions{SMTPUTF8: true}},
		{name: "both", configure: func(s *smtp.Server) { s.EnableSMTPUTF8, s.EnableDSN = true, true }, want: Extensions{SMTPUTF8: true, DSN: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, _ := newTarget(t, startSink(t, &sink{}, tc.configure), nil)
			if got := tg.Extensions(); got != (Extensions{}) {
				t.Fatalf("before any connection: %+v, want none", got)
			}
			tg.Probe(context.Background())
			if got := tg.Extensions(); got != tc.want {
				t.Errorf("after the probe: %+v, want %+v", got, tc.want)
			}
			if open, idle := tg.PoolStats(); open != 1 || idle != 1 {
				t.Errorf("pool after the probe: %d open, %d idle; want the probe's connection kept", open, idle)
			}
		})
	}
}

func TestClosedTarget(t *testing.T) {
	s := &sink{}
	tg, _ := newTarget(t, startSink(t, s, nil), nil)
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	eventually(t, "the idle connection to close", func() bool {
		_, logouts, _, _, _ := s.snapshot()
		return logouts == 1
	})
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("after Close: %v, want ErrUnavailable", err)
	}
}

func TestNewSMTPConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SMTPConfig
		wantErr string
		name2   string
	}{
		{name: "plain", cfg: SMTPConfig{Address: "127.0.0.1:25"}, name2: "smtp://127.0.0.1:25"},
		{name: "implicit TLS", cfg: SMTPConfig{Address: "mx.test:465", ImplicitTLS: true}, name2: "smtps://mx.test:465"},
		{name: "missing port", cfg: SMTPConfig{Address: "127.0.0.1"}, wantErr: "host:port"},
		{name: "bad StartTLS", cfg: SMTPConfig{Address: "127.0.0.1:25", StartTLS: "always"}, wantErr: "StartTLS"},
		{name: "bad source", cfg: SMTPConfig{Address: "127.0.0.1:25", SourceAddr: "eth0"}, wantErr: "source address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := NewSMTP(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.Name() != tc.name2 {
				t.Errorf("Name %q, want %q", tg.Name(), tc.name2)
			}
			if tg.cfg.StartTLS == "" || tg.cfg.CommandTimeout != DefaultCommandTimeout || tg.cfg.MaxConns != DefaultMaxConns {
				t.Errorf("defaults not applied: %+v", tg.cfg)
			}
		})
	}
}

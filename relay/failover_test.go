package relay

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newFailover(t *testing.T, members ...Target) *Failover {
	t.Helper()
	f, err := NewFailover(members...)
	if err != nil {
		t.Fatal(err)
	}
	fo, ok := f.(*Failover)
	if !ok {
		t.Fatalf("NewFailover of %d members returned %T", len(members), f)
	}
	return fo
}

// downstreamOf names the member a transaction is on.
func downstreamOf(tx Transaction) string {
	return tx.(interface{ Downstream() string }).Downstream()
}

func TestFailoverSingleIsTheTarget(t *testing.T) {
	tg, _ := newTarget(t, deadAddr(t), nil)
	f, err := NewFailover(tg)
	if err != nil || f != Target(tg) {
		t.Fatalf("NewFailover(one) = %v, %v; want the target itself", f, err)
	}
	if _, err := NewFailover(); err == nil {
		t.Fatal("NewFailover() accepted no target")
	}
}

// The primary cannot be reached (connection refused, a 4xx or 421
// greeting): the message goes to the backup, and the transaction says so.
func TestFailoverMovesOnBeforeAnyRecipient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary func(t *testing.T) (addr string, sessions func() int)
	}{
		{"connection refused", func(t *testing.T) (string, func() int) { return deadAddr(t), func() int { return 0 } }},
		{"421 greeting", func(t *testing.T) (string, func() int) {
			s := startRaw(t, nil, func(_ int, cmd string) string {
				if cmd == "<greeting>" {
					return "421 4.3.2 busy" + replyClose
				}
				return ""
			})
			return s.addr(), func() int { return len(s.commands()) }
		}},
		{"450 greeting", func(t *testing.T) (string, func() int) {
			s := startRaw(t, nil, func(_ int, cmd string) string {
				if cmd == "<greeting>" {
					return "450 4.3.2 try later"
				}
				return ""
			})
			return s.addr(), func() int { return len(s.commands()) }
		}},
		{"421 to MAIL", func(t *testing.T) (string, func() int) {
			s := startRaw(t, nil, func(_ int, cmd string) string {
				if strings.HasPrefix(cmd, "MAIL") {
					return "421 4.3.2 shutting down" + replyClose
				}
				return ""
			})
			return s.addr(), func() int { return 0 }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paddr, _ := tc.primary(t)
			primary, _ := newTarget(t, paddr, nil)
			s := &sink{}
			backup, _ := newTarget(t, startSink(t, s, nil), nil)
			f := newFailover(t, primary, backup)

			ctx := context.Background()
			tx, err := f.Begin(ctx, "a@example.com", MailOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Abort()
			for _, r := range []string{"b@example.org", "c@example.org"} {
				if err := tx.Rcpt(ctx, r, RcptOptions{}); err != nil {
					t.Fatalf("Rcpt %s: %v", r, err)
				}
			}
			if got := downstreamOf(tx); got != backup.Name() {
				t.Errorf("transaction on %q, want the backup %q", got, backup.Name())
			}
			if _, err := tx.Data(ctx, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
				t.Fatal(err)
			}
			_, _, _, _, msgs := s.snapshot()
			if len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != "b@example.org,c@example.org" {
				t.Fatalf("backup got %d messages (%v), want 1 with both recipients", len(msgs), msgs)
			}
		})
	}
}

// A reply of the primary to MAIL or RCPT (not 421) is the downstream's
// answer: passed on, the backup never asked.
func TestFailoverPassesRepliesOn(t *testing.T) {
	for _, tc := range []struct{ name, cmd, reply string }{
		{"451 to MAIL", "MAIL", "451 4.3.0 try later"},
		{"550 to RCPT", "RCPT", "550 5.1.1 no such user"},
		{"452 to RCPT", "RCPT", "452 4.2.2 mailbox full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startRaw(t, nil, func(_ int, cmd string) string {
				if strings.HasPrefix(cmd, tc.cmd) {
					return tc.reply
				}
				return ""
			})
			primary, _ := newTarget(t, p.addr(), nil)
			backup, bcnt := newTarget(t, deadAddr(t), nil)
			f := newFailover(t, primary, backup)
			ctx := context.Background()
			tx, _ := f.Begin(ctx, "a@example.com", MailOptions{})
			defer tx.Abort()
			err := tx.Rcpt(ctx, "b@example.org", RcptOptions{})
			var rep *ReplyError
			if !errors.As(err, &rep) || rep.String()[:3] != tc.reply[:3] {
				t.Fatalf("Rcpt = %v, want the primary's %q", err, tc.reply)
			}
			if n := bcnt.dials.Load(); n != 0 {
				t.Errorf("backup dialed %d times after the primary answered", n)
			}
		})
	}
}

// Once the primary took a recipient, a failure later in the transaction
// is the caller's to see: moving on would split or duplicate the message.
func TestFailoverNeverAfterARecipient(t *testing.T) {
	p := startRaw(t, nil, func(_ int, cmd string) string {
		if strings.HasPrefix(cmd, "RCPT TO:<c@") {
			return "421 4.3.2 going down" + replyClose
		}
		return ""
	})
	primary, _ := newTarget(t, p.addr(), nil)
	s := &sink{}
	backup, bcnt := newTarget(t, startSink(t, s, nil), nil)
	f := newFailover(t, primary, backup)
	ctx := context.Background()
	tx, _ := f.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	err := tx.Rcpt(ctx, "c@example.org", RcptOptions{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second Rcpt = %v, want ErrUnavailable from the primary", err)
	}
	if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); err == nil {
		t.Fatal("Data succeeded on a transaction whose downstream went away")
	}
	if n := bcnt.dials.Load(); n != 0 {
		t.Errorf("backup dialed %d times after the primary took a recipient", n)
	}
	if _, _, mails, _, _ := s.snapshot(); mails != 0 {
		t.Errorf("backup saw %d MAIL commands", mails)
	}
}

// Every member down: the error wraps ErrUnavailable, and the next
// recipient tries them all again.
func TestFailoverAllDown(t *testing.T) {
	a, acnt := newTarget(t, deadAddr(t), nil)
	b, bcnt := newTarget(t, deadAddr(t), nil)
	f := newFailover(t, a, b)
	ctx := context.Background()
	tx, _ := f.Begin(ctx, "a@example.com", MailOptions{})
	defer tx.Abort()
	for i := 1; i <= 2; i++ {
		if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Rcpt %d = %v, want ErrUnavailable", i, err)
		}
		if acnt.dials.Load() != int64(i) || bcnt.dials.Load() != int64(i) {
			t.Fatalf("after Rcpt %d: %d and %d dials, want %d each", i, acnt.dials.Load(), bcnt.dials.Load(), i)
		}
	}
}

// SMTPUTF8 and DSN count only when every member offers them.
func TestFailoverExtensions(t *testing.T) {
	full := startRaw(t, []string{"SMTPUTF8", "DSN"}, nil)
	bare := startRaw(t, []string{"SMTPUTF8"}, nil)
	a, _ := newTarget(t, full.addr(), nil)
	b, _ := newTarget(t, bare.addr(), nil)
	f := newFailover(t, a, b)
	r, err := NewRouter(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Probe(context.Background())
	if got := a.Extensions(); got != (Extensions{SMTPUTF8: true, DSN: true}) {
		t.Fatalf("primary probed: %+v", got)
	}
	if got := r.Extensions(); got != (Extensions{SMTPUTF8: true}) {
		t.Errorf("router extensions %+v, want SMTPUTF8 only (the backup lacks DSN)", got)
	}
}

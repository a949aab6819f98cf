package relay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPoolReuse(t *testing.T) {
	s := &sink{}
	tg, cnt := newTarget(t, startSink(t, s, nil), nil)
	for i := range 3 {
		if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	sessions, _, _, _, msgs := s.snapshot()
	if cnt.dials.Load() != 1 || sessions != 1 || len(msgs) != 3 {
		t.Errorf("%d dials, %d sessions, %d messages; want 1, 1, 3", cnt.dials.Load(), sessions, len(msgs))
	}
	if cnt.event("reuse") != 2 {
		t.Errorf("events %v, want 2 reuse", cnt.events)
	}
}

func TestRsetBetweenTransactions(t *testing.T) {
	raw := startRaw(t, nil, nil)
	tg, _ := newTarget(t, raw.addr(), nil)
	ctx := context.Background()

	// An aborted transaction leaves MAIL open downstream: RSET it.
	tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}
	tx.Abort()
	// A delivered one ends with the final reply: no RSET needed.
	if _, err := send(t, tg, "c@example.com", []string{"d@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, tg, "e@example.com", []string{"f@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range raw.commands() {
		got = append(got, strings.Fields(c)[1]) // verb only, connection number checked below
		if !strings.HasPrefix(c, "1 ") {
			t.Errorf("command on another connection: %q", c)
		}
	}
	want := "EHLO MAIL RCPT RSET EHLO MAIL RCPT DATA MAIL RCPT DATA"
	if strings.Join(got, " ") != want {
		t.Errorf("commands %q, want %q", strings.Join(got, " "), want)
	}
}

func TestHealthCheckDiscardsDeadConnection(t *testing.T) {
	raw := startRaw(t, nil, nil)
	tg, cnt := newTarget(t, raw.addr(), func(c *SMTPConfig) { c.HealthCheckAfter = -1 })
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	raw.killAll() // the downstream drops the idle connection
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatalf("second transaction: %v, want the dead connection replaced transparently", err)
	}
	if cnt.dials.Load() != 2 || cnt.event("healthcheck_fail") != 1 {
		t.Errorf("%d dials, events %v; want 2 dials and one healthcheck_fail", cnt.dials.Load(), cnt.events)
	}
	if d := raw.datas(); len(d) != 2 {
		t.Errorf("%d messages delivered, want 2", len(d))
	}
}

func TestHealthCheckNoopWhenIdle(t *testing.T) {
	raw := startRaw(t, nil, nil)
	tg, _ := newTarget(t, raw.addr(), func(c *SMTPConfig) { c.HealthCheckAfter = -1 })
	for range 2 {
		if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	noops := 0
	for _, c := range raw.commands() {
		if strings.HasSuffix(c, "NOOP") {
			noops++
		}
	}
	if noops != 1 {
		t.Errorf("%d NOOP, want 1 (before the reuse)", noops)
	}
}

func TestStaleConnectionRetriedWithoutHealthCheck(t *testing.T) {
	raw := startRaw(t, nil, nil)
	tg, cnt := newTarget(t, raw.addr(), func(c *SMTPConfig) { c.HealthCheckAfter = time.Hour })
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	raw.killAll()
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatalf("second transaction: %v, want MAIL retried on a new connection", err)
	}
	if cnt.dials.Load() != 2 || cnt.event("retry") != 1 {
		t.Errorf("%d dials, events %v; want 2 dials and one retry", cnt.dials.Load(), cnt.events)
	}
}

func TestMaxConns(t *testing.T) {
	s := &sink{}
	tg, cnt := newTarget(t, startSink(t, s, nil), func(c *SMTPConfig) { c.MaxConns = 1 })
	ctx := context.Background()
	busy, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
	if err := busy.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
		t.Fatal(err)
	}

	// The second transaction waits, then fails when its ctx ends.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	tx, _ := tg.Begin(short, "c@example.com", MailOptions{})
	err := tx.Rcpt(short, "d@example.org", RcptOptions{})
	tx.Abort()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Rcpt while the pool is full: %v, want ErrUnavailable and the deadline", err)
	}
	if cnt.event("pool_wait") != 1 || cnt.event("pool_timeout") != 1 {
		t.Errorf("events %v, want pool_wait and pool_timeout", cnt.events)
	}

	// A waiting transaction gets the connection once it is released.
	got := make(chan error, 1)
	go func() {
		tx, _ := tg.Begin(ctx, "e@example.com", MailOptions{})
		defer tx.Abort()
		got <- tx.Rcpt(ctx, "f@example.org", RcptOptions{})
	}()
	eventually(t, "the third transaction to wait", func() bool { return cnt.event("pool_wait") == 2 })
	busy.Abort()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting Rcpt: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting Rcpt was not woken by the released connection")
	}
	if n := cnt.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1 with MaxConns 1", n)
	}
}

func TestIdleTimeoutCloses(t *testing.T) {
	s := &sink{}
	tg, cnt := newTarget(t, startSink(t, s, nil), func(c *SMTPConfig) { c.IdleTimeout = 50 * time.Millisecond })
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle connection to be closed", func() bool {
		_, logouts, _, _, _ := s.snapshot()
		return logouts == 1
	})
	if cnt.event("idle_close") != 1 {
		t.Errorf("events %v, want one idle_close", cnt.events)
	}
	tg.mu.Lock()
	idle, open, janitor := len(tg.idle), tg.open, tg.janitor
	tg.mu.Unlock()
	if idle != 0 || open != 0 || janitor != nil {
		t.Errorf("pool after expiry: %d idle, %d open, janitor %v; want empty and no timer", idle, open, janitor)
	}
	// The pool still works afterwards.
	if _, err := send(t, tg, "a@example.com", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	if n := cnt.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
}

func TestMaxIdle(t *testing.T) {
	s := &sink{}
	tg, _ := newTarget(t, startSink(t, s, nil), func(c *SMTPConfig) { c.MaxIdle = 1 })
	ctx := context.Background()
	var txs []Transaction
	for range 3 {
		tx, _ := tg.Begin(ctx, "a@example.com", MailOptions{})
		if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		if _, err := tx.Data(ctx, strings.NewReader("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the surplus connections to close", func() bool {
		_, logouts, _, _, _ := s.snapshot()
		return logouts == 2
	})
	tg.mu.Lock()
	idle, open := len(tg.idle), tg.open
	tg.mu.Unlock()
	if idle != 1 || open != 1 {
		t.Errorf("%d idle, %d open; want 1 and 1", idle, open)
	}
}

package backend_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/listener"
)

// slowDNS is a heloguard.Resolver whose answers wait for release (or for
// the caller's context): it counts the lookups that reached it and how
// many were waiting at once. A lookup whose context has already ended is
// not counted, as the real resolver sends nothing for it.
type slowDNS struct {
	release chan struct{}

	mu       sync.Mutex
	total    int
	inFlight int
	peak     int
}

func newSlowDNS() *slowDNS { return &slowDNS{release: make(chan struct{})} }

func (d *slowDNS) wait(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	}
	d.mu.Lock()
	d.total++
	d.inFlight++
	d.peak = max(d.peak, d.inFlight)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inFlight--
		d.mu.Unlock()
	}()
	select {
	case <-d.release:
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	case <-ctx.Done():
		return &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTemporary: true}
	}
}

func (d *slowDNS) counts() (total, inFlight, peak int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total, d.inFlight, d.peak
}

func (d *slowDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return nil, d.wait(ctx, host)
}

func (d *slowDNS) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, d.wait(ctx, addr)
}

func (d *slowDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return nil, d.wait(ctx, name)
}

// Bug 4 of issue 12: every EHLO started a new HELO evaluation without
// ending the one before, and EHLO is answered at once, so one connection
// pipelining EHLOs with new names piled up DNS lookups and goroutines
// without bound. Now a new name cancels the evaluation before it and at
// most one runs per session: with DNS that never answers on its own, the
// lookups waiting at once stay those of one evaluation. (The greeting cap
// of the listener guard is off here: this is the session's own bound.)
func TestEHLOFloodOneEvaluationInFlight(t *testing.T) {
	const greetings = 200
	dns := newSlowDNS()
	env := newEnv(t, newTarget("down"))
	env.Resolver = dns
	env = withHELO(t, env, heloguard.Config{Profile: heloguard.ProfileCPanel, Checks: map[string]heloguard.Action{
		heloguard.CheckForwardDNS: heloguard.ActionReject,
		heloguard.CheckRDNS:       heloguard.ActionReject,
	}})
	h := start(t, env, opts{})
	t.Cleanup(func() { close(dns.release) })

	// One evaluation alone: the lookups it keeps waiting at once.
	c0 := h.dial()
	c0.ehlo("first.example.org")
	perEval := waitLookups(t, dns, 1)
	c0.conn.Close()
	waitIdle(t, dns)

	base := runtime.NumGoroutine()
	c := h.dial()
	var b strings.Builder
	for i := range greetings {
		fmt.Fprintf(&b, "EHLO n%d.flood.example.org\r\n", i)
	}
	c.send(b.String())
	for i := range greetings {
		if got := c.reply(); !strings.HasPrefix(got[0], "250") {
			t.Fatalf("EHLO %d: %q", i, got)
		}
	}
	c.sync()
	// The last evaluation is running (its lookups wait for release).
	waitLookups(t, dns, 1)
	grown := runtime.NumGoroutine() - base
	total, inFlight, peak := dns.counts()
	t.Logf("one evaluation: %d lookups; flood of %d: %d lookups, %d in flight, peak %d, goroutines +%d",
		perEval, greetings, total, inFlight, peak, grown)
	// A cancelled evaluation returns as soon as its context ends, while
	// its lookups may still be unwinding in the fake resolver when the
	// next one starts: allow one evaluation's overlap, never growth with
	// the flood (before the fix: 401 at once for 200 greetings).
	if peak > 2*perEval {
		t.Errorf("%d lookups waited at once, one evaluation makes %d", peak, perEval)
	}
	if grown > 50 {
		t.Errorf("%d goroutines more than before the flood", grown)
	}
}

// waitLookups waits until at least n lookups are in flight and the count
// has held still for a moment, and returns it.
func waitLookups(t *testing.T, d *slowDNS, n int) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		_, cur, _ := d.counts()
		if cur != last {
			last, since = cur, time.Now()
		}
		if cur >= n && time.Since(since) > 200*time.Millisecond {
			return cur
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("lookups in flight: %d, want at least %d", last, n)
	return 0
}

// waitIdle waits until no lookup is in flight.
func waitIdle(t *testing.T, d *slowDNS) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if _, cur, _ := d.counts(); cur == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("lookups still in flight after the client left")
}

// Issue 12: a 3000-byte HELO name was logged whole, in every line that
// names it. Every client-supplied string the session logs (HELO name,
// MAIL FROM, RCPT TO, evidence quoting the HELO) now goes through
// reply.Clip: its first 255 bytes and how many were cut.
func TestLogLinesClipClientStrings(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileCPanel})
	// Lines of 3000 bytes pass only a max_line_length raised for the test
	// (the default is 1000).
	h := start(t, env, opts{guard: func(c *listener.Config) { c.MaxLineLength = 8192 }})

	long := strings.Repeat("a", 3000)
	c := h.dial()
	c.ehlo(long)
	c.ehlo(long + "b") // "helo changed" names both
	c.expectCode("MAIL FROM:<x@"+long+".example>", "550")
	c2 := h.dial()
	c2.ehlo(clientHELO)
	c2.expectCode("MAIL FROM:<"+long+"@remote.example>", "250")
	c2.expectCode("RCPT TO:<"+long+"@remote.example>", "554")
	c.expect("QUIT", "221 2.0.0 Bye")
	c2.expect("QUIT", "221 2.0.0 Bye")
	if !c.closed() || !c2.closed() {
		t.Fatal("QUIT did not close")
	}
	waitLog(t, h, 2, "msg=disconnect")

	logs := h.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, strings.Repeat("a", 256)) {
			t.Errorf("log line carries more than 255 bytes of a client string: %.300s...", line)
		}
	}
	for _, want := range []string{
		"helo=\"" + long[:255] + "...(cut 2745 bytes)",            // greeting (debug)
		"helo=\"" + long[:255] + "...(cut 2746 bytes)\" check=",   // reject
		"previous=\"" + long[:255] + "...(cut 2745 bytes)",        // helo changed
		"evidence=\"HELO '" + long[:255] + "...(cut 2746 bytes)'", // evidence quoting the HELO
		"rcpt=\"" + long[:255] + "...(cut 2760 bytes)",            // RCPT refusal, 3000+15
		"from=\"" + long[:255] + "...(cut 2760 bytes)",            // MAIL
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %.40s...%s", want, want[len(want)-min(len(want), 30):])
		}
	}
}

// waitLog waits until the log holds n lines containing s.
func waitLog(t *testing.T, h *harness, n int, s string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for strings.Count(h.logs.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log has %d lines with %q, want %d", strings.Count(h.logs.String(), s), s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package backend_test

import (
	"testing"

	"github.com/smtpgateway/gateway/heloguard"
)

// BenchmarkSessionRelay measures one whole SMTP session through the guard,
// go-smtp and the backend, with the cPanel HELO policy on a fake DNS and a
// fake downstream: connect, EHLO, MAIL, RCPT, DATA (a small message with
// the trace headers added), QUIT.
func BenchmarkSessionRelay(b *testing.B) {
	tg := newTarget("down")
	env := withHELO(b, newEnv(b, tg), heloguard.Config{Profile: heloguard.ProfileCPanel})
	h := start(b, env, opts{})
	b.ReportAllocs()
	for b.Loop() {
		c := h.dial()
		c.open()
		if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
			b.Fatalf("DATA: %q", got)
		}
		c.expect("QUIT", "221 2.0.0 Bye")
		c.conn.Close()
	}
	b.StopTimer()
	tg.mu.Lock()
	n := len(tg.txs)
	tg.txs = nil
	tg.mu.Unlock()
	if n == 0 {
		b.Fatal("nothing relayed")
	}
}

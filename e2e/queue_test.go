package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// queueOpts is a gateway in the given relay mode with a spool in a
// temporary directory and fast retries.
func queueOpts(t *testing.T, mode string) opts {
	return opts{extra: fmt.Sprintf("mode = %q\n[queue]\ndir = %q\nretry_min = \"1s\"\nretry_max = \"2s\"\nmin_free_bytes = 0\n", mode, t.TempDir())}
}

// TestQueueDownstreamDownThenUp: in queue and hybrid mode, with Postfix
// stopped, a recipient Postfix accepted before is accepted from the verify
// cache and the message gets 250; any other recipient gets 451 4.4.1.
// Postfix back: the spooled message is delivered exactly once.
func TestQueueDownstreamDownThenUp(t *testing.T) {
	for _, mode := range []string{"queue", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			o := queueOpts(t, mode)
			// mode belongs in [relay], which opts.toml writes last before extra.
			e := setup(t, &e2etest.PostfixOptions{}, o)
			out, code := e.swaks(t, "--to", "known@example.com", "--header", "Subject: first")
			if code != 0 {
				t.Fatalf("first message, downstream up: exit %d\n%s", code, out)
			}
			e.postfix.WaitMessages(t, 1, 30*time.Second)

			e.postfix.Stop(t)
			r := e2etest.DialRaw(t, e.mx, "")
			r.Cmd(t, "EHLO "+clientHELO)
			if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
				t.Fatalf("MAIL: %s", rep)
			}
			if rep := r.Cmd(t, "RCPT TO:<stranger@example.com>"); !strings.HasPrefix(rep.Raw, "451 4.4.1 ") {
				t.Fatalf("RCPT of an unverified recipient with the downstream down: %s, want 451 4.4.1", rep)
			}
			if rep := r.Cmd(t, "RCPT TO:<known@example.com>"); rep.Code != 250 {
				t.Fatalf("RCPT of a verified recipient with the downstream down: %s, want 250", rep)
			}
			if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
				t.Fatalf("DATA: %s", rep)
			}
			rep := r.Cmd(t, "Subject: spooled\r\n\r\nwhile the downstream was down\r\n.")
			if rep.Code != 250 || !strings.Contains(rep.Raw, "queued as") {
				t.Fatalf("end of DATA with the downstream down: %s, want 250 queued as", rep)
			}
			r.Cmd(t, "QUIT")

			e.postfix.Start(t)
			e.postfix.WaitMessages(t, 2, 60*time.Second)
			time.Sleep(3 * time.Second) // two more retry periods: a duplicate would show
			msgs := e.postfix.Messages(t)
			n := 0
			for _, m := range msgs {
				if strings.Contains(string(m.Raw), "Subject: spooled") {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("spooled message delivered %d times, want once (%d messages in all)", n, len(msgs))
			}
		})
	}
}

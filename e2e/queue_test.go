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

// localSender is a sender in a domain the test Postfix delivers locally,
// so that the DSNs the queue sends it land in Postfix's maildir.
const localSender = "alice@example.org"

// dsnTo returns the messages to rcpt from the null sender that are
// delivery reports.
func dsnTo(msgs []e2etest.Message, rcpt string) []e2etest.Message {
	var out []e2etest.Message
	for _, m := range msgs {
		raw := string(m.Raw)
		if m.Recipient == rcpt && strings.Contains(raw, "Return-Path: <>") && strings.Contains(raw, "report-type=delivery-status") {
			out = append(out, m)
		}
	}
	return out
}

// TestQueueRefusedAtDataDSN: in queue mode the client hears 250 before the
// downstream sees the message; Postfix refusing it at the end of DATA
// (header_checks) makes the queue send a DSN to the sender, which Postfix
// delivers to the sender's mailbox.
func TestQueueRefusedAtDataDSN(t *testing.T) {
	o := queueOpts(t, "queue")
	e := setup(t, &e2etest.PostfixOptions{ExtraMainCF: map[string]string{
		"header_checks":        "regexp:{ {/^X-Refuse-Me: yes/ REJECT refused by header_checks} }",
		"nested_header_checks": "",
		"mime_header_checks":   "",
	}}, o)
	out, code := e2etest.Swaks(t, "--server", e.mx, "--ehlo", clientHELO, "--from", localSender, "--to", "bob@example.com",
		"--header", "X-Refuse-Me: yes", "--header", "Subject: refused at data")
	if code != 0 || !strings.Contains(out, "queued as") {
		t.Fatalf("swaks: exit %d, want 250 queued as:\n%s", code, out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 60*time.Second)
	dsns := dsnTo(msgs, localSender)
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs to %s among %d messages, want 1", len(dsns), localSender, len(msgs))
	}
	raw := string(dsns[0].Raw)
	for _, want := range []string{"Action: failed", "bob@example.com", "550", "refused by header_checks"} {
		if !strings.Contains(raw, want) {
			t.Errorf("DSN lacks %q:\n%s", want, raw)
		}
	}
	for _, m := range msgs {
		if m.Recipient == "bob@example.com" {
			t.Errorf("the refused message reached bob:\n%s", m.Raw)
		}
	}
}

// TestQueueMaxAgeDSN: a message still undelivered after max_age is
// removed and its sender gets a "failed" DSN (delivered once the
// downstream is back).
func TestQueueMaxAgeDSN(t *testing.T) {
	o := queueOpts(t, "queue")
	o.extra += "max_age = \"6s\"\ndelay_warning = \"0s\"\n"
	e := setup(t, &e2etest.PostfixOptions{}, o)
	out, code := e2etest.Swaks(t, "--server", e.mx, "--ehlo", clientHELO, "--from", localSender, "--to", "carol@example.com", "--header", "Subject: verify")
	if code != 0 {
		t.Fatalf("first message: exit %d\n%s", code, out)
	}
	e.postfix.WaitMessages(t, 1, 30*time.Second)
	e.postfix.Stop(t)
	out, code = e2etest.Swaks(t, "--server", e.mx, "--ehlo", clientHELO, "--from", localSender, "--to", "carol@example.com", "--header", "Subject: will expire")
	if code != 0 || !strings.Contains(out, "queued as") {
		t.Fatalf("message with the downstream down: exit %d, want 250 queued as\n%s", code, out)
	}
	e.gw.WaitLog(t, "queue message expired", 30*time.Second)
	e.postfix.Start(t)
	msgs := e.postfix.WaitMessages(t, 2, 60*time.Second)
	dsns := dsnTo(msgs, localSender)
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs to %s among %d messages, want 1", len(dsns), localSender, len(msgs))
	}
	if raw := string(dsns[0].Raw); !strings.Contains(raw, "Action: failed") || !strings.Contains(raw, "carol@example.com") {
		t.Errorf("DSN:\n%s", raw)
	}
	for _, m := range msgs {
		if strings.Contains(string(m.Raw), "Subject: will expire") && m.Recipient == "carol@example.com" {
			t.Errorf("the expired message was delivered")
		}
	}
}

// TestHybridDownstreamFailsBeforeFinal250: hybrid mode starts as proxy
// (the recipient is accepted by the live downstream); Postfix going away
// between RCPT and the end of DATA makes the gateway spool the copy it
// kept and answer 250; Postfix back, the message arrives exactly once.
// A downstream refusal still passes through as in proxy mode.
func TestHybridDownstreamFailsBeforeFinal250(t *testing.T) {
	o := queueOpts(t, "hybrid")
	e := setup(t, &e2etest.PostfixOptions{RejectRecipients: map[string]string{
		"nobody@example.com": "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown"}}, o)

	r := e2etest.DialRaw(t, e.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
		t.Fatalf("MAIL: %s", rep)
	}
	if rep := r.Cmd(t, "RCPT TO:<nobody@example.com>"); !strings.HasPrefix(rep.Raw, "550 5.1.1 ") {
		t.Fatalf("RCPT of a recipient Postfix refuses: %s, want its 550 5.1.1 passed through", rep)
	}
	if rep := r.Cmd(t, "RCPT TO:<dan@example.com>"); rep.Code != 250 {
		t.Fatalf("RCPT: %s", rep)
	}
	e.postfix.Stop(t)
	if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %s", rep)
	}
	rep := r.Cmd(t, "Subject: hybrid\r\n\r\nthe downstream went away mid-transaction\r\n.")
	if rep.Code != 250 || !strings.Contains(rep.Raw, "queued as") {
		t.Fatalf("end of DATA after the downstream went away: %s, want 250 queued as", rep)
	}
	r.Cmd(t, "QUIT")
	e.gw.WaitLog(t, "downstream failed", 10*time.Second)

	e.postfix.Start(t)
	e.postfix.WaitMessages(t, 1, 60*time.Second)
	time.Sleep(3 * time.Second) // more retry periods: a duplicate would show
	msgs := e.postfix.Messages(t)
	if len(msgs) != 1 || msgs[0].Recipient != "dan@example.com" || !strings.Contains(string(msgs[0].Raw), "the downstream went away") {
		t.Fatalf("%d messages after Postfix came back, want the spooled one once", len(msgs))
	}
	if !strings.Contains(string(msgs[0].Raw), "Received: from "+clientHELO) {
		t.Errorf("spooled message lacks the gateway's Received field:\n%s", msgs[0].Raw)
	}
}

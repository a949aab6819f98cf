package e2e

// A client must not be able to add text to a header field the gateway
// writes (issue 12, bug 3). A message whose first line begins with a space
// or a tab would be a continuation line of the gateway's Received field.
// Setup: the gateway in front of a real Postfix, in both
// bare_line_endings modes; a raw client sends such messages over DATA and
// BDAT, then one whose forged Authentication-Results field (removed by the
// gateway) has a continuation line. Proof: the folded first line gets 554
// 5.6.0 and Postfix stores nothing; the other message arrives with the
// gateway's fields ending where the gateway ended them and the client's
// text as the client sent it, minus the removed field.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

const foldedReply = "554 5.6.0 Error: message starts with a folded header line (a line beginning with a space or tab); send a header field first"

func TestFoldedFirstLineCannotJoinOurHeader(t *testing.T) {
	for _, mode := range []string{"reject", "normalize"} {
		t.Run(mode, func(t *testing.T) {
			e := setup(t, &e2etest.PostfixOptions{}, opts{
				extra: fmt.Sprintf("[limits]\nbare_line_endings = %q\n", mode)})
			payloads := []string{
				"\tby trusted.example (authenticated)\r\n\r\nbody\r\n",
				" by trusted.example (authenticated)\r\nSubject: s\r\n\r\nbody\r\n",
			}
			if mode == "normalize" {
				payloads = append(payloads, "\tby trusted.example (authenticated)\n\nbody\r\n")
			}
			for _, p := range payloads {
				for _, bdat := range []bool{false, true} {
					rep := sendPayload(t, e.mx, p, bdat)
					if rep.String() != foldedReply {
						t.Errorf("%q (bdat=%v): reply %q, want %q", p, bdat, rep.String(), foldedReply)
					}
				}
			}
			e.gw.WaitLog(t, "check=folded_first_line", 5*time.Second)

			// A removed field takes its continuation line with it.
			const forged = "Authentication-Results: mx.example.com; auth=pass\r\n\tby trusted.example (authenticated)\r\n"
			const kept = "Subject: after a removed field\r\n\r\nbody\r\n"
			if rep := sendPayload(t, e.mx, forged+kept, false); rep.Code != 250 {
				t.Fatalf("message with a forged field: %s", rep)
			}
			msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
			time.Sleep(300 * time.Millisecond)
			if n := len(e.postfix.Messages(t)); n != 1 {
				t.Fatalf("Postfix stored %d messages, want only the last one", n)
			}
			added, rest := gatewayHeaders(t, msgs[0].Relayed())
			if string(rest) != kept {
				t.Errorf("client's part arrived as %q, want %q", rest, kept)
			}
			if strings.Contains(added, "trusted.example") || strings.Count(added, "Authentication-Results:") != 1 {
				t.Errorf("the gateway's header fields carry client text:\n%s", added)
			}
			e.postfix.WaitQueueEmpty(t, 10*time.Second)
		})
	}
}

// sendPayload sends one message with exactly the given bytes over DATA or
// BDAT and returns the final reply.
func sendPayload(t *testing.T, mx, payload string, bdat bool) e2etest.Reply {
	t.Helper()
	r := e2etest.DialRaw(t, mx, "")
	defer r.Close()
	r.Cmd(t, "EHLO "+clientHELO)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
		t.Fatalf("MAIL: %s", rep)
	}
	if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
		t.Fatalf("RCPT: %s", rep)
	}
	if bdat {
		r.Send(t, []byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(payload), payload)))
		return r.ReadReply(t)
	}
	if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %s", rep)
	}
	r.Send(t, []byte(payload+".\r\n"))
	return r.ReadReply(t)
}

package e2e

// Command lines the way an attacker writes them (issue 12): control
// characters, unknown verbs, long lines. Setup: the gateway with its
// default limits in front of a real Postfix. Proof: a line with NUL, a bare
// CR or another control character gets "501 5.5.2" and is neither echoed
// nor acted on (the session goes on and can still deliver); an unknown verb
// gets "500 5.5.1" whatever its length; a command line longer than the
// default 1000 bytes is refused while an AUTH line may be as long as RFC
// 4954's 12288; each refusal has its log line.

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestCommandLineHygiene(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})

	t.Run("control characters", func(t *testing.T) {
		cases := []struct{ name, line string }{
			{"CR in EHLO", "EHLO evil\rX-Injected: yes"},
			{"NUL in MAIL", "MAIL FROM:<a\x00b@sender-e2e.net>"},
			{"bare CR before CRLF", "NOOP\r"},
			{"ESC in RCPT", "RCPT TO:<bob@example.com>\x1b[2J"},
			{"DEL in HELO", "HELO mail\x7fsender-e2e.net"},
		}
		r := e2etest.DialRaw(t, e.mx, "127.0.0.50")
		greetEHLO(t, r, clientHELO)
		for _, tc := range cases {
			rep := r.Cmd(t, tc.line)
			wantReply(t, tc.name, rep, 501, "5.5.2 Syntax error: control characters in command line")
			if strings.Contains(rep.Raw, "Injected") || strings.ContainsAny(strings.TrimRight(rep.Raw, "\r\n"), "\x00\x1b\x7f") {
				t.Errorf("%s: the reply echoes the line: %q", tc.name, rep.Raw)
			}
		}
		// HTAB is no control character here.
		wantReply(t, "NOOP with a tab", r.Cmd(t, "NOOP a\tb"), 250, "")
		// Nothing was taken: no MAIL is open, so a clean transaction works.
		wantReply(t, "MAIL after the refusals", r.Cmd(t, "MAIL FROM:<"+sender+">"), 250, "")
		wantReply(t, "RCPT", r.Cmd(t, "RCPT TO:<bob@example.com>"), 250, "")
		wantReply(t, "DATA", r.Cmd(t, "DATA"), 354, "")
		wantReply(t, "end of data", r.Cmd(t, "Subject: clean\r\n\r\nafter control characters\r\n."), 250, "")
		msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
		if len(msgs) != 1 || !strings.Contains(string(msgs[0].Raw), "after control characters") {
			t.Fatalf("downstream: %d messages", len(msgs))
		}
		if n := waitCount(e.gw, len(cases), "reason=control_characters", "code=501", "client_ip=127.0.0.50"); n != len(cases) {
			t.Errorf("%d control_characters log lines, want %d", n, len(cases))
		}
		if strings.Contains(e.gw.Logs(), "Injected") {
			t.Errorf("the log carries the client's injected text")
		}
	})

	t.Run("unknown commands", func(t *testing.T) {
		r := e2etest.DialRaw(t, e.mx, "127.0.0.51")
		greetEHLO(t, r, clientHELO)
		for _, line := range []string{"XYZZY", "FOO bar", "HELLO mail.sender-e2e.net", "MAILFROM:<a@b.example>", "QU", "X-EVIL-VERB argument"} {
			wantReply(t, line, r.Cmd(t, line), 500, "5.5.1 Error: command not recognized")
		}
		// Known verbs are go-smtp's to answer, as before.
		wantReply(t, "NOOP", r.Cmd(t, "NOOP"), 250, "")
		wantReply(t, "EXPN", r.Cmd(t, "EXPN staff"), 502, "5.5.1")
		if n := waitCount(e.gw, 6, "reason=unknown_command", "code=500", "client_ip=127.0.0.51"); n != 6 {
			t.Errorf("%d unknown_command log lines, want 6", n)
		}
	})

	t.Run("line length", func(t *testing.T) {
		// The probe: a 2000-byte NOOP.
		r := e2etest.DialRaw(t, e.mx, "127.0.0.52")
		greetEHLO(t, r, clientHELO)
		wantReply(t, "a 2000-byte NOOP", r.Cmd(t, "NOOP "+strings.Repeat("x", 1995)), 500, "5.5.2 Line too long")
		r.WaitClosed(t, 5*time.Second)

		// An AUTH line with its initial response may be 12288 bytes (RFC
		// 4954 §4): this listener has no AUTH, so the reply is its own,
		// not "Line too long".
		r = e2etest.DialRaw(t, e.mx, "127.0.0.53")
		greetEHLO(t, r, clientHELO)
		auth := "AUTH PLAIN " + strings.Repeat("QUFB", (12288-11)/4)
		if rep := r.Cmd(t, auth); rep.Code == 500 {
			t.Fatalf("a %d-byte AUTH line: %q", len(auth), rep.String())
		}
		wantReply(t, "NOOP after the long AUTH line", r.Cmd(t, "NOOP"), 250, "")
		wantReply(t, "an AUTH line over 12288 bytes", r.Cmd(t, auth+"QUFB"), 500, "5.5.2 Line too long")
		r.WaitClosed(t, 5*time.Second)
		for _, limit := range []string{"limit=1000", "limit=12288"} {
			if l := e.gw.WaitLog(t, limit, 5*time.Second); !strings.Contains(l, "reason=line_too_long") {
				t.Errorf("log line %q", l)
			}
		}
	})
}

// waitCount waits (5 s at most) until the gateway's log holds n lines with
// every one of subs, and returns how many it holds then: the log arrives
// through a pipe, a little after the reply.
func waitCount(gw *e2etest.Gateway, n int, subs ...string) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := countLines(gw.Logs(), subs...)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package e2e

// SMTP smuggling (CVE-2023-51764/51765/51766): a message body holding a
// non-standard end of data followed by a second MAIL FROM is one message
// to a modern server and two to a lenient legacy one. Setup: the gateway
// in front of a raw recording downstream that keeps every byte. Proof: for
// every variant, in both modes and over DATA and BDAT, the downstream
// stream holds exactly one MAIL command per message the client got 250 for,
// and no bare CR or LF anywhere.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

var smuggleVariants = []struct{ name, eod string }{
	{"LF.LF", "\n.\n"},
	{"LF.CRLF", "\n.\r\n"},
	{"CRLF.LF", "\r\n.\n"},
	{"CR.CR", "\r.\r"},
	{"CRLF.CR", "\r\n.\r"},
	{"CR.CRLF", "\r.\r\n"},
	{"NUL", "\r\n\x00.\r\n"},
	{"LF.NUL.LF", "\n.\x00\n"},
}

func smugglePayload(eod string) string {
	return "Subject: innocent\r\n\r\nfirst message" + eod +
		"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n" +
		"Subject: smuggled\r\n\r\nsecond message\r\n"
}

func TestSmuggling(t *testing.T) {
	e2etest.Require(t, "swaks")
	for _, mode := range []string{"reject", "normalize"} {
		t.Run(mode, func(t *testing.T) {
			sink := startRawSink(t)
			mx := e2etest.FreeAddr(t, "127.0.0.1")
			cfg := opts{mx: mx, downstream: "smtp://" + sink.addr(), dns: startDNS(t),
				extra: fmt.Sprintf("[limits]\nbare_line_endings = %q\nnul_bytes = \"strip\"\n", mode)}
			e2etest.StartGateway(t, cfg.toml(), mx)
			accepted := 0
			for _, v := range smuggleVariants {
				for _, bdat := range []bool{false, true} {
					ok := sendSmuggle(t, mx, smugglePayload(v.eod), bdat)
					if ok {
						accepted++
					}
					// A bare CR or LF always reaches the gateway as data
					// (go-smtp passes it through), so reject mode must
					// refuse it. Over DATA, go-smtp's dot reader drops the
					// dot and the CR of "<CRLF>.<CR>x"; the guard sees them
					// and the message is refused in both modes (whether that
					// CR ended a "." line is the smuggling ambiguity itself).
					dotCR := !bdat && v.eod == "\r\n.\r"
					if mode == "reject" && ok && bareEndings([]byte(v.eod)) {
						t.Errorf("%s (bdat=%v): accepted in reject mode", v.name, bdat)
					}
					if mode == "normalize" && ok == dotCR {
						t.Errorf("%s (bdat=%v): accepted=%v in normalize mode", v.name, bdat, ok)
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
			streams, messages := sink.snapshot()
			mails := 0
			for _, s := range streams {
				mails += countMAIL(s)
				if bareEndings(s) {
					t.Errorf("a bare CR or LF reached the downstream:\n%q", s)
				}
				if strings.Contains(string(s), "\x00") {
					t.Errorf("a NUL reached the downstream")
				}
			}
			if mails != accepted || len(messages) != accepted {
				t.Errorf("client got %d×250, a lenient downstream would complete %d transactions; it recorded %d messages", accepted, mails, len(messages))
			}
			for _, m := range messages {
				if strings.Count(string(m), "Subject: innocent") != 1 {
					t.Errorf("message: %q", m)
				}
			}
		})
	}
}

// sendSmuggle sends one message with the payload as its body, over DATA or
// BDAT, and reports whether the gateway answered 250.
func sendSmuggle(t *testing.T, mx, payload string, bdat bool) bool {
	t.Helper()
	r := e2etest.DialRaw(t, mx, "")
	defer r.Close()
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
		t.Fatalf("RCPT: %s", rep)
	}
	var rep e2etest.Reply
	if bdat {
		r.Send(t, []byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(payload), payload)))
		rep = r.ReadReply(t)
	} else {
		if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
			t.Fatalf("DATA: %s", rep)
		}
		r.Send(t, []byte(payload+".\r\n"))
		rep = r.ReadReply(t)
	}
	if rep.Code != 250 && rep.Code != 550 {
		t.Errorf("unexpected reply %s", rep)
	}
	// Whatever happened, the session goes on: the smuggled commands were
	// data, not commands.
	if after := r.Cmd(t, "NOOP"); after.Code != 250 {
		t.Errorf("NOOP after the message: %s", after)
	}
	return rep.Code == 250
}

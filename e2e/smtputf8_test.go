package e2e

// SMTPUTF8 (RFC 6531) and DSN (RFC 3461) pass through the gateway to a real
// Postfix. Setup: a private Postfix with smtputf8_enable on or off, the
// gateway in front of it, a raw client. Proof: with SMTPUTF8 on, the
// gateway offers it and a message from a UTF-8 sender to a UTF-8
// recipient arrives byte-exact with its envelope; with it off, the gateway
// does not offer it and refuses at MAIL/RCPT (555 5.5.4 for the parameter,
// 553 5.6.7 for a non-ASCII address without it) so Postfix never sees a
// transaction; DSN parameters (RET, ENVID, NOTIFY, ORCPT) are found in
// Postfix's queue file (postcat), the message held there for the look.

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

const (
	utf8Sender = "ñoño@sender-e2e.net"
	utf8Rcpt   = "usuário@example.com"
	// The header and body hold UTF-8 too (RFC 6532).
	utf8Message = "From: Ñoño <" + utf8Sender + ">\r\n" +
		"To: Usuário <" + utf8Rcpt + ">\r\n" +
		"Subject: Olá, ¿qué tal? 日本語\r\n" +
		"Message-ID: <utf8-1@sender-e2e.net>\r\n" +
		"\r\n" +
		"Corpo em português: ação, coração.\r\n"
)

func ehloLines(t *testing.T, r *e2etest.Raw) string {
	t.Helper()
	rep := r.Cmd(t, "EHLO "+clientHELO)
	if rep.Code != 250 {
		t.Fatalf("EHLO: %s", rep)
	}
	return strings.Join(rep.Lines, "\n") + "\n"
}

func TestSMTPUTF8ToPostfix(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		e := setup(t, &e2etest.PostfixOptions{SMTPUTF8: "yes"}, opts{})
		r := e2etest.DialRaw(t, e.mx, "")
		defer r.Close()
		if lines := ehloLines(t, r); !strings.Contains(lines, "\nSMTPUTF8\n") || !strings.Contains(lines, "\nDSN\n") {
			t.Fatalf("EHLO reply lacks SMTPUTF8 or DSN:\n%s", lines)
		}
		// Without the parameter a UTF-8 address is refused all the same.
		wantReply(t, "MAIL without SMTPUTF8", r.Cmd(t, "MAIL FROM:<"+utf8Sender+">"), 553,
			"5.6.7 <"+utf8Sender+">: non-ASCII address requires the SMTPUTF8 parameter")
		if rep := r.Cmd(t, "MAIL FROM:<"+utf8Sender+"> SMTPUTF8"); rep.Code != 250 {
			t.Fatalf("MAIL: %s", rep)
		}
		if rep := r.Cmd(t, "RCPT TO:<"+utf8Rcpt+">"); rep.Code != 250 {
			t.Fatalf("RCPT: %s", rep)
		}
		if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
			t.Fatalf("DATA: %s", rep)
		}
		r.Send(t, []byte(utf8Message+".\r\n"))
		if rep := r.ReadReply(t); rep.Code != 250 {
			t.Fatalf("end of data: %s", rep)
		}
		msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
		m := msgs[0]
		if m.Sender != utf8Sender || m.Recipient != utf8Rcpt || m.OriginalRecipient != utf8Rcpt {
			t.Errorf("envelope: sender %q recipient %q original %q; want %q to %q", m.Sender, m.Recipient, m.OriginalRecipient, utf8Sender, utf8Rcpt)
		}
		added, rest := gatewayHeaders(t, m.Relayed())
		if string(rest) != utf8Message {
			t.Errorf("message changed on the way:\n got %q\nwant %q", rest, utf8Message)
		}
		if !strings.Contains(added, "for <"+utf8Rcpt+">;") {
			t.Errorf("Received lacks the UTF-8 recipient:\n%s", added)
		}
		// Postfix saw SMTPUTF8 on MAIL (it logs the flag with the sender).
		if log := e.postfix.Log(t); !regexp.MustCompile(`from=<` + utf8Sender + `>.*`).MatchString(log) {
			t.Errorf("Postfix log lacks the UTF-8 sender:\n%s", log)
		}
		e.postfix.WaitQueueEmpty(t, 10*time.Second)
	})
	t.Run("off", func(t *testing.T) {
		e := setup(t, &e2etest.PostfixOptions{SMTPUTF8: "no"}, opts{})
		r := e2etest.DialRaw(t, e.mx, "")
		defer r.Close()
		if lines := ehloLines(t, r); strings.Contains(lines, "SMTPUTF8") || !strings.Contains(lines, "\nDSN\n") {
			t.Fatalf("EHLO reply offers SMTPUTF8 or lacks DSN:\n%s", lines)
		}
		wantReply(t, "MAIL with SMTPUTF8", r.Cmd(t, "MAIL FROM:<"+utf8Sender+"> SMTPUTF8"), 555,
			"5.5.4 SMTPUTF8 parameter not supported: the mail server behind this gateway does not offer SMTPUTF8; send the command without it")
		wantReply(t, "MAIL UTF-8 sender", r.Cmd(t, "MAIL FROM:<"+utf8Sender+">"), 553,
			"5.6.7 <"+utf8Sender+">: non-ASCII address requires the SMTPUTF8 parameter")
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
			t.Fatalf("MAIL: %s", rep)
		}
		wantReply(t, "RCPT UTF-8 recipient", r.Cmd(t, "RCPT TO:<"+utf8Rcpt+">"), 553,
			"5.6.7 <"+utf8Rcpt+">: non-ASCII address requires the SMTPUTF8 parameter")
		if rep := r.Cmd(t, "QUIT"); rep.Code != 221 {
			t.Fatalf("QUIT: %s", rep)
		}
		e.gw.WaitLog(t, "check=smtputf8_required", 5*time.Second)
		// Nothing was forwarded: Postfix saw no MAIL, let alone a message.
		log := e.postfix.Log(t)
		if strings.Contains(log, "from=<") || strings.Contains(log, "mail=") || len(e.postfix.Messages(t)) != 0 {
			t.Errorf("a transaction reached Postfix:\n%s", log)
		}
	})
}

func TestDSNToPostfix(t *testing.T) {
	const msg = "Subject: dsn test\r\n\r\nbody\r\n"
	t.Run("on", func(t *testing.T) {
		e := setup(t, &e2etest.PostfixOptions{ExtraMainCF: map[string]string{
			// Keep the message in the hold queue, so postcat can show it.
			"smtpd_client_restrictions": "check_client_access static:HOLD",
		}}, opts{})
		r := e2etest.DialRaw(t, e.mx, "")
		defer r.Close()
		if lines := ehloLines(t, r); !strings.Contains(lines, "\nDSN\n") {
			t.Fatalf("EHLO reply lacks DSN:\n%s", lines)
		}
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+"> RET=HDRS ENVID=QQ314159+2Be2e"); rep.Code != 250 {
			t.Fatalf("MAIL: %s", rep)
		}
		if rep := r.Cmd(t, "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+2Bdsn@example.com"); rep.Code != 250 {
			t.Fatalf("RCPT: %s", rep)
		}
		if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
			t.Fatalf("DATA: %s", rep)
		}
		r.Send(t, []byte(msg+".\r\n"))
		rep := r.ReadReply(t)
		qid := regexp.MustCompile(`queued as ([0-9A-Za-z]+)`).FindStringSubmatch(rep.String())
		if rep.Code != 250 || qid == nil {
			t.Fatalf("end of data: %s", rep)
		}
		pc := e.postfix.Postcat(t, qid[1])
		// Postfix's encoding: RET=HDRS is ret_flags 2, NOTIFY=SUCCESS,DELAY
		// is notify_flags 2|8 (src/global/dsn_mask.h); ENVID and ORCPT are
		// kept decoded from xtext.
		for _, want := range []string{
			"named_attribute: envelope_id=QQ314159+e2e\n",
			"named_attribute: ret_flags=2\n",
			"named_attribute: notify_flags=10\n",
			"named_attribute: dsn_orig_rcpt=RFC822;Bob+dsn@example.com\n",
			"recipient: bob@example.com\n",
		} {
			if !strings.Contains(pc, want) {
				t.Errorf("queue file lacks %q:\n%s", want, pc)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		e := setup(t, &e2etest.PostfixOptions{ExtraMainCF: map[string]string{"smtpd_discard_ehlo_keywords": "dsn"}}, opts{})
		r := e2etest.DialRaw(t, e.mx, "")
		defer r.Close()
		if lines := ehloLines(t, r); strings.Contains(lines, "DSN") {
			t.Fatalf("EHLO reply offers DSN:\n%s", lines)
		}
		wantReply(t, "MAIL RET", r.Cmd(t, "MAIL FROM:<"+sender+"> RET=FULL"), 555,
			"5.5.4 RET parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it")
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
			t.Fatalf("MAIL: %s", rep)
		}
		wantReply(t, "RCPT NOTIFY", r.Cmd(t, "RCPT TO:<bob@example.com> NOTIFY=NEVER"), 555,
			"5.5.4 NOTIFY parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it")
		if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
			t.Fatalf("RCPT without NOTIFY: %s", rep)
		}
	})
}

// local_domains compare in IDNA form (address.NormalizeDomain at build
// time and at RCPT): a domain configured as U-labels takes mail addressed
// to its A-labels, in any case, and a look-alike stays foreign. Postfix
// knows the domain by its A-labels only.
func TestIDNLocalDomain(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{Domains: []string{"xn--bcher-kva.example", "example.com"}, SMTPUTF8: "yes"},
		opts{domains: `["bücher.example", "example.com"]`})
	r := e2etest.DialRaw(t, e.mx, "")
	defer r.Close()
	ehloLines(t, r)
	if rep := r.Cmd(t, "MAIL FROM:<"+utf8Sender+"> SMTPUTF8"); rep.Code != 250 {
		t.Fatalf("MAIL: %s", rep)
	}
	if rep := r.Cmd(t, "RCPT TO:<ana@XN--BCHER-KVA.example>"); rep.Code != 250 {
		t.Fatalf("RCPT to the A-label: %s", rep)
	}
	// example.com spelt with a Cyrillic е (U+0435).
	wantReply(t, "look-alike", r.Cmd(t, "RCPT TO:<ana@\u0435xample.com>"), 554, "5.7.1 <ana@\u0435xample.com>: Relay access denied")
	if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %s", rep)
	}
	r.Send(t, []byte(utf8Message+".\r\n"))
	if rep := r.ReadReply(t); rep.Code != 250 {
		t.Fatalf("end of data: %s", rep)
	}
	m := e.postfix.WaitMessages(t, 1, 20*time.Second)[0]
	if m.Recipient != "ana@xn--bcher-kva.example" {
		t.Errorf("delivered to %q", m.Recipient)
	}
}

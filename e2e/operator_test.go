package e2e

// What an operator reads when things go wrong (issue 16). Setup: the
// gateway in front of a private Postfix, with submission listeners and one
// user where needed. Proof: the lines of the gateway's own log, in both
// formats where the format matters.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// jsonKeysOnce fails when a JSON log line has a key twice (encoding/json
// keeps the last one silently; log shippers differ).
func jsonKeysOnce(line string) error {
	d := json.NewDecoder(strings.NewReader(line))
	if _, err := d.Token(); err != nil { // {
		return err
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("key %s twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return err
		}
	}
	return nil
}

// A refusal on submission after AUTH names the user once, in text and
// JSON (the session logger carries user= since AUTH; the reject line used
// to add it again).
func TestOperatorRejectUserOnce(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			o := setupOps(t, format)
			out, _ := e2etest.Swaks(t, "--server", o.sub, "-tls", "--auth", "PLAIN", "--auth-user", opsUser, "--auth-password", opsPassword,
				"--ehlo", clientHELO, "--from", "bob@example.com", "--to", "carol@example.com")
			if !strings.Contains(out, "553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user "+opsUser) {
				t.Fatalf("swaks:\n%s", out)
			}
			r := o.waitRec(t, "reject", "check", "sender_not_owned") // parseTextLine refuses a key twice
			want(t, "reject", r, "user", opsUser, "listener", "submission")
			for _, l := range strings.Split(o.gw.Logs(), "\n") {
				if format == "json" && strings.Contains(l, `"msg":"reject"`) {
					if err := jsonKeysOnce(l); err != nil {
						t.Errorf("%v:\n%s", err, l)
					}
				}
			}
		})
	}
}

// Submission in front of a legacy server that does not relay for the
// gateway (Postfix's default smtpd_relay_restrictions without the
// gateway in mynetworks): the user hears Postfix's 454, and the log says
// whose configuration it is. With the gateway's address in mynetworks, as
// the README's recipe says, the same message is accepted.
func TestOperatorDownstreamRelayRefusal(t *testing.T) {
	const refusal = "454 4.7.1 <carol@remote-e2e.net>: Relay access denied"
	hint := "the downstream refused to relay for the gateway; add the gateway's address to its mynetworks/relay list"
	for _, tc := range []struct {
		name       string
		mynetworks string
		relays     bool
	}{
		{"gateway not in mynetworks", "192.0.2.0/24", false},
		{"gateway in mynetworks", "127.0.0.0/8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e2etest.Require(t, "postfix", "swaks")
			sub := e2etest.FreeAddr(t, "127.0.0.1")
			pf := &e2etest.PostfixOptions{ExtraMainCF: map[string]string{
				"mynetworks": tc.mynetworks,
				// Postfix's default relay restrictions.
				"smtpd_relay_restrictions": "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
				// What is relayed is dropped: this instance must not
				// send mail anywhere.
				"default_transport": "discard:the e2e instance relays nowhere",
				"relay_transport":   "discard:the e2e instance relays nowhere",
			}}
			e := setup(t, pf, opts{
				listeners: fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n", sub),
				extra:     fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\n", user, hashPassword(t, password)),
			})
			out, code := e2etest.Swaks(t, "--server", sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
				"--ehlo", "DESKTOP-4F2K1", "--from", user, "--to", "carol@remote-e2e.net")
			if tc.relays {
				if code != 0 {
					t.Fatalf("with the gateway in mynetworks: exit %d\n%s", code, out)
				}
				if strings.Contains(e.gw.Logs(), "hint=") {
					t.Errorf("a hint without a refusal:\n%s", e.gw.Logs())
				}
				return
			}
			if got := swaksReply(out, "454"); got != refusal {
				t.Fatalf("RCPT reply %q, want %q\n%s", got, refusal, out)
			}
			line := e.gw.WaitLog(t, "msg=reject", 5*time.Second)
			r, err := parseTextLine(line)
			if err != nil {
				t.Fatal(err)
			}
			want(t, "reject", r, "command", "RCPT", "check", "downstream", "code", "454", "user", user,
				"rcpt", "carol@remote-e2e.net", "reply", refusal, "hint", hint)
		})
	}
}

// A downstream outage is one WARN line when it starts and one when it
// ends, however many clients were refused in between (each still gets its
// INFO reject line).
func TestOperatorDownstreamOutageWarn(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	e.postfix.Stop(t)
	for i := range 3 {
		out, _ := e.swaks(t, "--to", "bob@example.com")
		if !strings.Contains(out, "451 4.4.1 Error: the mail server behind this gateway is temporarily unavailable") {
			t.Fatalf("attempt %d with the downstream down:\n%s", i, out)
		}
	}
	e.postfix.Start(t)
	for i := range 2 {
		if out, code := e.swaks(t, "--to", "bob@example.com"); code != 0 {
			t.Fatalf("attempt %d after the restart: exit %d\n%s", i, code, out)
		}
	}
	logs := e.gw.Logs()
	if n := countLines(logs, "level=INFO", "msg=reject", "check=downstream_unavailable"); n != 3 {
		t.Errorf("%d INFO reject lines, want 3", n)
	}
	downstream := "downstream=smtp://" + e.postfix.Addr()
	if n := countLines(logs, "level=WARN", `msg="downstream unavailable"`, downstream); n != 1 {
		t.Errorf("%d WARN downstream unavailable lines, want 1:\n%s", n, logs)
	}
	if n := countLines(logs, "level=WARN", `msg="downstream recovered"`, downstream, "failures=3"); n != 1 {
		t.Errorf("%d WARN downstream recovered lines, want 1:\n%s", n, logs)
	}
}

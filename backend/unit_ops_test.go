package backend_test

// What the operator reads in the log for submission refusals and
// downstream trouble: the user key once per line, a hint when the
// downstream refuses to relay for the gateway, and one WARN line when a
// downstream goes away and one when it is back.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
)

// logLines returns the log lines containing every one of subs.
func logLines(h *harness, subs ...string) []string {
	var out []string
next:
	for _, l := range strings.Split(h.logs.String(), "\n") {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// A reject line of an authenticated session names the user once (the
// session logger carries it since AUTH; the reject added it again).
func TestRejectNamesUserOnce(t *testing.T) {
	h := start(t, withAuth(t, newEnv(t, newTarget("down"))), opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	c.login()
	c.expect("MAIL FROM:<bob@local-one.net>", "553 5.7.1 <bob@local-one.net>: Sender address rejected: not owned by user alice")
	c.sync()
	lines := logLines(h, "msg=reject", "check=sender_not_owned")
	if len(lines) != 1 {
		t.Fatalf("%d reject lines:\n%s", len(lines), h.logs.String())
	}
	if n := strings.Count(lines[0], " user="); n != 1 {
		t.Errorf("user appears %d times in:\n%s", n, lines[0])
	}
}

// An authenticated user's remote recipient refused by the downstream's
// relay control: the reject line says it is the downstream's
// configuration, not the user. A local recipient's refusal, and a relay
// text for a client that may not relay, carry no hint.
func TestDownstreamRelayRefusalHint(t *testing.T) {
	tg := newTarget("down")
	tg.rcptErr["x@"+remoteDom] = &relay.ReplyError{Reply: &reply.Reply{Code: 454, Enhanced: [3]int{4, 7, 1}, Text: "<x@" + remoteDom + ">: Relay access denied"}}
	tg.rcptErr["nobody@"+localDom] = &relay.ReplyError{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "<nobody@" + localDom + ">: Recipient address rejected: User unknown"}}
	h := start(t, withAuth(t, newEnv(t, tg)), opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	c.login()
	c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	c.expect("RCPT TO:<x@"+remoteDom+">", "454 4.7.1 <x@"+remoteDom+">: Relay access denied")
	c.expect("RCPT TO:<nobody@"+localDom+">", "550 5.1.1 <nobody@"+localDom+">: Recipient address rejected: User unknown")
	c.sync()
	hint := `hint="the downstream refused to relay for the gateway; add the gateway's address to its mynetworks/relay list"`
	if l := logLines(h, "msg=reject", "rcpt=x@"+remoteDom); len(l) != 1 || !strings.Contains(l[0], hint) || !strings.Contains(l[0], "user=alice") {
		t.Errorf("relay refusal reject line(s) %q lack %s", l, hint)
	}
	if l := logLines(h, "msg=reject", "rcpt=nobody@"+localDom); len(l) != 1 || strings.Contains(l[0], "hint=") {
		t.Errorf("local refusal reject line(s) %q: want one, without a hint", l)
	}
}

// A downstream outage: every refused client gets its INFO reject line, the
// operator one WARN line when it starts and one when it ends, whatever the
// number of sessions in between.
func TestDownstreamOutageWarnsOnce(t *testing.T) {
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{})
	send := func(wantRcpt string) {
		t.Helper()
		c := h.dial()
		c.ehlo(clientHELO)
		c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
		c.expectCode("RCPT TO:<bob@local-one.net>", wantRcpt)
		c.expect("QUIT", "221 2.0.0 Bye")
	}
	send("250") // up: nothing to say
	tg.setBegin(fmt.Errorf("%w: dial tcp 127.0.0.1:10025: connection refused", relay.ErrUnavailable))
	for range 3 {
		send("451")
	}
	tg.setBegin(nil)
	for range 2 {
		send("250")
	}
	if n := len(logLines(h, "msg=reject", "check=downstream_unavailable")); n != 3 {
		t.Errorf("%d downstream_unavailable reject lines, want 3", n)
	}
	down := logLines(h, "level=WARN", `msg="downstream unavailable"`)
	if len(down) != 1 || !strings.Contains(down[0], "downstream=down") || !strings.Contains(down[0], "connection refused") {
		t.Errorf("WARN downstream unavailable lines: %q", down)
	}
	up := logLines(h, "level=WARN", `msg="downstream recovered"`)
	if len(up) != 1 || !strings.Contains(up[0], "downstream=down") || !strings.Contains(up[0], "failures=3") {
		t.Errorf("WARN downstream recovered lines: %q", up)
	}
	if strings.Index(h.logs.String(), `msg="downstream unavailable"`) > strings.Index(h.logs.String(), `msg="downstream recovered"`) {
		t.Errorf("recovered before unavailable:\n%s", h.logs.String())
	}
}

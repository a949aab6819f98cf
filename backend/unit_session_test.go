package backend_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/address"
	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
)

// A stranger on an MX may send to the local domains and nowhere else.
func TestRelayAccessDenied(t *testing.T) {
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<sender@remote.example>", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RCPT TO:<someone@remote.example>", "554 5.7.1 <someone@remote.example>: Relay access denied")
	c.expect("RCPT TO:<Someone@Other.Example>", "554 5.7.1 <Someone@Other.Example>: Relay access denied")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c.expect("RCPT TO:<carol@LOCAL-ONE.NET>", "250 2.0.0 I'll make sure <carol@LOCAL-ONE.NET> gets this")
	c.sync()
	tx := tg.tx(t, 0)
	if tx.From != "sender@remote.example" || !equal(tx.Rcpts, []string{"bob@local-one.net", "carol@local-one.net"}) {
		t.Fatalf("downstream saw %+v", tx)
	}
	if n := len(tg.transactions()); n != 1 {
		t.Fatalf("%d downstream transactions, want 1", n)
	}
	refused, _, _ := h.metrics.snapshot()
	if !equal(refused, []string{"RCPT relay_denied 554", "RCPT relay_denied 554"}) {
		t.Fatalf("metrics: %q", refused)
	}
	if !strings.Contains(h.logs.String(), `command=RCPT helo=mx.client-one.net check=relay_denied code=554 enhanced=5.7.1 reply="554 5.7.1 <someone@remote.example>: Relay access denied" rcpt=someone@remote.example`) {
		t.Fatalf("no reject log line:\n%s", h.logs.String())
	}
}

// A HELO client never asked for enhanced status codes (RFC 2034 §3).
func TestRelayAccessDeniedHELONoEnhancedCode(t *testing.T) {
	h := start(t, newEnv(t, newTarget("down")), opts{})
	c := h.dial()
	c.expect("HELO "+clientHELO, "250 2.0.0 Hello "+clientHELO)
	c.expect("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
	c.expect("RCPT TO:<someone@remote.example>", "554 <someone@remote.example>: Relay access denied")
}

// Trusted networks and authenticated users may relay; catch_all makes
// every domain local.
func TestRelayAllowed(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		tg := newTarget("down")
		env := newEnv(t, tg)
		env.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c := start(t, env, opts{}).dial()
		c.ehlo(clientHELO)
		c.expect("MAIL FROM:<a@local-one.net>", "250 2.0.0 Roger, accepting mail from <a@local-one.net>")
		c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
	})
	t.Run("catch_all", func(t *testing.T) {
		env := newEnv(t, newTarget("down"))
		env.CatchAll = true
		c := start(t, env, opts{}).dial()
		c.ehlo(clientHELO)
		c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
		c.expect("RCPT TO:<x@anywhere.example>", "250 2.0.0 I'll make sure <x@anywhere.example> gets this")
	})
	t.Run("authenticated_on_mx", func(t *testing.T) {
		env := withAuth(t, newEnv(t, newTarget("down")))
		c := start(t, env, opts{authEnabled: true, tls: true}).dial()
		c.login()
		c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
		c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
	})
}

// The address forms that open legacy servers to relaying are refused even
// for a local domain, unless the operator allows them.
func TestRelayTricks(t *testing.T) {
	cases := []struct {
		rcpt string
		want string
	}{
		{"<user%remote.example@local-one.net>", "554 5.7.1 <user%remote.example@local-one.net>: Recipient address rejected: percent hack addresses are not accepted here"},
		{"<remote.example!user@local-one.net>", "554 5.7.1 <remote.example!user@local-one.net>: Recipient address rejected: bang path addresses are not accepted here"},
		{"<@relay.example:user@local-one.net>", "554 5.7.1 <user@local-one.net>: Recipient address rejected: source route addresses are not accepted here"},
		{`<"user@remote.example"@local-one.net>`, "554 5.7.1 <user@remote.example@local-one.net>: Recipient address rejected: quoted at addresses are not accepted here"},
		{"<user@local-one.net.>", "554 5.7.1 <user@local-one.net.>: Recipient address rejected: trailing dot addresses are not accepted here"},
		{"<user@[127.0.0.1]>", "554 5.7.1 <user@[127.0.0.1]>: Recipient address rejected: address literal addresses are not accepted here"},
		{"<user@local..example>", "501 5.1.3 <user@local..example>: Recipient address rejected: bad address syntax"},
		{"<user@>", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>"}, // go-smtp's
		{"<user@-bad.example>", "501 5.1.3 <user@-bad.example>: Recipient address rejected: bad address syntax"},
	}
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	for _, tc := range cases {
		c.expect("RCPT TO:"+tc.rcpt, tc.want)
	}
	c.sync()
	if txs := tg.transactions(); len(txs) != 0 {
		t.Fatalf("a refused recipient reached the downstream: %+v", txs)
	}
}

// Allowed forms pass, normalized for the downstream.
func TestRelayTricksAllowed(t *testing.T) {
	tg := newTarget("down")
	env := newEnv(t, tg)
	env.Address = address.Allow{PercentHack: true, TrailingDot: true}
	c := start(t, env, opts{}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RCPT TO:<user%remote.example@local-one.net>", "250 2.0.0 I'll make sure <user%remote.example@local-one.net> gets this")
	c.expect("RCPT TO:<bob@Local-One.Net.>", "250 2.0.0 I'll make sure <bob@Local-One.Net.> gets this")
	// Still refused: not allowed, and the percent hack to a remote domain is
	// no relay permission.
	c.expect("RCPT TO:<remote.example!user@local-one.net>", "554 5.7.1 <remote.example!user@local-one.net>: Recipient address rejected: bang path addresses are not accepted here")
	c.expect("RCPT TO:<user%local-one.net@remote.example>", "554 5.7.1 <user%local-one.net@remote.example>: Relay access denied")
	c.sync()
	if got := tg.tx(t, 0).Rcpts; !equal(got, []string{"user%remote.example@local-one.net", "bob@local-one.net"}) {
		t.Fatalf("downstream recipients %q", got)
	}
}

// The SMTP sequence: what go-smtp refuses and what the session refuses.
func TestSequence(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.expect("MAIL FROM:<a@remote.example>", "502 5.5.1 Please introduce yourself first.")
	c.ehlo(clientHELO)
	c.expect("RCPT TO:<bob@local-one.net>", "502 5.5.1 Missing MAIL FROM command.")
	c.expect("DATA", "502 5.5.1 Missing RCPT TO command.")
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("MAIL FROM:<b@remote.example>", "503 5.5.1 Error: nested MAIL command")
	c.expect("DATA", "502 5.5.1 Missing RCPT TO command.")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c.expect("RSET", "250 2.0.0 Session reset")
	// RSET aborted the downstream transaction and closed ours.
	if tx := tg.tx(t, 0); !tx.Aborted || tx.DataCalls != 0 {
		t.Fatalf("after RSET: %+v", tx)
	}
	c.expect("RCPT TO:<bob@local-one.net>", "502 5.5.1 Missing MAIL FROM command.")
	c.expect("MAIL FROM:<b@remote.example>", "250 2.0.0 Roger, accepting mail from <b@remote.example>")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	// A second EHLO resets the transaction too (RFC 5321 §4.1.4).
	c.ehlo(clientHELO)
	if tx := tg.tx(t, 1); !tx.Aborted || tx.From != "b@remote.example" {
		t.Fatalf("after EHLO: %+v", tx)
	}
	c.expect("QUIT", "221 2.0.0 Bye")
}

// Submission requires AUTH before MAIL.
func TestSubmissionRequiresAuth(t *testing.T) {
	env := withAuth(t, newEnv(t, newTarget("down")))
	c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
	c.startTLS()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), "235 2.0.0 Authentication succeeded")
	c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	// Authenticated submission may send anywhere.
	c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
}

// An authenticated user may only use its own addresses as the sender, in
// any case; the null sender only with AllowNullSender (issue 12).
func TestSenderOwnership(t *testing.T) {
	tg := newTarget("down")
	env := withAuth(t, newEnv(t, tg))
	c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c.login()
	c.expect("MAIL FROM:<bob@local-one.net>", "553 5.7.1 <bob@local-one.net>: Sender address rejected: not owned by user alice")
	c.expect("MAIL FROM:<Alice@local-one.net>", "250 2.0.0 Roger, accepting mail from <Alice@local-one.net>")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("MAIL FROM:<ALICE@LOCAL-ONE.NET>", "250 2.0.0 Roger, accepting mail from <ALICE@LOCAL-ONE.NET>")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("MAIL FROM:<>", "553 5.7.1 <>: Sender address rejected: the null sender is not allowed for authenticated users; use your own address")

	env1 := withAuth(t, newEnv(t, newTarget("down")))
	env1.Auth.AllowNullSender = true
	c1 := start(t, env1, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c1.login()
	c1.expect("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
	c1.expect("RSET", "250 2.0.0 Session reset")
	c1.expect("MAIL FROM:<bob@local-one.net>", "553 5.7.1 <bob@local-one.net>: Sender address rejected: not owned by user alice")

	// Owns nil switches enforcement off.
	env2 := withAuth(t, newEnv(t, newTarget("down")))
	env2.Auth.Owns = nil
	c2 := start(t, env2, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c2.login()
	c2.expect("MAIL FROM:<bob@local-one.net>", "250 2.0.0 Roger, accepting mail from <bob@local-one.net>")
	c2.expect("RSET", "250 2.0.0 Session reset")
	c2.expect("MAIL FROM:<>", "250 2.0.0 Roger, accepting mail from <>")
}

// A downstream refusal of RCPT reaches the client as it was given.
func TestDownstreamRefusalAtRcpt(t *testing.T) {
	tg := newTarget("down")
	tg.rcptErr["nobody@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1},
		Text: "<nobody@local-one.net>: Recipient address rejected: User unknown in virtual mailbox table"}}
	tg.rcptErr["full@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 452, Enhanced: [3]int{4, 2, 2},
		Text: "<full@local-one.net>: Recipient address rejected: Mailbox full\nTry again later"}}
	tg.rcptErr["plain@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 550, Text: "No such user here"}}
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RCPT TO:<nobody@local-one.net>", "550 5.1.1 <nobody@local-one.net>: Recipient address rejected: User unknown in virtual mailbox table")
	c.expect("RCPT TO:<full@local-one.net>",
		"452-<full@local-one.net>: Recipient address rejected: Mailbox full",
		"452 4.2.2 Try again later")
	// A reply without an enhanced code gets go-smtp's generic one for an
	// EHLO client.
	c.expect("RCPT TO:<plain@local-one.net>", "550 5.0.0 No such user here")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send(msg + ".\r\n")
	if got := c.reply(); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as "+fakeQID) {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if tx := tg.tx(t, 0); !equal(tx.Rcpts, []string{"bob@local-one.net"}) || !tx.Delivered {
		t.Fatalf("downstream: %+v", tx)
	}
	refused, _, _ := h.metrics.snapshot()
	if !equal(refused, []string{"RCPT downstream 550", "RCPT downstream 452", "RCPT downstream 550"}) {
		t.Fatalf("metrics %q", refused)
	}
}

// What the downstream cannot say turns into 451 4.4.1, so that the sender
// retries.
func TestDownstreamUnavailable(t *testing.T) {
	const unavailable = "451 4.4.1 Error: the mail server behind this gateway is temporarily unavailable, try again later"
	cases := []struct {
		name  string
		setup func(*fakeTarget)
		want  []string
	}{
		{"begin", func(tg *fakeTarget) {
			tg.beginErr = fmt.Errorf("%w: dial tcp 127.0.0.1:10025: connection refused", relay.ErrUnavailable)
		}, []string{unavailable}},
		{"rcpt", func(tg *fakeTarget) {
			tg.rcptErr["bob@local-one.net"] = fmt.Errorf("%w: RCPT: broken pipe", relay.ErrUnavailable)
		}, []string{unavailable}},
		{"plain_error", func(tg *fakeTarget) {
			tg.rcptErr["bob@local-one.net"] = fmt.Errorf("something nobody expected")
		}, []string{unavailable}},
		{"downstream_421", func(tg *fakeTarget) {
			tg.rcptErr["bob@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 421, Enhanced: [3]int{4, 3, 2}, Text: "down.example Service shutting down"}}
		}, []string{"451 4.4.1 down.example Service shutting down"}},
		{"downstream_nonsense_code", func(tg *fakeTarget) {
			tg.rcptErr["bob@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 250, Enhanced: [3]int{2, 1, 5}, Text: "Ok"}}
		}, []string{"451 4.4.1 Ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("down")
			tc.setup(tg)
			c := start(t, newEnv(t, tg), opts{}).dial()
			c.ehlo(clientHELO)
			c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
			c.expect("RCPT TO:<bob@local-one.net>", tc.want...)
			// The connection stays open (a downstream 421 must not close ours).
			c.sync()
			c.expect("DATA", "502 5.5.1 Missing RCPT TO command.")
		})
	}
}

// All recipients of a transaction must go to one downstream.
func TestRouteSplit(t *testing.T) {
	a, b := newTarget("down-a"), newTarget("down-b")
	env := newEnv(t, a, relay.Route{Domain: "other.example", Target: b})
	env.LocalDomains["other.example"] = true
	h := start(t, env, opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<s@remote.example>", "250 2.0.0 Roger, accepting mail from <s@remote.example>")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c.expect("RCPT TO:<carl@other.example>", "452 4.5.3 <carl@other.example>: this recipient is served by another downstream; send it again in a new transaction")
	if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	c.expect("MAIL FROM:<s@remote.example>", "250 2.0.0 Roger, accepting mail from <s@remote.example>")
	c.expect("RCPT TO:<carl@other.example>", "250 2.0.0 I'll make sure <carl@other.example> gets this")
	if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if ta, tb := a.tx(t, 0), b.tx(t, 0); !equal(ta.Rcpts, []string{"bob@local-one.net"}) || !ta.Delivered ||
		!equal(tb.Rcpts, []string{"carl@other.example"}) || !tb.Delivered {
		t.Fatalf("a: %+v\nb: %+v", ta, tb)
	}
	if len(a.transactions()) != 1 || len(b.transactions()) != 1 {
		t.Fatalf("transactions: a %d, b %d", len(a.transactions()), len(b.transactions()))
	}
}

// When the first downstream refused every recipient so far, the
// transaction moves to the next recipient's downstream.
func TestRouteSwitchAfterRefusal(t *testing.T) {
	a, b := newTarget("down-a"), newTarget("down-b")
	a.rcptErr["nobody@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "User unknown"}}
	env := newEnv(t, a, relay.Route{Domain: "other.example", Target: b})
	env.LocalDomains["other.example"] = true
	c := start(t, env, opts{}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<s@remote.example>", "250 2.0.0 Roger, accepting mail from <s@remote.example>")
	c.expect("RCPT TO:<nobody@local-one.net>", "550 5.1.1 User unknown")
	c.expect("RCPT TO:<carl@other.example>", "250 2.0.0 I'll make sure <carl@other.example> gets this")
	if ta := a.tx(t, 0); !ta.Aborted {
		t.Fatalf("the first downstream's transaction was not aborted: %+v", ta)
	}
	// Now bound to b: a recipient of a is split off.
	c.expect("RCPT TO:<bob@local-one.net>", "452 4.5.3 <bob@local-one.net>: this recipient is served by another downstream; send it again in a new transaction")
	if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if tb := b.tx(t, 0); !tb.Delivered || !equal(tb.Rcpts, []string{"carl@other.example"}) {
		t.Fatalf("b: %+v", tb)
	}
	if n := len(a.transactions()); n != 1 {
		t.Fatalf("a: %d transactions", n)
	}
}

// go-smtp's limits: recipients per transaction, SIZE.
func TestServerLimits(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{server: serverOpts(1000, 2)}).dial()
	ext := c.ehlo(clientHELO)
	if !contains(ext, "250-SIZE 1000") || !contains(ext, "250 LIMITS RCPTMAX=2") {
		t.Fatalf("EHLO: %q", ext)
	}
	c.expect("MAIL FROM:<a@remote.example> SIZE=1001", "552 5.3.4 Max message size exceeded")
	c.expect("MAIL FROM:<a@remote.example> SIZE=1000", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RCPT TO:<r1@local-one.net>", "250 2.0.0 I'll make sure <r1@local-one.net> gets this")
	c.expect("RCPT TO:<r2@local-one.net>", "250 2.0.0 I'll make sure <r2@local-one.net> gets this")
	c.expect("RCPT TO:<r3@local-one.net>", "452 4.5.3 Maximum limit of 2 recipients reached")
	c.sync()
	if tx := tg.tx(t, 0); !equal(tx.Rcpts, []string{"r1@local-one.net", "r2@local-one.net"}) || tx.Opts.Size != 1000 {
		t.Fatalf("downstream: %+v", tx)
	}
}

// MessagesPerMin caps MAIL commands per client address, across
// connections.
func TestMessageRate(t *testing.T) {
	env := newEnv(t, newTarget("down"))
	env.MessagesPerMin = 2
	h := start(t, env, opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("MAIL FROM:<a@remote.example>", "450 4.7.1 Error: too many messages from 127.0.0.1 in the last minute, try again later")
	c2 := h.dial()
	c2.ehlo(clientHELO)
	c2.expect("MAIL FROM:<a@remote.example>", "450 4.7.1 Error: too many messages from 127.0.0.1 in the last minute, try again later")
	refused, _, _ := h.metrics.snapshot()
	if !equal(refused, []string{"MAIL message_rate 450", "MAIL message_rate 450"}) {
		t.Fatalf("metrics %q", refused)
	}
}

// A reload reaches sessions that start after it; a running session keeps
// the Env it started with.
func TestEnvHotSwap(t *testing.T) {
	oldT, newT := newTarget("old"), newTarget("new")
	h := start(t, newEnv(t, oldT), opts{})
	before := h.dial()
	before.ehlo(clientHELO) // the session starts here, with the old Env
	connected := h.dial()   // connected, but no session yet

	env2 := newEnv(t, newT)
	env2.LocalDomains = map[string]bool{"new.example": true}
	h.holder.Store(env2)
	if h.holder.Load() != env2 {
		t.Fatal("Holder.Load does not return what Store published")
	}

	before.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	before.expect("RCPT TO:<x@new.example>", "554 5.7.1 <x@new.example>: Relay access denied")
	before.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	if got := before.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	// A second EHLO does not start a new session: still the old Env.
	before.ehlo(clientHELO)
	before.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	before.expect("RCPT TO:<x@new.example>", "554 5.7.1 <x@new.example>: Relay access denied")

	for _, c := range []*client{connected, h.dial()} {
		c.ehlo(clientHELO)
		c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
		c.expect("RCPT TO:<bob@local-one.net>", "554 5.7.1 <bob@local-one.net>: Relay access denied")
		c.expect("RCPT TO:<x@new.example>", "250 2.0.0 I'll make sure <x@new.example> gets this")
		if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
			t.Fatalf("DATA: %q", got)
		}
		c.sync()
	}
	if len(oldT.transactions()) != 1 || len(newT.transactions()) != 2 {
		t.Fatalf("old downstream %d transactions (want 1), new %d (want 2)", len(oldT.transactions()), len(newT.transactions()))
	}
}

// A client that sends MAIL after STARTTLS without a new EHLO is refused
// (RFC 3207 §4.2).
func TestEHLOAfterSTARTTLS(t *testing.T) {
	c := start(t, newEnv(t, newTarget("down")), opts{tls: true}).dial()
	ext := c.ehlo(clientHELO)
	if !contains(ext, "250-STARTTLS") {
		t.Fatalf("STARTTLS not offered: %q", ext)
	}
	c.startTLS()
	c.expect("MAIL FROM:<a@remote.example>", "503 5.5.1 Error: send EHLO again after STARTTLS (RFC 3207 section 4.2)")
	ext = c.ehlo(clientHELO)
	if contains(ext, "250-STARTTLS") {
		t.Fatalf("STARTTLS offered inside TLS: %q", ext)
	}
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
}

func serverOpts(maxBytes int64, maxRcpts int) (o backend.ServerOptions) {
	o.MaxMessageBytes = maxBytes
	o.MaxRecipients = maxRcpts
	return o
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// QUIT or a disconnect with a transaction open aborts it downstream.
func TestLogoutAbortsTransaction(t *testing.T) {
	for _, how := range []string{"QUIT", "close"} {
		t.Run(how, func(t *testing.T) {
			tg := newTarget("down")
			c := start(t, newEnv(t, tg), opts{}).dial()
			c.open()
			if how == "QUIT" {
				c.expect("QUIT", "221 2.0.0 Bye")
			} else {
				c.conn.Close()
			}
			if tx := tg.waitAborted(t, 0); tx.DataCalls != 0 || tx.Delivered {
				t.Fatalf("downstream: %+v", tx)
			}
		})
	}
}

// MAIL parameters reach the downstream.
func TestMailOptionsForwarded(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example> BODY=8BITMIME SIZE=42", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c.sync()
	if o := tg.tx(t, 0).Opts; o.Body != "8BITMIME" || o.Size != 42 || o.UTF8 || o.RequireTLS {
		t.Fatalf("downstream MAIL options %+v", o)
	}
}

// A connection that did not come through the guard gets a polite 421.
func TestNoGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := backend.New(backend.NewHolder(newEnv(t, newTarget("down"))), backend.Listener{Name: "raw", Kind: "mx"}, slog.New(slog.DiscardHandler), nil)
	srv := backend.NewServer(be, backend.ServerOptions{Hostname: gwHost})
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if got := c.reply(); !equal(got, []string{"220 " + gwHost + " ESMTP Service Ready"}) {
		t.Fatalf("greeting %q", got)
	}
	c.expect("EHLO "+clientHELO, "421 4.3.0 Internal configuration error, try again later")
}

// RFC 5321 §4.5.1: "RCPT TO:<Postmaster>" without a domain is accepted on
// an MX, from anyone, and goes to postmaster at the first local domain.
func TestPostmasterWithoutDomain(t *testing.T) {
	tg := newTarget("down")
	env := newEnv(t, tg)
	env.Postmaster = "postmaster@" + localDom
	c := start(t, env, opts{}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.expect("RCPT TO:<Postmaster>", "250 2.0.0 I'll make sure <Postmaster> gets this")
	c.sync()
	if got := tg.tx(t, 0).Rcpts; !equal(got, []string{"postmaster@local-one.net"}) {
		t.Fatalf("downstream recipients %q", got)
	}
}

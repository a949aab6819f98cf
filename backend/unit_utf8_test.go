package backend_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/relay"
)

// SMTPUTF8 and DSN are advertised exactly while the downstream offers them
// (issue 12); go-smtp's switches stay on, the guard hides the keywords.
func TestAdvertiseFollowsDownstream(t *testing.T) {
	tests := []struct {
		name string
		ext  relay.Extensions
		want []string
	}{
		{name: "neither", ext: relay.Extensions{}},
		{name: "SMTPUTF8 only", ext: relay.Extensions{SMTPUTF8: true}, want: []string{"SMTPUTF8"}},
		{name: "both", ext: relay.Extensions{SMTPUTF8: true, DSN: true}, want: []string{"SMTPUTF8", "DSN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("down")
			tg.ext = tc.ext
			c := start(t, newEnv(t, tg), opts{}).dial()
			lines := c.ehlo(clientHELO)
			var got []string
			for _, l := range lines {
				if kw := l[4:]; kw == "SMTPUTF8" || kw == "DSN" {
					got = append(got, kw)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("EHLO offers %q, want %q; reply %q", got, tc.want, lines)
			}
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "250 ") {
				t.Errorf("EHLO reply does not end properly: %q", lines)
			}
		})
	}
}

// With several routes, only what every downstream offers is advertised.
func TestAdvertiseEveryRoute(t *testing.T) {
	def, other := newTarget("down"), newTarget("other")
	def.ext = relay.Extensions{SMTPUTF8: true, DSN: true}
	other.ext = relay.Extensions{SMTPUTF8: true}
	c := start(t, newEnv(t, def, relay.Route{Domain: "other.example", Target: other}), opts{}).dial()
	lines := strings.Join(c.ehlo(clientHELO), "\n")
	if !strings.Contains(lines, "250-SMTPUTF8") || strings.Contains(lines, "DSN") {
		t.Errorf("EHLO reply %q: want SMTPUTF8 and no DSN", lines)
	}
}

// Parameters of an extension the downstream lacks are refused with 555
// 5.5.4 (RFC 5321 §4.1.1.11), not go-smtp's 504, and nothing is begun.
func TestUnsupportedParameters(t *testing.T) {
	tests := []struct {
		name, mail, rcpt, want string
	}{
		{name: "SMTPUTF8", mail: "MAIL FROM:<a@remote.example> SMTPUTF8",
			want: "555 5.5.4 SMTPUTF8 parameter not supported: the mail server behind this gateway does not offer SMTPUTF8; send the command without it"},
		{name: "RET", mail: "MAIL FROM:<a@remote.example> RET=HDRS",
			want: "555 5.5.4 RET parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it"},
		{name: "ENVID", mail: "MAIL FROM:<a@remote.example> ENVID=QQ314159",
			want: "555 5.5.4 ENVID parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it"},
		{name: "NOTIFY", rcpt: "RCPT TO:<bob@" + localDom + "> NOTIFY=SUCCESS",
			want: "555 5.5.4 NOTIFY parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it"},
		{name: "ORCPT", rcpt: "RCPT TO:<bob@" + localDom + "> ORCPT=rfc822;bob@" + localDom,
			want: "555 5.5.4 ORCPT parameter not supported: the mail server behind this gateway does not offer DSN; send the command without it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("down")
			h := start(t, newEnv(t, tg), opts{})
			c := h.dial()
			c.ehlo(clientHELO)
			if tc.mail != "" {
				c.expect(tc.mail, tc.want)
			} else {
				c.expectCode("MAIL FROM:<a@remote.example>", "250")
				c.expect(tc.rcpt, tc.want)
			}
			c.sync()
			if n := len(tg.transactions()); n != 0 {
				t.Errorf("%d downstream transactions, want none", n)
			}
			if !strings.Contains(h.logs.String(), "code=555") {
				t.Errorf("no reject log line:\n%s", h.logs.String())
			}
		})
	}
}

// A non-ASCII address needs the SMTPUTF8 parameter (RFC 6531 §3.7.4.1);
// without it nothing reaches the downstream.
func TestNonASCIIAddressNeedsSMTPUTF8(t *testing.T) {
	tg := newTarget("down")
	tg.ext = relay.Extensions{SMTPUTF8: true}
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<ñoño@remote.example>", "553 5.6.7 <ñoño@remote.example>: non-ASCII address requires the SMTPUTF8 parameter")
	c.expectCode("MAIL FROM:<a@remote.example>", "250")
	c.expect("RCPT TO:<usuário@"+localDom+">", "553 5.6.7 <usuário@"+localDom+">: non-ASCII address requires the SMTPUTF8 parameter")
	c.sync()
	if n := len(tg.transactions()); n != 0 {
		t.Errorf("%d downstream transactions, want none", n)
	}
	c.expectCode("RSET", "250")
	c.expectCode("MAIL FROM:<ñoño@remote.example> SMTPUTF8", "250")
	c.expectCode("RCPT TO:<usuário@"+localDom+">", "250")
	c.sync()
	tx := tg.tx(t, 0)
	if tx.From != "ñoño@remote.example" || !tx.Opts.UTF8 || !equal(tx.Rcpts, []string{"usuário@" + localDom}) {
		t.Errorf("downstream saw %+v", tx)
	}
}

// DSN parameters reach the downstream unchanged.
func TestDSNParametersPassed(t *testing.T) {
	tg := newTarget("down")
	tg.ext = relay.Extensions{DSN: true}
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.ehlo(clientHELO)
	c.expectCode("MAIL FROM:<a@remote.example> RET=HDRS ENVID=QQ314159+2Bx", "250")
	c.expectCode("RCPT TO:<bob@"+localDom+"> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+40x@"+localDom, "250")
	c.sync()
	tx := tg.tx(t, 0)
	if tx.Opts.Return != "HDRS" || tx.Opts.EnvelopeID != "QQ314159+x" {
		t.Errorf("MAIL options %+v", tx.Opts)
	}
	want := relay.RcptOptions{Notify: []string{"SUCCESS", "DELAY"}, ORCPTType: "RFC822", ORCPT: "Bob@x@" + localDom}
	if len(tx.RcptOpts) != 1 || !slices.Equal(tx.RcptOpts[0].Notify, want.Notify) || tx.RcptOpts[0].ORCPTType != want.ORCPTType || tx.RcptOpts[0].ORCPT != want.ORCPT {
		t.Errorf("RCPT options %+v, want %+v", tx.RcptOpts, want)
	}
}

// Relay control compares domains in IDNA form: a U-label of a local
// domain is local, a look-alike in other letters is not.
func TestRelayControlIDN(t *testing.T) {
	tg := newTarget("down")
	tg.ext = relay.Extensions{SMTPUTF8: true}
	env := newEnv(t, tg)
	env.LocalDomains["xn--bcher-kva.example"] = true
	c := start(t, env, opts{}).dial()
	c.ehlo(clientHELO)
	c.expectCode("MAIL FROM:<ñoño@remote.example> SMTPUTF8", "250")
	c.expectCode("RCPT TO:<usuário@bücher.example>", "250")
	c.expectCode("RCPT TO:<a@BÜCHER.example>", "250")
	c.expectCode("RCPT TO:<a@xn--bcher-kva.example>", "250")
	c.expect("RCPT TO:<a@b\u0446cher.example>", "554 5.7.1 <a@b\u0446cher.example>: Relay access denied")
	// local-one.net spelt with a Cyrillic о (U+043E).
	c.expect("RCPT TO:<a@l\u043ecal-one.net>", "554 5.7.1 <a@l\u043ecal-one.net>: Relay access denied")
}

// Invalid UTF-8 is no address, with or without SMTPUTF8.
func TestInvalidUTF8Address(t *testing.T) {
	tg := newTarget("down")
	tg.ext = relay.Extensions{SMTPUTF8: true}
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a\xffb@remote.example> SMTPUTF8", "501 5.1.7 <a?b@remote.example>: Sender address rejected: not valid UTF-8 (RFC 6531 section 3.3)")
	c.expectCode("MAIL FROM:<a@remote.example> SMTPUTF8", "250")
	c.expect("RCPT TO:<b\xffb@"+localDom+">", "501 5.1.3 <b\xffb@"+localDom+">: Recipient address rejected: bad address syntax")
	c.sync()
	if n := len(tg.transactions()); n != 0 {
		t.Errorf("%d downstream transactions, want none", n)
	}
}

package backend_test

import (
	"bufio"
	"net/textproto"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/heloguard"
)

const cpanelRefusal = "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"

// cPanel refuses a bad HELO at MAIL, with its well-known text; a HELO
// client gets no enhanced code.
func TestHELOPolicyAtMail(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileCPanel})
	h := start(t, env, opts{})

	c := h.dial()
	c.ehlo("localhost") // EHLO itself is accepted at stage mail
	c.expect("MAIL FROM:<a@remote.example>", "550 5.7.1 "+cpanelRefusal)
	c.expect("MAIL FROM:<a@remote.example>", "550 5.7.1 "+cpanelRefusal)
	c.expect("RCPT TO:<bob@local-one.net>", "502 5.5.1 Missing MAIL FROM command.")

	c2 := h.dial()
	c2.expect("HELO localhost", "250 2.0.0 Hello localhost")
	c2.expect("MAIL FROM:<a@remote.example>", "550 "+cpanelRefusal)

	// Our own hostname and domain, a single label, a reserved name.
	for _, name := range []string{gwHost, localDom, "mailserver", "box.home.arpa", "[127.0.0.1]"} {
		c := h.dial()
		c.ehlo(name)
		got := c.cmd("MAIL FROM:<a@remote.example>")
		if name == "[127.0.0.1]" {
			// The client's own address as a literal is fine.
			if got[0] != "250 2.0.0 Roger, accepting mail from <a@remote.example>" {
				t.Fatalf("EHLO %s, MAIL: %q", name, got)
			}
			continue
		}
		if !equal(got, []string{"550 5.7.1 " + cpanelRefusal}) {
			t.Fatalf("EHLO %s, MAIL: %q", name, got)
		}
	}

	// A good name passes; a second EHLO with a bad one is refused at
	// the next MAIL.
	c3 := h.dial()
	c3.ehlo(clientHELO)
	c3.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c3.ehlo("localhost")
	c3.expect("MAIL FROM:<a@remote.example>", "550 5.7.1 "+cpanelRefusal)
	c3.ehlo(clientHELO)
	c3.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c3.sync()
	if txs := tg.transactions(); len(txs) != 0 {
		t.Fatalf("downstream transactions before any RCPT: %+v", txs)
	}
	refused, _, _ := h.metrics.snapshot()
	want := []string{"MAIL fqdn 550", "MAIL fqdn 550", "MAIL fqdn 550", "MAIL self 550", "MAIL self 550", "MAIL fqdn 550", "MAIL reserved 550", "MAIL fqdn 550"}
	if !equal(refused, want) {
		t.Fatalf("metrics %q", refused)
	}
}

// Stage helo refuses the greeting itself; a later greeting is judged at
// MAIL (go-smtp has already said 250 to it).
func TestHELOPolicyAtHELO(t *testing.T) {
	env := withHELO(t, newEnv(t, newTarget("down")), heloguard.Config{Profile: heloguard.ProfileCPanel, Stage: heloguard.StageHELO})
	h := start(t, env, opts{})
	c := h.dial()
	c.expect("EHLO localhost", "550 5.7.1 "+cpanelRefusal)
	c.expect("MAIL FROM:<a@remote.example>", "502 5.5.1 Please introduce yourself first.")
	c.expect("HELO localhost", "550 "+cpanelRefusal)
	c.ehlo(clientHELO)
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c.ehlo("localhost")
	c.expect("MAIL FROM:<a@remote.example>", "550 5.7.1 "+cpanelRefusal)
}

// The postfix profile refuses at RCPT, with Postfix's texts.
func TestHELOPolicyAtRcpt(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfilePostfix})
	h := start(t, env, opts{})
	c := h.dial()
	c.ehlo("localhost")
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	// Relay control comes first.
	c.expect("RCPT TO:<x@remote.example>", "554 5.7.1 <x@remote.example>: Relay access denied")
	c.expect("RCPT TO:<bob@local-one.net>", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")

	c2 := h.dial()
	c2.ehlo("host.example.org")
	c2.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c2.expect("RCPT TO:<bob@local-one.net>", "554 5.7.1 <host.example.org>: Helo command rejected: Access denied")

	c3 := h.dial()
	c3.ehlo(clientHELO)
	c3.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")
	c3.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
	c3.sync()
	if txs := tg.transactions(); len(txs) != 1 || !equal(txs[0].Rcpts, []string{"bob@local-one.net"}) {
		t.Fatalf("downstream: %+v", txs)
	}
}

// AUTH exempts from the HELO policy, and the tagging headers say so.
func TestHELOExemptAfterAuth(t *testing.T) {
	tg := newTarget("down")
	env := withAuth(t, withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileCPanel}))
	c := start(t, env, opts{authEnabled: true, tls: true}).dial()
	c.ehlo("localhost")
	c.startTLS()
	c.ehlo("localhost")
	c.expect("MAIL FROM:<"+userAddr+">", "550 5.7.1 "+cpanelRefusal)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), authOK)
	c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
	if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	hdr := header(t, tg.tx(t, 0).Data)
	if v := hdr.Get(heloguard.HeaderName); !strings.HasPrefix(v, gwHost+"; helo=localhost; client-ip=127.0.0.1; ") ||
		!strings.Contains(v, "; reserved=fail;") || !strings.HasSuffix(v, "; action=accept; exempt=authenticated") {
		t.Fatalf("X-HELO-Check: %q", v)
	}
}

// The gateway's headers go on top, in this order; the same fields
// arriving from outside are removed, whatever their case and folding.
func TestTraceHeaders(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileCPanel})
	c := start(t, env, opts{}).dial()
	c.open()
	in := "Received: from earlier.example by relay.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"X-HELO-Check: " + gwHost + "; helo=forged; action=accept\r\n" +
		"authentication-results: " + gwHost + ";\r\n\tiprev=pass policy.iprev=192.0.2.1\r\n" +
		"x-helo-check: lower case forgery\r\n" +
		"Subject: test\r\n" +
		"\r\n" +
		"X-HELO-Check: in the body stays\r\n"
	if got := c.data(in); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	d := tg.tx(t, 0).Data
	lines := strings.Split(d, "\r\n")
	var names []string
	for _, l := range lines {
		if l == "" {
			break
		}
		if l[0] != ' ' && l[0] != '\t' {
			name, _, _ := strings.Cut(l, ":")
			names = append(names, name)
		}
	}
	want := []string{"Authentication-Results", "X-HELO-Check", "Received", "Received", "Subject"}
	if !equal(names, want) {
		t.Fatalf("header fields %q, want %q:\n%s", names, want, d)
	}
	if strings.Contains(d, "forged") || strings.Contains(d, "forgery") || strings.Contains(d, "192.0.2.1") {
		t.Fatalf("a forged field survived:\n%s", d)
	}
	if !strings.HasSuffix(d, "\r\n\r\nX-HELO-Check: in the body stays\r\n") {
		t.Fatalf("body changed:\n%s", d)
	}
	hdr := header(t, d)
	if v, want := hdr.Get("Authentication-Results"), gwHost+"; iprev=pass policy.iprev=127.0.0.1 ("+clientHELO+")"; v != want {
		t.Fatalf("Authentication-Results: %q, want %q", v, want)
	}
	wantHC := gwHost + "; helo=" + clientHELO + "; client-ip=127.0.0.1; required=pass; syntax=pass; fqdn=pass; " +
		"bare_ip=pass; literal=pass; reserved=pass; self=pass; forward_dns=pass; forward_match=pass; " +
		"rdns=pass; fcrdns=pass; rdns_match=pass; generic=pass; big_company=pass; changed=pass; action=accept"
	if v := hdr.Get(heloguard.HeaderName); v != wantHC {
		t.Fatalf("X-HELO-Check:\n got %q\nwant %q", v, wantHC)
	}
	if v := hdr.Values("Received")[0]; !strings.HasPrefix(v, "from "+clientHELO+" ("+clientHELO+" [127.0.0.1]) by "+gwHost+" (gateway) with ESMTP id ") {
		t.Fatalf("Received: %q", v)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "Received: from earlier.example") {
			break // the client's own fields from here on
		}
		if len(l) > 78 {
			t.Fatalf("header line longer than 78 characters: %q", l)
		}
	}
}

// The monitor profile refuses nothing and tags everything.
func TestHELOMonitor(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileMonitor})
	c := start(t, env, opts{}).dial()
	c.ehlo("localhost")
	c.tx()
	if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	hdr := header(t, tg.tx(t, 0).Data)
	if v := hdr.Get(heloguard.HeaderName); !strings.Contains(v, "; reserved=fail;") || !strings.HasSuffix(v, "; action=tag") {
		t.Fatalf("X-HELO-Check: %q", v)
	}
	if v := hdr.Get("Authentication-Results"); v != gwHost+"; iprev=pass policy.iprev=127.0.0.1 ("+clientHELO+")" {
		t.Fatalf("Authentication-Results: %q", v)
	}
}

// header parses the header section of a message, unfolding fields.
func header(t testing.TB, data string) textproto.MIMEHeader {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(data))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("parsing the header: %v\n%s", err, data)
	}
	return h
}

// Under monitor nothing is refused, and the helo verdict line says what
// each profile would have done with the same results, with the fix of
// each check; the would-refuse counter counts them per profile.
func TestHELOWouldRefuse(t *testing.T) {
	tg := newTarget("down")
	env := withHELO(t, newEnv(t, tg), heloguard.Config{Profile: heloguard.ProfileMonitor})
	h := start(t, env, opts{})
	c := h.dial()
	c.ehlo("mailserver")
	c.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")

	c2 := h.dial()
	c2.ehlo(clientHELO)
	c2.expect("MAIL FROM:<a@remote.example>", "250 2.0.0 Roger, accepting mail from <a@remote.example>")

	var bad, good string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		switch {
		case strings.Contains(l, `msg="helo verdict"`) && strings.Contains(l, "helo=mailserver"):
			bad = l
		case strings.Contains(l, `msg="helo verdict"`) && strings.Contains(l, "helo="+clientHELO):
			good = l
		}
	}
	for _, want := range []string{
		// rdns_match fails too (the PTR is another name); only strict refuses for it.
		`would_refuse="cpanel:fqdn postfix:fqdn strict:fqdn,rdns_match"`,
		`fix_fqdn="use your server's public hostname (e.g. mail.example.com) or authenticate"`,
		`failed="fqdn=fail/tag,rdns_match=fail/tag"`,
	} {
		if !strings.Contains(bad, want) {
			t.Errorf("helo verdict lacks %s:\n%s", want, bad)
		}
	}
	if strings.Contains(bad, "monitor:") {
		t.Errorf("monitor would refuse nothing:\n%s", bad)
	}
	if !strings.Contains(good, `would_refuse=""`) || strings.Contains(good, "fix_") {
		t.Errorf("a good HELO: want an empty would_refuse and no fix:\n%s", good)
	}
	h.metrics.mu.Lock()
	would := strings.Join(h.metrics.would, ";")
	h.metrics.mu.Unlock()
	for _, want := range []string{"cpanel fqdn", "postfix fqdn", "strict fqdn"} {
		if !strings.Contains(would, want) {
			t.Errorf("would-refuse metric lacks %q: %q", want, would)
		}
	}
	if strings.Contains(would, "monitor") {
		t.Errorf("would-refuse metric counts monitor: %q", would)
	}
}

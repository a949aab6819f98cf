package e2e

// HELO policy (issue 4): the real gateway binary, a real Postfix behind it,
// the in-process DNS server as the only resolver, and clients bound to
// different loopback addresses (127.0.0.2 has a forward-confirmed PTR,
// 127.0.0.3 has none). Proof: the exact replies clients read at each
// command, the headers Postfix stored, and what `gateway check-helo`
// prints.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

// The clients of the HELO tests, all on loopback.
const (
	ipGood     = "127.0.0.2" // PTR mail.sender-e2e.net, whose A is 127.0.0.2: FCrDNS passes
	ipNoPTR    = "127.0.0.3" // no PTR at all; mail3.sender-e2e.net has A 127.0.0.3
	ipMismatch = "127.0.0.4" // PTR host4.sender-e2e.net, whose A is 127.0.0.44
	ipTrouble  = "127.0.0.5" // its PTR lookups fail (SERVFAIL or timeout) when a test says so
	ipTrusted  = "127.0.0.6"
	ipAllowed  = "127.0.0.7"
	ipGeneric  = "127.0.0.8" // PTR static.127.0.0.8.provider-e2e.net, forward-confirmed

	heloNoPTR = "mail3.sender-e2e.net"
	heloHost4 = "host4.sender-e2e.net"
	heloTrbl  = "mail5.sender-e2e.net"
	ptrGen    = "static.127.0.0.8.provider-e2e.net"

	// cPanel/Exim's reply text, the one the seed articles quote.
	cpanelText = "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"
	// Exim's defer text, for DNS trouble.
	eximTemp = "Temporary local problem - please try later"
)

// heloZone publishes the test zone on the test DNS server.
func heloZone(s *dnstest.Server) {
	s.AddPTR(ipGood, clientHELO)
	s.AddA(clientHELO, ipGood)
	s.AddA(heloNoPTR, ipNoPTR)
	s.AddPTR(ipMismatch, heloHost4)
	s.AddA(heloHost4, "127.0.0.44")
	s.AddA(heloTrbl, ipTrouble)
	s.AddPTR(ipGeneric, ptrGen)
	s.AddA(ptrGen, ipGeneric)
}

// heloSetup starts DNS, Postfix and a gateway whose [helo] table is helo
// (more tables may follow it in the same string), with the test zone and
// what zone adds published before the gateway starts.
func heloSetup(t *testing.T, helo string, o opts, zone ...func(*dnstest.Server)) *env {
	t.Helper()
	o.zone = append([]func(*dnstest.Server){heloZone}, zone...)
	o.extra = helo + "\n" + o.extra
	return setup(t, &e2etest.PostfixOptions{}, o)
}

// heloConvo is one SMTP conversation up to the first refusal.
type heloConvo struct {
	HELO, Mail, Rcpt e2etest.Reply
}

// heloTalk connects from ip, greets with verb and name, then sends MAIL
// and RCPT for a local recipient, stopping at the first refusal.
func heloTalk(t *testing.T, addr, ip, verb, name string) heloConvo {
	t.Helper()
	r := e2etest.DialRaw(t, addr, ip)
	defer r.Close()
	var c heloConvo
	if c.HELO = r.Cmd(t, verb+" "+name); c.HELO.Code == 250 {
		if c.Mail = r.Cmd(t, "MAIL FROM:<"+sender+">"); c.Mail.Code == 250 {
			c.Rcpt = r.Cmd(t, "RCPT TO:<bob@example.com>")
		}
	}
	r.Send(t, []byte("QUIT\r\n"))
	return c
}

// wire renders a reply as lines joined by "\n", codes included.
func wire(r e2etest.Reply) string { return strings.ReplaceAll(r.String(), "\r\n", "\n") }

// refusal returns the command of the first non-2xx reply and the reply, or
// "" and "" when everything was accepted.
func (c heloConvo) refusal() (stage, reply string) {
	for _, s := range []struct {
		stage string
		r     e2etest.Reply
	}{{"helo", c.HELO}, {"mail", c.Mail}, {"rcpt", c.Rcpt}} {
		if s.r.Code/100 != 2 {
			return s.stage, wire(s.r)
		}
	}
	return "", ""
}

// heloCase is one client and what it must read.
type heloCase struct {
	ip, verb, name string
	stage          string // "helo", "mail", "rcpt"; "" = accepted
	reply          string // the whole refusal, lines joined by "\n"
}

func (hc heloCase) String() string { return hc.verb + " " + hc.name + " from " + hc.ip }

func runHELOCases(t *testing.T, e *env, cases []heloCase) {
	t.Helper()
	for _, hc := range cases {
		t.Run(hc.String(), func(t *testing.T) {
			c := heloTalk(t, e.mx, hc.ip, hc.verb, hc.name)
			stage, reply := c.refusal()
			if stage != hc.stage || reply != hc.reply {
				t.Errorf("refused at %q with\n%s\nwant at %q with\n%s\n(EHLO %q, MAIL %q, RCPT %q)",
					stage, reply, hc.stage, hc.reply, wire(c.HELO), wire(c.Mail), wire(c.Rcpt))
			}
			if reply != "" && !strings.HasPrefix(reply, "4") && !strings.HasPrefix(reply, "5") {
				t.Errorf("refusal is not 4xx/5xx: %q", reply)
			}
		})
	}
}

// The explanatory lines, exactly as the engine words them.
func explFQDN(name string) string {
	return "HELO '" + name + "' is not a fully-qualified domain name; use your server's public hostname (e.g. mail.example.com) or authenticate (check: fqdn)"
}

func explBareIP(name string) string {
	return "HELO '" + name + "' is an IP address, not a host name; use your server's public hostname (e.g. mail.example.com) or authenticate (check: bare_ip)"
}

func explLiteral(name, ip string) string {
	return "HELO '" + name + "' is not the address you connect from (" + ip + "); use your server's public hostname (e.g. mail.example.com) or the literal of your own address (check: literal)"
}

func explReserved(name, under string) string {
	return "HELO '" + name + "' is under the reserved name ." + under + ", which cannot exist in public DNS; use your server's public hostname in a domain you own, or authenticate (check: reserved)"
}

func explLocalhost(name string) string {
	return "HELO '" + name + "' is a name for the local machine; use your server's public hostname in a domain you own, or authenticate (check: reserved)"
}

func explSyntax(name, problem string) string {
	return "HELO '" + name + "' is not a valid host name (" + problem + "); use your server's public hostname (e.g. mail.example.com) or authenticate (check: syntax)"
}

func explNoPTR(ip, check string) string {
	return "your address " + ip + " has no PTR record (reverse DNS); ask the owner of the address (your ISP or hosting provider) to set a PTR record naming your server, or relay through your provider's mail server (check: " + check + ")"
}

func explNXDomain(name string) string {
	return "HELO '" + name + "' does not exist in DNS (no A, AAAA or MX record); publish an A record for your server's hostname and use that name, or authenticate (check: forward_dns)"
}

// cpanel550 is cPanel's refusal with an explanatory line, after EHLO
// (enhanced code) or HELO (none).
func cpanel550(expl string, ehlo bool) string {
	last := "550 5.7.1 " + cpanelText
	if !ehlo {
		last = "550 " + cpanelText
	}
	if expl == "" {
		return last
	}
	return "550-" + expl + "\n" + last
}

func TestHELOProfileCPanel(t *testing.T) {
	e := heloSetup(t, "", opts{}) // no [helo] table: cpanel is the default
	runHELOCases(t, e, []heloCase{
		{ip: ipGood, verb: "EHLO", name: clientHELO},
		// DNS checks only tag under cpanel.
		{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR},
		{ip: ipNoPTR, verb: "EHLO", name: "fakedomain.xyz"},
		{ip: ipMismatch, verb: "EHLO", name: heloHost4},
		{ip: ipNoPTR, verb: "EHLO", name: "[" + ipNoPTR + "]"},
		{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "mail", reply: cpanel550(explFQDN("mon-serveur"), true)},
		{ip: ipNoPTR, verb: "HELO", name: "mon-serveur", stage: "mail", reply: cpanel550(explFQDN("mon-serveur"), false)},
		{ip: ipGood, verb: "EHLO", name: "localhost", stage: "mail", reply: cpanel550(explFQDN("localhost"), true)},
		{ip: ipGood, verb: "EHLO", name: "localhost.localdomain", stage: "mail", reply: cpanel550(explLocalhost("localhost.localdomain"), true)},
		{ip: ipGood, verb: "EHLO", name: "127.0.0.1", stage: "mail", reply: cpanel550(explBareIP("127.0.0.1"), true)},
		{ip: ipGood, verb: "EHLO", name: "[192.168.1.1]", stage: "mail", reply: cpanel550(explLiteral("[192.168.1.1]", ipGood), true)},
		{ip: ipGood, verb: "EHLO", name: "server1.local", stage: "mail", reply: cpanel550(explReserved("server1.local", "local"), true)},
		{ip: ipGood, verb: "EHLO", name: "mail_x.sender-e2e.net", stage: "mail", reply: cpanel550(explSyntax("mail_x.sender-e2e.net", "it contains an underscore"), true)},
	})
}

func TestHELOProfilePostfix(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"postfix\"\n", opts{})
	noRev := func(ip string) string {
		return "450-" + explNoPTR(ip, "rdns") + "\n450 4.7.1 Client host rejected: cannot find your reverse hostname, [" + ip + "]"
	}
	runHELOCases(t, e, []heloCase{
		{ip: ipGood, verb: "EHLO", name: clientHELO},
		// forward_match and fcrdns only tag under postfix.
		{ip: ipMismatch, verb: "EHLO", name: heloHost4},
		{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR, stage: "rcpt", reply: noRev(ipNoPTR)},
		// literal is off: Postfix's reject_invalid_helo_hostname takes literals.
		{ip: ipGood, verb: "EHLO", name: "[192.168.1.1]"},
		{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "rcpt",
			reply: "504-" + explFQDN("mon-serveur") + "\n504 5.5.2 <mon-serveur>: Helo command rejected: need fully-qualified hostname"},
		{ip: ipNoPTR, verb: "HELO", name: "mon-serveur", stage: "rcpt",
			reply: "504-" + explFQDN("mon-serveur") + "\n504 <mon-serveur>: Helo command rejected: need fully-qualified hostname"},
		{ip: ipGood, verb: "EHLO", name: "127.0.0.1", stage: "rcpt",
			reply: "501-" + explBareIP("127.0.0.1") + "\n501 5.5.2 <127.0.0.1>: Helo command rejected: Invalid name"},
		{ip: ipGood, verb: "EHLO", name: "mail_x.sender-e2e.net", stage: "rcpt",
			reply: "501-" + explSyntax("mail_x.sender-e2e.net", "it contains an underscore") + "\n501 5.5.2 <mail_x.sender-e2e.net>: Helo command rejected: Invalid name"},
		{ip: ipGood, verb: "EHLO", name: "server1.local", stage: "rcpt",
			reply: "554-" + explReserved("server1.local", "local") + "\n554 5.7.1 <server1.local>: Helo command rejected: Access denied"},
		{ip: ipGood, verb: "EHLO", name: "fakedomain.xyz", stage: "rcpt",
			reply: "450-" + explNXDomain("fakedomain.xyz") + "\n450 4.7.1 <fakedomain.xyz>: Helo command rejected: Host not found"},
	})
}

func TestHELOProfileStrict(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"strict\"\n", opts{})
	runHELOCases(t, e, []heloCase{
		{ip: ipGood, verb: "EHLO", name: clientHELO},
		{ip: ipGood, verb: "EHLO", name: "[" + ipGood + "]"},
		{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR, stage: "mail", reply: cpanel550(explNoPTR(ipNoPTR, "rdns"), true)},
		{ip: ipNoPTR, verb: "EHLO", name: clientHELO, stage: "mail", reply: cpanel550(
			"HELO 'mail.sender-e2e.net' resolves to 127.0.0.2, not to 127.0.0.3 that you connect from; give each sending address its own HELO name whose A record is that address (check: forward_match)", true)},
		{ip: ipGood, verb: "EHLO", name: "fakedomain.xyz", stage: "mail", reply: cpanel550(explNXDomain("fakedomain.xyz"), true)},
		{ip: ipGood, verb: "HELO", name: "fakedomain.xyz", stage: "mail", reply: cpanel550(explNXDomain("fakedomain.xyz"), false)},
		{ip: ipGeneric, verb: "EHLO", name: ptrGen, stage: "mail", reply: cpanel550(
			"HELO '"+ptrGen+"' looks like a generic or dynamic host name (it embeds the address); send from a server with its own hostname under your domain, relay through your provider's mail server, or authenticate (check: generic)", true)},
		{ip: ipGood, verb: "EHLO", name: "mon-serveur", stage: "mail", reply: cpanel550(explFQDN("mon-serveur"), true)},
	})
}

func TestHELOProfileMonitor(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"monitor\"\n", opts{})
	var cases []heloCase
	for _, name := range []string{"mon-serveur", "localhost", "127.0.0.1", "[192.168.1.1]", "server1.local", "fakedomain.xyz", "mail_x.sender-e2e.net"} {
		cases = append(cases, heloCase{ip: ipNoPTR, verb: "EHLO", name: name})
	}
	runHELOCases(t, e, cases)
	// Nothing refused, but each verdict is logged with what it would do.
	line := e.gw.WaitLog(t, "helo=mon-serveur action=tag", 5*time.Second)
	for _, want := range []string{`msg="helo verdict"`, "fqdn=fail/tag", "rdns=fail/tag"} {
		if !strings.Contains(line, want) {
			t.Errorf("monitor log line lacks %q: %s", want, line)
		}
	}
}

func TestHELOExplainOff(t *testing.T) {
	t.Run("cpanel", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nexplain = false\n", opts{})
		runHELOCases(t, e, []heloCase{
			{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "mail", reply: "550 5.7.1 " + cpanelText},
			{ip: ipNoPTR, verb: "HELO", name: "mon-serveur", stage: "mail", reply: "550 " + cpanelText},
			{ip: ipGood, verb: "EHLO", name: "[192.168.1.1]", stage: "mail", reply: "550 5.7.1 " + cpanelText},
		})
	})
	t.Run("postfix", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nprofile = \"postfix\"\nexplain = false\n", opts{})
		runHELOCases(t, e, []heloCase{
			{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "rcpt", reply: "504 5.5.2 <mon-serveur>: Helo command rejected: need fully-qualified hostname"},
			{ip: ipNoPTR, verb: "HELO", name: "mon-serveur", stage: "rcpt", reply: "504 <mon-serveur>: Helo command rejected: need fully-qualified hostname"},
			{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR, stage: "rcpt", reply: "450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.3]"},
		})
	})
}

// ENHANCEDSTATUSCODES (RFC 2034): offered in the EHLO reply; refusals
// carry "5.7.1" after EHLO and no enhanced code at all after HELO, on
// 5xx, 4xx and DNS-trouble replies alike.
func TestHELOEnhancedStatusCodes(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"postfix\"\n[helo.checks]\nforward_dns = \"reject\"\n", opts{})
	e.dns.Fail(heloTrbl, dns.RcodeServerFailure)
	r := e2etest.DialRaw(t, e.mx, ipNoPTR)
	ehlo := r.Cmd(t, "EHLO "+heloNoPTR)
	if ehlo.Code != 250 || !containsLine(ehlo.Lines, "ENHANCEDSTATUSCODES") {
		t.Errorf("EHLO reply does not offer ENHANCEDSTATUSCODES:\n%s", ehlo)
	}
	r.Close()

	runHELOCases(t, e, []heloCase{
		{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR, stage: "rcpt",
			reply: "450-" + explNoPTR(ipNoPTR, "rdns") + "\n450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.3]"},
		{ip: ipNoPTR, verb: "HELO", name: heloNoPTR, stage: "rcpt",
			reply: "450-" + explNoPTR(ipNoPTR, "rdns") + "\n450 Client host rejected: cannot find your reverse hostname, [127.0.0.3]"},
		{ip: ipGood, verb: "HELO", name: "fakedomain.xyz", stage: "rcpt",
			reply: "550-" + explNXDomain("fakedomain.xyz") + "\n550 <fakedomain.xyz>: Helo command rejected: Host not found"},
		{ip: ipGood, verb: "EHLO", name: "fakedomain.xyz", stage: "rcpt",
			reply: "550-" + explNXDomain("fakedomain.xyz") + "\n550 5.7.1 <fakedomain.xyz>: Helo command rejected: Host not found"},
		// A DNS failure of a reject check defers, with Postfix's 450 form.
		{ip: ipGood, verb: "HELO", name: heloTrbl, stage: "rcpt",
			reply: "450-DNS lookup of A/AAAA " + heloTrbl + " failed temporarily (servfail); try again later; if it persists, make sure the name's DNS servers answer (check: forward_dns)\n" +
				"450 <" + heloTrbl + ">: Helo command rejected: Host not found"},
	})
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.EqualFold(strings.Fields(l + " x")[0], want) {
			return true
		}
	}
	return false
}

func TestHELOStageHELO(t *testing.T) {
	t.Run("cpanel", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nstage = \"helo\"\n", opts{})
		runHELOCases(t, e, []heloCase{
			{ip: ipGood, verb: "EHLO", name: clientHELO},
			{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "helo", reply: cpanel550(explFQDN("mon-serveur"), true)},
			{ip: ipNoPTR, verb: "HELO", name: "mon-serveur", stage: "helo", reply: cpanel550(explFQDN("mon-serveur"), false)},
			{ip: ipNoPTR, verb: "EHLO", name: "[192.168.1.1]", stage: "helo", reply: cpanel550(explLiteral("[192.168.1.1]", ipNoPTR), true)},
		})

		// A refused EHLO leaves the client unintroduced; a good name
		// afterwards is accepted and mail flows.
		r := e2etest.DialRaw(t, e.mx, ipGood)
		if rep := r.Cmd(t, "EHLO localhost"); rep.Code != 550 {
			t.Fatalf("EHLO localhost: %s", rep)
		}
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code/100 != 5 {
			t.Errorf("MAIL after a refused EHLO: %s", rep)
		}
		if rep := r.Cmd(t, "EHLO "+clientHELO); rep.Code != 250 {
			t.Fatalf("EHLO %s after a refusal: %s", clientHELO, rep)
		}
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
			t.Errorf("MAIL after a good EHLO: %s", rep)
		}
		if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
			t.Errorf("RCPT after a good EHLO: %s", rep)
		}
		r.Close()

		// A second EHLO with a bad name cannot be refused by go-smtp: the
		// refusal comes at MAIL.
		r = e2etest.DialRaw(t, e.mx, ipGood)
		r.Cmd(t, "EHLO "+clientHELO)
		r.Cmd(t, "EHLO mon-serveur")
		if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); wire(rep) != cpanel550(explFQDN("mon-serveur"), true) {
			t.Errorf("MAIL after EHLO mon-serveur: %s", rep)
		}
	})
	t.Run("postfix", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nprofile = \"postfix\"\nstage = \"helo\"\nexplain = false\n", opts{})
		runHELOCases(t, e, []heloCase{
			{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "helo", reply: "504 5.5.2 <mon-serveur>: Helo command rejected: need fully-qualified hostname"},
			{ip: ipNoPTR, verb: "EHLO", name: heloNoPTR, stage: "helo", reply: "450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.3]"},
		})
	})
}

// self: cPanel's anti-spoofing check, from loopback (untrusted unless
// trusted_networks says otherwise).
func TestHELOSelf(t *testing.T) {
	// example.com is reserved by default (RFC 2606); take it off the list
	// so that self decides.
	e := heloSetup(t, "[helo]\nreserved_tlds = [\"local\", \"localhost\", \"test\", \"invalid\"]\ntrusted_networks = [\""+ipTrusted+"/32\"]\n", opts{})
	runHELOCases(t, e, []heloCase{
		{ip: ipNoPTR, verb: "EHLO", name: gwHost, stage: "mail",
			reply: cpanel550("HELO '"+gwHost+"' is this server's own hostname; use your own server's hostname, not this server's (check: self)", true)},
		{ip: ipNoPTR, verb: "EHLO", name: "MX.Example.COM.", stage: "mail",
			reply: cpanel550("HELO 'MX.Example.COM.' is this server's own hostname; use your own server's hostname, not this server's (check: self)", true)},
		{ip: ipNoPTR, verb: "EHLO", name: "example.org", stage: "mail",
			reply: cpanel550("HELO 'example.org' is one of this server's own domains; use your own server's hostname, not this server's (check: self)", true)},
		// Other hosts of our domains may use their names.
		{ip: ipNoPTR, verb: "EHLO", name: "office.example.com"},
		{ip: ipTrusted, verb: "EHLO", name: gwHost},
	})
}

// [helo.checks] overrides the profile's action of single checks.
func TestHELOCheckOverrides(t *testing.T) {
	e := heloSetup(t, "[helo]\n[helo.checks]\nfqdn = \"tempfail\"\nliteral = \"reject_all\"\nbare_ip = \"off\"\nforward_dns = \"reject\"\nchanged = \"reject\"\n", opts{})
	runHELOCases(t, e, []heloCase{
		{ip: ipNoPTR, verb: "EHLO", name: "mon-serveur", stage: "mail", reply: "450-" + explFQDN("mon-serveur") + "\n450 4.7.1 " + cpanelText},
		{ip: ipNoPTR, verb: "EHLO", name: "[" + ipNoPTR + "]", stage: "mail",
			reply: cpanel550("HELO '[127.0.0.3]' is an address literal, which this server does not accept; use your server's public hostname (e.g. mail.example.com) (check: literal)", true)},
		{ip: ipNoPTR, verb: "EHLO", name: "127.0.0.3"},
		{ip: ipGood, verb: "EHLO", name: "fakedomain.xyz", stage: "mail", reply: cpanel550(explNXDomain("fakedomain.xyz"), true)},
		{ip: ipGood, verb: "EHLO", name: clientHELO},
	})

	r := e2etest.DialRaw(t, e.mx, ipGood)
	r.Cmd(t, "EHLO "+clientHELO)
	if rep := r.Cmd(t, "EHLO "+heloNoPTR); rep.Code != 250 {
		t.Fatalf("second EHLO: %s", rep)
	}
	want := cpanel550("HELO changed from '"+clientHELO+"' to '"+heloNoPTR+"' in one session; send the same name in every HELO/EHLO (check: changed)", true)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); wire(rep) != want {
		t.Errorf("MAIL after a changed EHLO:\n%s\nwant\n%s", wire(rep), want)
	}
	r.Close()

	// The same name twice is no change.
	r = e2etest.DialRaw(t, e.mx, ipGood)
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "EHLO "+strings.ToUpper(clientHELO))
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
		t.Errorf("MAIL after the same EHLO twice: %s", rep)
	}
}

func TestHELOAllowDenyTrusted(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"strict\"\n"+
		"trusted_networks = [\""+ipTrusted+"/32\"]\n"+
		"allow_clients = [\""+ipAllowed+"/32\"]\n"+
		"allow_names = [\"*.partner-e2e.net\"]\n"+
		"deny_names = [\"/^ylmf-pc$/\", \"mail.spammer-e2e.net\"]\n", opts{})
	e.dns.AddPTR("127.0.0.9", "mail.spammer-e2e.net")
	e.dns.AddA("mail.spammer-e2e.net", "127.0.0.9")
	deny := func(name string) string {
		return cpanel550("HELO '"+name+"' is refused by this server's policy; use your server's public hostname, or contact the postmaster (check: deny_names)", true)
	}
	runHELOCases(t, e, []heloCase{
		// trusted and allow_clients skip every check, DNS included.
		{ip: ipTrusted, verb: "EHLO", name: "localhost"},
		{ip: ipTrusted, verb: "EHLO", name: "mon-serveur"},
		{ip: ipAllowed, verb: "EHLO", name: "DESKTOP-4F2K1"},
		// allow_clients beats deny_names (an address cannot be forged).
		{ip: ipAllowed, verb: "EHLO", name: "ylmf-pc"},
		// allow_names: no check at all, not even syntax.
		{ip: ipNoPTR, verb: "EHLO", name: "mon_serveur.partner-e2e.net"},
		// deny_names refuses names that pass every check, and decides ties.
		{ip: "127.0.0.9", verb: "EHLO", name: "mail.spammer-e2e.net", stage: "mail", reply: deny("mail.spammer-e2e.net")},
		{ip: ipNoPTR, verb: "EHLO", name: "ylmf-pc", stage: "mail", reply: deny("ylmf-pc")},
		{ip: ipNoPTR, verb: "EHLO", name: "localhost", stage: "mail", reply: cpanel550(explFQDN("localhost"), true)},
	})
}

// heloHeaders returns the header fields of a stored message, unfolded,
// runs of white space collapsed, in order.
func heloHeaders(raw []byte) [][2]string {
	head, _, _ := strings.Cut(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n\n")
	var out [][2]string
	for _, line := range strings.Split(head, "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(out) > 0 {
			out[len(out)-1][1] += " " + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		out = append(out, [2]string{name, value})
	}
	for i := range out {
		out[i][1] = strings.Join(strings.Fields(out[i][1]), " ")
	}
	return out
}

// headerValues returns the values of every field called name.
func headerValues(raw []byte, name string) []string {
	var vs []string
	for _, f := range heloHeaders(raw) {
		if strings.EqualFold(f[0], name) {
			vs = append(vs, f[1])
		}
	}
	return vs
}

// heloCheckValue is the X-HELO-Check value the gateway writes: results in
// Checks() order.
func heloCheckValue(helo, ip string, results map[string]string, tail string) string {
	order := []string{"required", "syntax", "fqdn", "bare_ip", "literal", "reserved", "self", "forward_dns",
		"forward_match", "rdns", "fcrdns", "rdns_match", "generic", "big_company", "changed"}
	var b strings.Builder
	b.WriteString(gwHost + "; helo=" + helo + "; client-ip=" + ip)
	for _, c := range order {
		r := results[c]
		if r == "" {
			r = "pass"
		}
		b.WriteString("; " + c + "=" + r)
	}
	b.WriteString("; " + tail)
	return b.String()
}

// A client on 127.0.0.2 whose PTR and A the test DNS server serves passes
// FCrDNS; 127.0.0.3 without PTR and 127.0.0.4 with an unconfirmed PTR fail
// it. swaks binds the client address.
func TestHELOFCrDNSSwaks(t *testing.T) {
	t.Run("reject", func(t *testing.T) {
		e := heloSetup(t, "[helo]\n[helo.checks]\nfcrdns = \"reject\"\n", opts{})
		out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipGood, "--ehlo", clientHELO,
			"--from", sender, "--to", "bob@example.com", "--header", "Subject: fcrdns pass")
		if code != 0 {
			t.Fatalf("swaks from %s: exit %d\n%s", ipGood, code, out)
		}
		msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
		if got, want := headerValues(msgs[0].Raw, "Authentication-Results"), []string{gwHost + "; iprev=pass policy.iprev=127.0.0.2 (mail.sender-e2e.net)"}; !equalStrings(got, want) {
			t.Errorf("Authentication-Results %q, want %q", got, want)
		}

		out, code = e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipNoPTR, "--ehlo", heloNoPTR,
			"--from", sender, "--to", "bob@example.com")
		if code != 23 || !strings.Contains(out, "<** 550-"+explNoPTR(ipNoPTR, "fcrdns")+"\n") ||
			!strings.Contains(out, "<** 550 5.7.1 "+cpanelText+"\n") {
			t.Errorf("swaks from %s: exit %d, want 23 with the fcrdns refusal at MAIL\n%s", ipNoPTR, code, out)
		}

		out, code = e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipMismatch, "--ehlo", heloHost4,
			"--from", sender, "--to", "bob@example.com")
		want := "<** 550-the PTR name host4.sender-e2e.net of your address 127.0.0.4 does not resolve back to it; add an A/AAAA record for your PTR name pointing to 127.0.0.4, or change the PTR (check: fcrdns)\n"
		if code != 23 || !strings.Contains(out, want) {
			t.Errorf("swaks from %s: exit %d, want 23 with\n%s\ngot\n%s", ipMismatch, code, want, out)
		}
		if n := len(e.postfix.Messages(t)); n != 1 {
			t.Errorf("Postfix holds %d messages, want 1", n)
		}
	})
	t.Run("tag", func(t *testing.T) {
		// cpanel tags DNS results: all three are relayed, with iprev.
		e := heloSetup(t, "", opts{})
		for i, c := range []struct{ ip, helo, iprev string }{
			{ipGood, clientHELO, "iprev=pass policy.iprev=127.0.0.2 (mail.sender-e2e.net)"},
			{ipNoPTR, heloNoPTR, "iprev=fail policy.iprev=127.0.0.3 (no PTR)"},
			{ipMismatch, heloHost4, "iprev=fail policy.iprev=127.0.0.4 (PTR not confirmed)"},
		} {
			out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", c.ip, "--ehlo", c.helo,
				"--from", sender, "--to", "bob@example.com", "--header", "Subject: from "+c.ip)
			if code != 0 {
				t.Fatalf("swaks from %s: exit %d\n%s", c.ip, code, out)
			}
			msgs := e.postfix.WaitMessages(t, i+1, 20*time.Second)
			var m *e2etest.Message
			for i := range msgs {
				if strings.Contains(string(msgs[i].Raw), "Subject: from "+c.ip+"\n") {
					m = &msgs[i]
				}
			}
			if m == nil {
				t.Fatalf("no message from %s among %d", c.ip, len(msgs))
			}
			if got := headerValues(m.Raw, "Authentication-Results"); !equalStrings(got, []string{gwHost + "; " + c.iprev}) {
				t.Errorf("from %s: Authentication-Results %q, want %q", c.ip, got, gwHost+"; "+c.iprev)
			}
		}
	})
	t.Run("postfix tempfail", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nprofile = \"postfix\"\n[helo.checks]\nfcrdns = \"tempfail\"\n", opts{})
		runHELOCases(t, e, []heloCase{
			{ip: ipGood, verb: "EHLO", name: clientHELO},
			{ip: ipMismatch, verb: "EHLO", name: heloHost4, stage: "rcpt", reply: "450-the PTR name host4.sender-e2e.net of your address 127.0.0.4 does not resolve back to it; add an A/AAAA record for your PTR name pointing to 127.0.0.4, or change the PTR (check: fcrdns)\n" +
				"450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.4]"},
		})
	})
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

// The tagging headers on the relayed message, and forged incoming ones
// removed.
func TestHELOTagHeaders(t *testing.T) {
	e := heloSetup(t, "", opts{})
	out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipNoPTR, "--ehlo", "fakedomain.xyz",
		"--from", sender, "--to", "bob@example.com",
		"--add-header", "Authentication-Results: "+gwHost+"; iprev=pass policy.iprev=127.0.0.3 (forged)",
		"--add-header", "X-HELO-Check: "+gwHost+"; helo=forged; action=accept",
		"--add-header", "x-helo-check: lower case forged",
		"--add-header", "AUTHENTICATION-RESULTS: upstream.example.net; spf=pass",
		"--add-header", "X-Kept: kept",
		"--header", "Subject: tagging")
	if code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	raw := msgs[0].Raw
	if got, want := headerValues(raw, "Authentication-Results"), []string{gwHost + "; iprev=fail policy.iprev=127.0.0.3 (no PTR)"}; !equalStrings(got, want) {
		t.Errorf("Authentication-Results %q, want only %q", got, want)
	}
	want := heloCheckValue("fakedomain.xyz", ipNoPTR, map[string]string{
		"forward_dns": "fail", "forward_match": "fail", "rdns": "fail", "fcrdns": "fail", "rdns_match": "fail",
	}, "action=tag")
	if got := headerValues(raw, "X-HELO-Check"); !equalStrings(got, []string{want}) {
		t.Errorf("X-HELO-Check %q,\nwant only %q", got, want)
	}
	if got := headerValues(raw, "X-Kept"); !equalStrings(got, []string{"kept"}) {
		t.Errorf("X-Kept %q: other headers must pass", got)
	}
	if strings.Contains(string(raw), "forged") {
		t.Errorf("a forged header survived:\n%s", raw)
	}
	// Ours come first, above the Received header the gateway adds.
	var order []string
	for _, f := range heloHeaders(raw) {
		order = append(order, strings.ToLower(f[0]))
	}
	joined := strings.Join(order, ",")
	if !strings.Contains(joined, "authentication-results,x-helo-check,received") {
		t.Errorf("header order %s", joined)
	}
}

// The fix the seed articles give (000, 001): authenticate. An
// authenticated client is exempt whatever its HELO, on an mx listener that
// offers AUTH and on a submission listener, and its mail says so.
func TestHELOAuthenticatedExempt(t *testing.T) {
	const user, password = "alice@example.com", "correct horse battery staple"
	hash, err := auth.HashPassword(password, "bcrypt")
	if err != nil {
		t.Fatal(err)
	}
	sub := e2etest.FreeAddr(t, "127.0.0.1")
	e := heloSetup(t, "[helo]\nprofile = \"strict\"\n", opts{
		listeners: "auth = true\nallow_insecure_auth = true\n" +
			"[[listener]]\nname = \"submission\"\naddress = \"" + sub + "\"\nkind = \"submission\"\nallow_insecure_auth = true\n",
		extra: fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\n", user, hash),
	})
	// Without AUTH the HELO is refused at MAIL...
	out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipNoPTR, "--ehlo", "DESKTOP-4F2K1",
		"--from", user, "--to", "bob@example.com")
	if code != 23 || !strings.Contains(out, "<** 550 5.7.1 "+cpanelText) {
		t.Fatalf("unauthenticated: exit %d, want 23 and the cPanel refusal\n%s", code, out)
	}
	// ...with AUTH, on either listener, the mail goes through.
	for i, server := range []string{e.mx, sub} {
		out, code := e2etest.Swaks(t, "--server", server, "--local-interface", ipNoPTR, "--ehlo", "DESKTOP-4F2K1",
			"--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
			"--from", user, "--to", "bob@example.com", "--header", fmt.Sprintf("Subject: authenticated %d", i))
		if code != 0 {
			t.Fatalf("authenticated on %s: exit %d\n%s", server, code, out)
		}
	}
	msgs := e.postfix.WaitMessages(t, 2, 20*time.Second)
	for _, m := range msgs {
		v := headerValues(m.Raw, "X-HELO-Check")
		if len(v) != 1 || !strings.HasPrefix(v[0], gwHost+"; helo=DESKTOP-4F2K1; client-ip=127.0.0.3; required=pass; syntax=pass; fqdn=fail;") ||
			!strings.HasSuffix(v[0], "; action=accept; exempt=authenticated") {
			t.Errorf("X-HELO-Check of an authenticated client: %q", v)
		}
	}
	// The stage helo refuses before AUTH can happen: that is why the
	// profiles refuse at MAIL or RCPT.
}

// DNS trouble (SERVFAIL, REFUSED, timeouts) never gives a 5xx: at most
// "451 4.4.3" (cpanel, strict) or the 450 form of Postfix's reply.
func TestHELODNSTrouble(t *testing.T) {
	const (
		servfailName = "servfail.sender-e2e.net"
		refusedName  = "refused.sender-e2e.net"
		slowName     = "slow.sender-e2e.net"
		ipSlow       = "127.0.0.10"
	)
	prepare := func(e *env) {
		e.dns.Fail("5.0.0.127.in-addr.arpa", dns.RcodeServerFailure)
		e.dns.Fail(servfailName, dns.RcodeServerFailure)
		e.dns.Fail(refusedName, dns.RcodeRefused)
		e.dns.Delay(slowName, 3*time.Second) // [dns] timeout is 1s
		e.dns.Delay("10.0.0.127.in-addr.arpa", 3*time.Second)
		e.dns.AddA("mail10.sender-e2e.net", ipSlow)
	}
	temp := func(what, why, check string, ehlo bool) string {
		last := "451 4.4.3 " + eximTemp
		if !ehlo {
			last = "451 " + eximTemp
		}
		return "451-DNS lookup of " + what + " failed temporarily (" + why + "); try again later; if it persists, make sure the name's DNS servers answer (check: " + check + ")\n" + last
	}
	t.Run("strict", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nprofile = \"strict\"\n", opts{})
		prepare(e)
		start := time.Now()
		runHELOCases(t, e, []heloCase{
			{ip: ipTrouble, verb: "EHLO", name: heloTrbl, stage: "mail", reply: temp("PTR 127.0.0.5", "servfail", "rdns", true)},
			{ip: ipTrouble, verb: "HELO", name: heloTrbl, stage: "mail", reply: temp("PTR 127.0.0.5", "servfail", "rdns", false)},
			{ip: ipGood, verb: "EHLO", name: servfailName, stage: "mail", reply: temp("A/AAAA "+servfailName, "servfail", "forward_dns", true)},
			{ip: ipGood, verb: "EHLO", name: refusedName, stage: "mail", reply: temp("A/AAAA "+refusedName, "servfail", "forward_dns", true)},
			{ip: ipGood, verb: "EHLO", name: slowName, stage: "mail", reply: temp("A/AAAA "+slowName, "timeout", "forward_dns", true)},
			{ip: ipSlow, verb: "EHLO", name: "mail10.sender-e2e.net", stage: "mail", reply: temp("PTR 127.0.0.10", "timeout", "rdns", true)},
			// A name that fails for good still gets its 5xx.
			{ip: ipGood, verb: "EHLO", name: "fakedomain.xyz", stage: "mail", reply: cpanel550(explNXDomain("fakedomain.xyz"), true)},
		})
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("the DNS trouble cases took %v: the [dns] timeout is not respected", d)
		}
	})
	t.Run("postfix", func(t *testing.T) {
		e := heloSetup(t, "[helo]\nprofile = \"postfix\"\n", opts{})
		prepare(e)
		runHELOCases(t, e, []heloCase{
			{ip: ipTrouble, verb: "EHLO", name: heloTrbl, stage: "rcpt",
				reply: "450-DNS lookup of PTR 127.0.0.5 failed temporarily (servfail); try again later; if it persists, make sure the name's DNS servers answer (check: rdns)\n" +
					"450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.5]"},
			{ip: ipGood, verb: "EHLO", name: slowName, stage: "rcpt",
				reply: "450-DNS lookup of A/AAAA " + slowName + " failed temporarily (timeout); try again later; if it persists, make sure the name's DNS servers answer (check: forward_dns)\n" +
					"450 4.7.1 <" + slowName + ">: Helo command rejected: Host not found"},
		})
	})
	t.Run("cpanel and monitor accept", func(t *testing.T) {
		for _, prof := range []string{"cpanel", "monitor"} {
			e := heloSetup(t, "[helo]\nprofile = \""+prof+"\"\n", opts{})
			prepare(e)
			runHELOCases(t, e, []heloCase{
				{ip: ipTrouble, verb: "EHLO", name: heloTrbl},
				{ip: ipGood, verb: "EHLO", name: servfailName},
				{ip: ipGood, verb: "EHLO", name: slowName},
			})
		}
	})
}

// Every HELO the seed articles name, through swaks, under the default
// profile: refused at MAIL with the reply the articles quote.
func TestHELOSeedArticles(t *testing.T) {
	e := heloSetup(t, "", opts{})
	refused := []string{
		"localhost", "localhost.localdomain", "mon-serveur", "127.0.0.1", "[192.168.1.1]",
		"server1.local", "host.example", "system", "mailserver", "python-email-server", "DESKTOP-4F2K1",
	}
	for _, name := range refused {
		t.Run(name, func(t *testing.T) {
			out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", ipNoPTR, "--ehlo", name,
				"--from", sender, "--to", "bob@example.com")
			if code != 23 || !strings.Contains(out, "<** 550 5.7.1 "+cpanelText+"\n") {
				t.Errorf("EHLO %s: exit %d, want 23 (MAIL refused) with %q\n%s", name, code, "550 5.7.1 "+cpanelText, out)
			}
			if !strings.Contains(out, "<** 550-HELO '"+name+"' ") {
				t.Errorf("EHLO %s: no explanatory line naming the HELO\n%s", name, out)
			}
		})
	}
	// fakedomain.xyz and the provider's default PTR only fail DNS checks:
	// cpanel tags them (strict refuses them: TestHELOProfileStrict).
	for _, c := range []struct{ ip, name, failed string }{
		{ipNoPTR, "fakedomain.xyz", "forward_dns=fail"},
		{ipGeneric, ptrGen, "generic=fail"},
	} {
		out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", c.ip, "--ehlo", c.name,
			"--from", sender, "--to", "bob@example.com", "--header", "Subject: seed "+c.name)
		if code != 0 {
			t.Fatalf("EHLO %s: exit %d\n%s", c.name, code, out)
		}
	}
	msgs := e.postfix.WaitMessages(t, 2, 20*time.Second)
	for _, c := range []struct{ name, failed string }{{"fakedomain.xyz", "forward_dns=fail"}, {ptrGen, "generic=fail"}} {
		found := false
		for _, m := range msgs {
			for _, v := range headerValues(m.Raw, "X-HELO-Check") {
				if strings.Contains(v, "helo="+c.name+";") {
					found = true
					if !strings.Contains(v, "; "+c.failed+";") || !strings.HasSuffix(v, "; action=tag") {
						t.Errorf("X-HELO-Check for %s: %s", c.name, v)
					}
				}
			}
		}
		if !found {
			t.Errorf("no message tagged for HELO %s", c.name)
		}
	}

	// Seed 002, Postfix's wording.
	p := heloSetup(t, "[helo]\nprofile = \"postfix\"\nexplain = false\n", opts{})
	for _, c := range []struct{ name, reply string }{
		{"system", "504 5.5.2 <system>: Helo command rejected: need fully-qualified hostname"},
		{"127.0.0.1", "501 5.5.2 <127.0.0.1>: Helo command rejected: Invalid name"},
	} {
		out, code := e2etest.Swaks(t, "--server", p.mx, "--local-interface", ipGood, "--ehlo", c.name,
			"--from", sender, "--to", "bob@example.com")
		if code != 24 || !strings.Contains(out, "<** "+c.reply+"\n") {
			t.Errorf("postfix EHLO %s: exit %d, want 24 (RCPT refused) with %q\n%s", c.name, code, c.reply, out)
		}
	}
}

// checkHeloConfig writes a configuration for check-helo that uses dnsAddr
// as its only resolver, with helo as its [helo] table.
func checkHeloConfig(t *testing.T, dnsAddr, helo string) string {
	t.Helper()
	o := opts{mx: e2etest.FreeAddr(t, "127.0.0.1"), downstream: "smtp://127.0.0.1:1", dns: dnsAddr, extra: helo}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(o.toml()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkHeloReport mirrors the JSON of `gateway check-helo -json`.
type checkHeloReport struct {
	HELO      string   `json:"helo"`
	Verb      string   `json:"verb"`
	ClientIP  string   `json:"client_ip"`
	Profile   string   `json:"profile"`
	Stage     string   `json:"stage"`
	Exempt    string   `json:"exempt"`
	Action    string   `json:"action"`
	Accepted  bool     `json:"accepted"`
	Decisive  string   `json:"decisive"`
	PTR       []string `json:"ptr"`
	IPRev     string   `json:"iprev"`
	IPRevName string   `json:"iprev_name"`
	Checks    []struct {
		Check       string `json:"check"`
		Result      string `json:"result"`
		Action      string `json:"action"`
		Reason      string `json:"reason"`
		Explanation string `json:"explanation"`
		Evidence    string `json:"evidence"`
		Fix         string `json:"fix"`
	} `json:"checks"`
	Replies struct {
		HELO string `json:"helo"`
		Mail string `json:"mail"`
		Rcpt string `json:"rcpt"`
	} `json:"replies"`
	RefusesNothing bool `json:"refuses_nothing"`
	WouldRefuse    []struct {
		Profile string   `json:"profile"`
		Stage   string   `json:"stage"`
		Checks  []string `json:"checks"`
	} `json:"would_refuse"`
}

func (r checkHeloReport) check(name string) (result, reason, evidence, fix string) {
	for _, c := range r.Checks {
		if c.Check == name {
			return c.Result, c.Reason, c.Evidence, c.Fix
		}
	}
	return "", "", "", ""
}

// checkHeloJSON runs check-helo -json and parses its report.
func checkHeloJSON(t *testing.T, config, ip, name string, wantExit int) checkHeloReport {
	t.Helper()
	stdout, stderr, code := e2etest.RunGateway(t, "check-helo", "-config", config, "-ip", ip, "-json", name)
	if code != wantExit {
		t.Errorf("check-helo -ip %s %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", ip, name, code, wantExit, stdout, stderr)
	}
	var rep checkHeloReport
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("check-helo -json output does not parse: %v\n%s", err, stdout)
	}
	if len(rep.Checks) != 15 {
		t.Errorf("check-helo -json: %d checks, want 15", len(rep.Checks))
	}
	return rep
}

func TestCheckHeloText(t *testing.T) {
	d := dnstest.Start(t)
	heloZone(d)
	cfg := checkHeloConfig(t, d.Addr(), "")

	stdout, stderr, code := e2etest.RunGateway(t, "check-helo", "-config", cfg, "-ip", ipNoPTR, "mon-serveur")
	if code != 1 {
		t.Errorf("mon-serveur: exit %d, want 1 (refused)\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"HELO:     mon-serveur\n",
		"client:   127.0.0.3 (PTR -; iprev fail)\n",
		"profile:  cpanel, refusing at MAIL\n",
		"verdict:  reject (decided by fqdn)\n",
		"replies:\n" +
			"  EHLO  250 " + gwHost + "\n" +
			"  MAIL  550-" + explFQDN("mon-serveur") + "\n" +
			"        550 5.7.1 " + cpanelText + "\n" +
			"  RCPT  (not reached: refused earlier)\n",
		"to fix:\n  fqdn (reject): HELO 'mon-serveur' is not a fully-qualified domain name; use your server's public hostname (e.g. mail.example.com) or authenticate\n",
		"  rdns (tag): your address 127.0.0.3 has no PTR record (reverse DNS); ask the owner of the address",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("mon-serveur: output lacks %q:\n%s", want, stdout)
		}
	}
	for _, re := range []string{
		`(?m)^CHECK\s+RESULT\s+ACTION\s+REASON\s+EVIDENCE$`,
		`(?m)^fqdn\s+fail\s+reject\s+single_label\s+HELO 'mon-serveur': one label$`,
		`(?m)^rdns\s+fail\s+tag\s+no_ptr\s+PTR 127\.0\.0\.3: not found$`,
		`(?m)^forward_dns\s+skipped\s+off\s+single_label\s+-$`,
		`(?m)^self\s+pass\s+accept\s+-\s+-$`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("mon-serveur: output does not match %s:\n%s", re, stdout)
		}
	}

	stdout, stderr, code = e2etest.RunGateway(t, "check-helo", "-config", cfg, "-ip", ipGood, clientHELO)
	if code != 0 {
		t.Errorf("%s: exit %d, want 0\n%s%s", clientHELO, code, stdout, stderr)
	}
	for _, want := range []string{
		"client:   127.0.0.2 (PTR mail.sender-e2e.net; iprev pass)\n",
		"verdict:  accept\n",
		"  MAIL  250 2.1.0 Ok\n",
		"  RCPT  250 2.1.5 Ok\n",
		"nothing to fix.\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("%s: output lacks %q:\n%s", clientHELO, want, stdout)
		}
	}
	for _, re := range []string{
		`(?m)^fcrdns\s+pass\s+accept\s+-\s+PTR 127\.0\.0\.2 -> mail\.sender-e2e\.net; A/AAAA mail\.sender-e2e\.net -> 127\.0\.0\.2$`,
		`(?m)^forward_match\s+pass\s+accept\s+-\s+A/AAAA mail\.sender-e2e\.net -> 127\.0\.0\.2; client 127\.0\.0\.2$`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("%s: output does not match %s:\n%s", clientHELO, re, stdout)
		}
	}

	// Without -ip, the name's first address stands for the client.
	stdout, stderr, code = e2etest.RunGateway(t, "check-helo", "-config", cfg, clientHELO)
	if code != 0 || !strings.Contains(stderr, "taking 127.0.0.2") || !strings.Contains(stdout, "client:   127.0.0.2 ") {
		t.Errorf("no -ip: exit %d\n%s%s", code, stdout, stderr)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"check-helo", "-config", cfg},
		{"check-helo", "-config", cfg, "-ip", "not-an-ip", clientHELO},
		{"check-helo", "-config", cfg, "fakedomain.xyz"}, // no address to take
		{"check-helo", "-config", filepath.Join(t.TempDir(), "missing.toml"), clientHELO},
	} {
		if _, stderr, code := e2etest.RunGateway(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}

func TestCheckHeloJSON(t *testing.T) {
	d := dnstest.Start(t)
	heloZone(d)
	// The seed article's provider default: a PTR that embeds the address.
	const provIP, provPTR, provHELO = "185.10.20.30", "static.185.10.20.30.provider.com", "mail.shop-e2e.net"
	d.AddPTR(provIP, provPTR)
	d.AddA(provPTR, provIP)
	d.AddA(provHELO, provIP)
	d.Fail("5.0.0.127.in-addr.arpa", dns.RcodeServerFailure)

	postfix := checkHeloConfig(t, d.Addr(), "[helo]\nprofile = \"postfix\"\n")
	rep := checkHeloJSON(t, postfix, ipNoPTR, heloNoPTR, 1)
	if rep.Profile != "postfix" || rep.Stage != "rcpt" || rep.Accepted || rep.Action != "tempfail" || rep.Decisive != "rdns" || rep.IPRev != "fail" {
		t.Errorf("postfix report: %+v", rep)
	}
	if rep.Replies.HELO != "250 "+gwHost || rep.Replies.Mail != "250 2.1.0 Ok" ||
		rep.Replies.Rcpt != "450-"+explNoPTR(ipNoPTR, "rdns")+"\n450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.3]" {
		t.Errorf("postfix replies: %+v", rep.Replies)
	}
	if res, reason, ev, fix := rep.check("rdns"); res != "fail" || reason != "no_ptr" || ev != "PTR 127.0.0.3: not found" || !strings.Contains(fix, "PTR record") {
		t.Errorf("rdns: %s %s %q %q", res, reason, ev, fix)
	}
	if res, _, ev, _ := rep.check("forward_match"); res != "pass" || ev != "A/AAAA mail3.sender-e2e.net -> 127.0.0.3; client 127.0.0.3" {
		t.Errorf("forward_match: %s %q", res, ev)
	}

	cpanel := checkHeloConfig(t, d.Addr(), "")
	strict := checkHeloConfig(t, d.Addr(), "[helo]\nprofile = \"strict\"\n")
	rep = checkHeloJSON(t, cpanel, provIP, provHELO, 0)
	if !rep.Accepted || rep.Action != "tag" || rep.IPRev != "pass" || rep.IPRevName != provPTR || !equalStrings(rep.PTR, []string{provPTR}) {
		t.Errorf("provider PTR under cpanel: %+v", rep)
	}
	if res, reason, ev, fix := rep.check("generic"); res != "fail" || reason != "generic_ptr" ||
		ev != "PTR 185.10.20.30 -> static.185.10.20.30.provider.com: it embeds the address" || !strings.Contains(fix, "PTR record under your own domain") {
		t.Errorf("generic: %s %s %q %q", res, reason, ev, fix)
	}
	rep = checkHeloJSON(t, strict, provIP, provHELO, 1)
	if rep.Accepted || rep.Action != "reject" || !strings.HasSuffix(rep.Replies.Mail, "\n550 5.7.1 "+cpanelText) || rep.Replies.Rcpt != "(not reached: refused earlier)" {
		t.Errorf("provider PTR under strict: %+v", rep)
	}

	// DNS trouble: a 4xx at most, and the report says which lookup failed.
	rep = checkHeloJSON(t, strict, ipTrouble, heloTrbl, 1)
	if rep.Action != "tempfail" || rep.Replies.Mail != "451-DNS lookup of PTR 127.0.0.5 failed temporarily (servfail); try again later; if it persists, make sure the name's DNS servers answer (check: rdns)\n451 4.4.3 "+eximTemp {
		t.Errorf("servfail under strict: action %s, MAIL reply %q", rep.Action, rep.Replies.Mail)
	}
	if res, reason, ev, _ := rep.check("rdns"); res != "temperror" || reason != "servfail" || ev != "PTR 127.0.0.5: servfail" {
		t.Errorf("rdns on SERVFAIL: %s %s %q", res, reason, ev)
	}
	rep = checkHeloJSON(t, cpanel, ipTrouble, heloTrbl, 0)
	if !rep.Accepted {
		t.Errorf("servfail under cpanel must be accepted (tagged): %+v", rep)
	}

	// -auth: the exemption the seed articles recommend.
	stdout, _, code := e2etest.RunGateway(t, "check-helo", "-config", strict, "-ip", ipNoPTR, "-auth", "-json", "DESKTOP-4F2K1")
	if code != 0 || !strings.Contains(stdout, `"exempt": "authenticated"`) {
		t.Errorf("-auth: exit %d\n%s", code, stdout)
	}
}

// check-helo and the server agree: for each client, the reply check-helo
// predicts at the policy's stage is the one a real session reads.
func TestCheckHeloAgreesWithServer(t *testing.T) {
	for _, prof := range []string{"cpanel", "postfix", "strict"} {
		t.Run(prof, func(t *testing.T) {
			e := heloSetup(t, "[helo]\nprofile = \""+prof+"\"\n", opts{})
			for _, c := range []struct{ ip, name string }{
				{ipGood, clientHELO}, {ipNoPTR, heloNoPTR}, {ipMismatch, heloHost4}, {ipGeneric, ptrGen},
				{ipNoPTR, "mon-serveur"}, {ipGood, "localhost"}, {ipGood, "127.0.0.1"}, {ipGood, "[192.168.1.1]"},
				{ipGood, "server1.local"}, {ipGood, "fakedomain.xyz"}, {ipNoPTR, "[127.0.0.3]"},
			} {
				for _, verb := range []string{"EHLO", "HELO"} {
					args := []string{"check-helo", "-config", e.gw.ConfigPath(), "-ip", c.ip, "-json"}
					if verb == "HELO" {
						args = append(args, "-helo")
					}
					stdout, stderr, code := e2etest.RunGateway(t, append(args, c.name)...)
					var rep checkHeloReport
					if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
						t.Fatalf("%s from %s: %v\n%s%s", c.name, c.ip, err, stdout, stderr)
					}
					if rep.Verb != verb {
						t.Errorf("%s: report verb %q, want %q", c.name, rep.Verb, verb)
					}
					conv := heloTalk(t, e.mx, c.ip, verb, c.name)
					stage, reply := conv.refusal()
					predicted := map[string]string{"helo": rep.Replies.HELO, "mail": rep.Replies.Mail, "rcpt": rep.Replies.Rcpt}
					switch {
					case rep.Accepted != (stage == "") || rep.Accepted != (code == 0):
						t.Errorf("%s %s from %s: check-helo accepted=%v exit %d, server refused at %q", verb, c.name, c.ip, rep.Accepted, code, stage)
					case stage != "" && (stage != rep.Stage || predicted[stage] != reply):
						t.Errorf("%s %s from %s: check-helo predicts at %s\n%s\nserver said at %s\n%s", verb, c.name, c.ip, rep.Stage, predicted[rep.Stage], stage, reply)
					}
				}
			}
		})
	}
}

// required: MAIL before any HELO/EHLO gets the profile's reply for the
// check (sent by the listener guard, without enhanced code: the client
// never said EHLO); under monitor, where the check only tags, go-smtp's own
// 502 stays (it cannot run a transaction without a greeting). A greeting
// without a name is go-smtp's 501 under every profile.
func TestHELORequiredByProfile(t *testing.T) {
	for _, tc := range []struct{ profile, want string }{
		{"cpanel", "550-no HELO/EHLO was sent; send EHLO with your server's public hostname (e.g. mail.example.com) first (check: required)\n550 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"},
		{"postfix", "503-no HELO/EHLO was sent; send EHLO with your server's public hostname (e.g. mail.example.com) first (check: required)\n503 Error: send HELO/EHLO first"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			e := heloSetup(t, "[helo]\nprofile = \""+tc.profile+"\"\n", opts{})
			r := e2etest.DialRaw(t, e.mx, ipGood)
			if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); wire(rep) != tc.want {
				t.Errorf("MAIL before EHLO:\n got %q\nwant %q", wire(rep), tc.want)
			}
			e.gw.WaitLog(t, "check=required", 5*time.Second)
			if rep := r.Cmd(t, "EHLO "+clientHELO); rep.Code != 250 {
				t.Errorf("EHLO: %q", wire(rep))
			}
			if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
				t.Errorf("MAIL after EHLO: %q", wire(rep))
			}
		})
	}
}

func TestHELORequired(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"monitor\"\n", opts{})
	r := e2etest.DialRaw(t, e.mx, ipGood)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); wire(rep) != "502 5.5.1 Please introduce yourself first." {
		t.Errorf("MAIL before EHLO: %q", wire(rep))
	}
	if rep := r.Cmd(t, "EHLO"); wire(rep) != "501 5.5.2 Domain/address argument required for HELO" {
		t.Errorf("EHLO without a name: %q", wire(rep))
	}
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 502 {
		t.Errorf("MAIL after an empty EHLO: %q", wire(rep))
	}
	if rep := r.Cmd(t, "EHLO "+clientHELO); rep.Code != 250 {
		t.Errorf("EHLO: %q", wire(rep))
	}
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
		t.Errorf("MAIL after EHLO: %q", wire(rep))
	}
}

// The headers of exempt and monitored clients say why they passed.
func TestHELOTagHeadersExempt(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"monitor\"\ntrusted_networks = [\""+ipTrusted+"/32\"]\nallow_clients = [\""+ipAllowed+"/32\"]\n", opts{})
	for i, c := range []struct{ ip, helo, want string }{
		{ipTrusted, "localhost", heloCheckValue("localhost", ipTrusted, map[string]string{
			"fqdn": "fail", "reserved": "fail", "forward_dns": "skipped", "forward_match": "skipped",
			"rdns": "fail", "fcrdns": "fail", "rdns_match": "fail"}, "action=accept; exempt=trusted")},
		{ipAllowed, "localhost", heloCheckValue("localhost", ipAllowed, map[string]string{
			"required": "skipped", "syntax": "skipped", "fqdn": "skipped", "bare_ip": "skipped", "literal": "skipped",
			"reserved": "skipped", "self": "skipped", "forward_dns": "skipped", "forward_match": "skipped", "rdns": "skipped",
			"fcrdns": "skipped", "rdns_match": "skipped", "generic": "skipped", "big_company": "skipped", "changed": "skipped"},
			"action=accept; exempt=allow_clients")},
		{ipNoPTR, "mon-serveur", heloCheckValue("mon-serveur", ipNoPTR, map[string]string{
			"fqdn": "fail", "forward_dns": "skipped", "forward_match": "skipped",
			"rdns": "fail", "fcrdns": "fail", "rdns_match": "fail"}, "action=tag")},
	} {
		subject := fmt.Sprintf("Subject: exempt %d", i)
		out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", c.ip, "--ehlo", c.helo,
			"--from", sender, "--to", "bob@example.com", "--header", subject)
		if code != 0 {
			t.Fatalf("swaks from %s: exit %d\n%s", c.ip, code, out)
		}
		msgs := e.postfix.WaitMessages(t, i+1, 20*time.Second)
		for _, m := range msgs {
			if !strings.Contains(string(m.Raw), "\n"+subject+"\n") {
				continue
			}
			if got := headerValues(m.Raw, "X-HELO-Check"); !equalStrings(got, []string{c.want}) {
				t.Errorf("from %s: X-HELO-Check %q\nwant %q", c.ip, got, c.want)
			}
		}
	}
}

// Each session looks each name up once, and the resolver's cache serves
// the next session.
func TestHELODNSLookupsOnce(t *testing.T) {
	e := heloSetup(t, "[helo]\nprofile = \"strict\"\n", opts{})
	e.dns.SetTTL(5 * time.Minute)
	for i := 0; i < 2; i++ {
		if c := heloTalk(t, e.mx, ipGood, "EHLO", clientHELO); c.Rcpt.Code != 250 {
			t.Fatalf("session %d: %+v", i, c)
		}
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{clientHELO, dns.TypeA}, {clientHELO, dns.TypeAAAA}, {"2.0.0.127.in-addr.arpa", dns.TypePTR}} {
			if n := e.dns.Queries(q.name, q.qtype); n != 1 {
				t.Errorf("after session %d: %d %s queries for %s, want 1", i+1, n, dns.TypeToString[q.qtype], q.name)
			}
		}
	}
}

// IPv6: a client on ::1 with an IPv6 literal of its own address, and one
// with a forward-confirmed PTR; iprev quotes the address (RFC 8601).
func TestHELOIPv6(t *testing.T) {
	e2etest.Require(t, "postfix", "swaks")
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	e := heloSetup(t, "[helo]\n[helo.checks]\nfcrdns = \"reject\"\n", opts{mx: e2etest.FreeAddr(t, "::1")}, func(d *dnstest.Server) {
		d.AddPTR("::1", "mail6.sender-e2e.net")
		d.AddA("mail6.sender-e2e.net", "::1")
	})
	runHELOCases(t, e, []heloCase{
		{ip: "::1", verb: "EHLO", name: "[IPv6:::1]"},
		{ip: "::1", verb: "EHLO", name: "[IPv6:2001:db8::1]", stage: "mail", reply: cpanel550(explLiteral("[IPv6:2001:db8::1]", "::1"), true)},
		{ip: "::1", verb: "EHLO", name: "::1", stage: "mail", reply: cpanel550(explBareIP("::1"), true)},
		{ip: "::1", verb: "EHLO", name: "[::1]", stage: "mail", reply: cpanel550(explSyntax("[::1]", "a malformed address literal; the forms are [192.0.2.1] and [IPv6:2001:db8::1]"), true)},
	})
	out, code := e2etest.Swaks(t, "--server", e.mx, "--local-interface", "::1", "--ehlo", "mail6.sender-e2e.net",
		"--from", sender, "--to", "bob@example.com")
	if code != 0 {
		t.Fatalf("swaks from ::1: exit %d\n%s", code, out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	if got, want := headerValues(msgs[0].Raw, "Authentication-Results"), []string{gwHost + `; iprev=pass policy.iprev="::1" (mail6.sender-e2e.net)`}; !equalStrings(got, want) {
		t.Errorf("Authentication-Results %q, want %q", got, want)
	}
}

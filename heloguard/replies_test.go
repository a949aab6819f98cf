package heloguard

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/reply"
)

// The exact refusal of each profile, compatible text on the last line.
func TestRefusals(t *testing.T) {
	const cpanelText = "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"
	tests := []struct {
		name    string
		profile string
		checks  map[string]Action
		helo    string
		ip      string
		unsent  bool
		want    reply.Reply
	}{
		{name: "cpanel fqdn", profile: ProfileCPanel, helo: "python-email-server", ip: "203.0.113.50",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: cpanelText, Check: CheckFQDN, Evidence: "HELO 'python-email-server': one label"}},
		{name: "cpanel bare IP", profile: ProfileCPanel, helo: "192.0.2.50", ip: "203.0.113.50",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: cpanelText, Check: CheckBareIP, Evidence: "HELO '192.0.2.50': IP address without brackets"}},
		{name: "cpanel literal", profile: ProfileCPanel, helo: "[192.168.1.1]", ip: "203.0.113.50",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: cpanelText, Check: CheckLiteral, Evidence: "HELO '[192.168.1.1]'; client 203.0.113.50"}},
		{name: "cpanel tempfail", profile: ProfileCPanel, checks: map[string]Action{CheckFQDN: ActionTempfail}, helo: "mailserver", ip: "203.0.113.50",
			want: reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}, Text: cpanelText, Check: CheckFQDN, Evidence: "HELO 'mailserver': one label"}},
		{name: "cpanel DNS temperror", profile: ProfileCPanel, checks: map[string]Action{CheckRDNS: ActionReject}, helo: "mail.sender-lab.net", ip: "192.0.2.66",
			want: reply.Reply{Code: 451, Enhanced: [3]int{4, 4, 3}, Text: "Temporary local problem - please try later", Check: CheckRDNS, Evidence: "PTR 192.0.2.66: servfail"}},
		{name: "strict forward_match", profile: ProfileStrict, helo: "mail.sender-lab.net", ip: "203.0.113.50",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: cpanelText, Check: CheckForwardMatch, Evidence: "A/AAAA mail.sender-lab.net -> 192.0.2.7; client 203.0.113.50"}},

		{name: "postfix syntax", profile: ProfilePostfix, helo: "a_b.example.net", ip: "203.0.113.50",
			want: reply.Reply{Code: 501, Enhanced: [3]int{5, 5, 2}, Text: "<a_b.example.net>: Helo command rejected: Invalid name", Check: CheckSyntax, Evidence: "HELO 'a_b.example.net': underscore"}},
		{name: "postfix bare IP", profile: ProfilePostfix, helo: "192.0.2.50", ip: "203.0.113.50",
			want: reply.Reply{Code: 501, Enhanced: [3]int{5, 5, 2}, Text: "<192.0.2.50>: Helo command rejected: Invalid name", Check: CheckBareIP, Evidence: "HELO '192.0.2.50': IP address without brackets"}},
		{name: "postfix fqdn, name as sent", profile: ProfilePostfix, helo: "DESKTOP-4F2K1", ip: "203.0.113.50",
			want: reply.Reply{Code: 504, Enhanced: [3]int{5, 5, 2}, Text: "<DESKTOP-4F2K1>: Helo command rejected: need fully-qualified hostname", Check: CheckFQDN, Evidence: "HELO 'DESKTOP-4F2K1': one label"}},
		{name: "postfix host not found (tempfail)", profile: ProfilePostfix, helo: "fakedomain.xyz", ip: "192.0.2.7",
			want: reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}, Text: "<fakedomain.xyz>: Helo command rejected: Host not found", Check: CheckForwardDNS, Evidence: "A/AAAA fakedomain.xyz: not found; MX fakedomain.xyz: not found"}},
		{name: "postfix host not found (reject)", profile: ProfilePostfix, checks: map[string]Action{CheckForwardDNS: ActionReject}, helo: "fakedomain.xyz", ip: "192.0.2.7",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "<fakedomain.xyz>: Helo command rejected: Host not found", Check: CheckForwardDNS, Evidence: "A/AAAA fakedomain.xyz: not found; MX fakedomain.xyz: not found"}},
		{name: "postfix reverse hostname", profile: ProfilePostfix, helo: "mail.sender-lab.net", ip: "203.0.113.50",
			want: reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}, Text: "Client host rejected: cannot find your reverse hostname, [203.0.113.50]", Check: CheckRDNS, Evidence: "PTR 203.0.113.50: not found"}},
		{name: "postfix reverse hostname (reject)", profile: ProfilePostfix, checks: map[string]Action{CheckRDNS: ActionReject}, helo: "mail.sender-lab.net", ip: "203.0.113.50",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Client host rejected: cannot find your reverse hostname, [203.0.113.50]", Check: CheckRDNS, Evidence: "PTR 203.0.113.50: not found"}},
		{name: "postfix hostname (fcrdns tempfail)", profile: ProfilePostfix, checks: map[string]Action{CheckFCrDNS: ActionTempfail}, helo: "mail.sender-lab.net", ip: "192.0.2.20",
			want: reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 25}, Text: "Client host rejected: cannot find your hostname, [192.0.2.20]", Check: CheckFCrDNS, Evidence: "PTR 192.0.2.20 -> unconfirmed.sender-lab.net; A/AAAA unconfirmed.sender-lab.net -> 192.0.2.21"}},
		{name: "postfix hostname (fcrdns reject)", profile: ProfilePostfix, checks: map[string]Action{CheckFCrDNS: ActionReject}, helo: "mail.sender-lab.net", ip: "192.0.2.20",
			want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 25}, Text: "Client host rejected: cannot find your hostname, [192.0.2.20]", Check: CheckFCrDNS, Evidence: "PTR 192.0.2.20 -> unconfirmed.sender-lab.net; A/AAAA unconfirmed.sender-lab.net -> 192.0.2.21"}},
		{name: "postfix reserved", profile: ProfilePostfix, helo: "server1.local", ip: "203.0.113.50",
			want: reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "<server1.local>: Helo command rejected: Access denied", Check: CheckReserved, Evidence: "HELO 'server1.local': under reserved .local"}},
		{name: "postfix self", profile: ProfilePostfix, helo: ourHost, ip: "203.0.113.50",
			want: reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "<" + ourHost + ">: Helo command rejected: Access denied", Check: CheckSelf, Evidence: "HELO '" + ourHost + "': our hostname"}},
		{name: "postfix required", profile: ProfilePostfix, unsent: true, ip: "203.0.113.50",
			want: reply.Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Text: "Error: send HELO/EHLO first", Check: CheckRequired, Evidence: "no HELO/EHLO"}},
		{name: "postfix DNS temperror", profile: ProfilePostfix, helo: "servfail.sender-lab.net", ip: "192.0.2.7",
			want: reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}, Text: "<servfail.sender-lab.net>: Helo command rejected: Host not found", Check: CheckForwardDNS, Evidence: "A/AAAA servfail.sender-lab.net: servfail"}},
		{name: "postfix generic when rejected", profile: ProfilePostfix, checks: map[string]Action{CheckGeneric: ActionReject}, helo: "mail.provider.com", ip: "185.10.20.30",
			want: reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "<mail.provider.com>: Helo command rejected: Access denied", Check: CheckGeneric, Evidence: "PTR 185.10.20.30 -> static.185.10.20.30.provider.com: it embeds the address"}},
		{name: "postfix echoes a control byte as ?", profile: ProfilePostfix, helo: "a\x01b", ip: "203.0.113.50",
			want: reply.Reply{Code: 501, Enhanced: [3]int{5, 5, 2}, Text: "<a?b>: Helo command rejected: Invalid name", Check: CheckSyntax, Evidence: "HELO 'a?b': control"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, Config{Profile: tc.profile, Checks: tc.checks})
			c := Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: !tc.unsent, EHLO: true}
			v := p.Evaluate(context.Background(), c, newFake(testZone()))
			if v.Refusal == nil {
				t.Fatalf("no refusal; action %s, failed %v", v.Action, failedChecks(v))
			}
			if *v.Refusal != tc.want {
				t.Errorf("refusal\n got %+v\nwant %+v", *v.Refusal, tc.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		name     string
		explain  bool
		profile  string
		helo     string
		wantText string
	}{
		{name: "cpanel with explanation", explain: true, profile: ProfileCPanel, helo: "python-email-server",
			wantText: "HELO 'python-email-server' is not a fully-qualified domain name; use your server's public hostname (e.g. mail.example.com) or authenticate (check: fqdn)\n" +
				"Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"},
		{name: "cpanel without", explain: false, profile: ProfileCPanel, helo: "python-email-server",
			wantText: "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"},
		{name: "postfix with explanation", explain: true, profile: ProfilePostfix, helo: "localhost.localdomain",
			wantText: "HELO 'localhost.localdomain' is a name for the local machine; use your server's public hostname in a domain you own, or authenticate (check: reserved)\n" +
				"<localhost.localdomain>: Helo command rejected: Access denied"},
		{name: "a hostile name is cut and made printable", explain: true, profile: ProfileCPanel, helo: "a\r\nb" + strings.Repeat("x", 100),
			wantText: "HELO 'a??b" + strings.Repeat("x", 60) + "...' is not a valid host name (it contains a control character); use your server's public hostname (e.g. mail.example.com) or authenticate (check: syntax)\n" +
				"Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, Config{Profile: tc.profile, Explain: tc.explain})
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: tc.helo, Sent: true, EHLO: true}, nil)
			if v.Refusal == nil {
				t.Fatalf("no refusal (action %s)", v.Action)
			}
			if v.Refusal.Text != tc.wantText {
				t.Errorf("text\n got %q\nwant %q", v.Refusal.Text, tc.wantText)
			}
			for _, line := range strings.Split(v.Refusal.Text, "\n") {
				for i := 0; i < len(line); i++ {
					if line[i] < 0x20 || line[i] >= 0x7f {
						t.Fatalf("line %q has byte %#x", line, line[i])
					}
				}
				if len(line) > 400 {
					t.Errorf("line of %d bytes", len(line))
				}
			}
		})
	}
}

// A temporary DNS failure never produces a 5xx: every profile, every
// check set to each action, a resolver that fails every query.
func TestTempErrorNever5xx(t *testing.T) {
	dnsChecks := []string{CheckForwardDNS, CheckForwardMatch, CheckRDNS, CheckFCrDNS, CheckRDNSMatch, CheckGeneric, CheckBigCompany}
	clients := []Client{
		{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true, EHLO: true},
		{IP: netip.MustParseAddr("192.0.2.7"), HELO: "gmail.com", Sent: true, EHLO: true},
		{IP: netip.MustParseAddr("2001:db8::7"), HELO: "[IPv6:2001:db8::7]", Sent: true, EHLO: true},
	}
	for _, prof := range []string{ProfileCPanel, ProfilePostfix, ProfileStrict, ProfileMonitor} {
		for _, check := range dnsChecks {
			for _, action := range []Action{ActionReject, ActionTempfail, ActionTag} {
				t.Run(prof+"/"+check+"/"+string(action), func(t *testing.T) {
					p := mustPolicy(t, Config{Profile: prof, Explain: true, Checks: map[string]Action{check: action}})
					f := newFake(nil)
					f.all = answerServfail
					for _, c := range clients {
						v := p.Evaluate(context.Background(), c, f)
						// big_company passes, without DNS, a name that claims no provider.
						if r := result(v, check); r.Result == Fail || r.Result == Pass && !(check == CheckBigCompany && c.HELO != "gmail.com") {
							t.Errorf("%s: %s = %s with every query failing", c.HELO, check, r.Result)
						}
						if v.Decisive != nil && v.Decisive.Result == TempError {
							if v.Refusal != nil && v.Refusal.Code >= 500 {
								t.Errorf("%s: temperror of %s gave %s", c.HELO, v.Decisive.Check, v.Refusal)
							}
							if v.Action == ActionReject {
								t.Errorf("%s: temperror of %s decided reject", c.HELO, v.Decisive.Check)
							}
						}
					}
				})
			}
		}
	}
}

package heloguard

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// Each check's pass and fail, with every check on (strict profile) and the
// shared test zone.
func TestChecks(t *testing.T) {
	const good, goodIP = "mail.sender-lab.net", "192.0.2.7"
	tests := []struct {
		name   string
		check  string
		helo   string
		ip     string
		unsent bool
		prev   string
		want   Result
		reason string
	}{
		{name: "required: sent", check: CheckRequired, helo: good, ip: goodIP, want: Pass},
		{name: "required: not sent", check: CheckRequired, unsent: true, ip: goodIP, want: Fail, reason: "missing"},
		{name: "required: empty", check: CheckRequired, helo: "", ip: goodIP, want: Fail, reason: "empty"},

		{name: "syntax: domain", check: CheckSyntax, helo: good, ip: goodIP, want: Pass},
		{name: "syntax: trailing dot tolerated", check: CheckSyntax, helo: good + ".", ip: goodIP, want: Pass},
		{name: "syntax: two trailing dots", check: CheckSyntax, helo: good + "..", ip: goodIP, want: Fail, reason: problemEmptyLabel},
		{name: "syntax: literal", check: CheckSyntax, helo: "[192.0.2.7]", ip: goodIP, want: Pass},
		{name: "syntax: bare IP is bare_ip's", check: CheckSyntax, helo: "192.0.2.7", ip: goodIP, want: Pass},
		{name: "syntax: underscore", check: CheckSyntax, helo: "a_b.sender-lab.net", ip: goodIP, want: Fail, reason: problemUnderscore},
		{name: "syntax: trailing hyphen", check: CheckSyntax, helo: "a-.sender-lab.net", ip: goodIP, want: Fail, reason: problemHyphen},
		{name: "syntax: space", check: CheckSyntax, helo: "my host", ip: goodIP, want: Fail, reason: problemSpace},
		{name: "syntax: control", check: CheckSyntax, helo: "a\rb.net", ip: goodIP, want: Fail, reason: problemControl},
		{name: "syntax: label of 64", check: CheckSyntax, helo: strings.Repeat("a", 64) + ".net", ip: goodIP, want: Fail, reason: problemLabelTooLong},
		{name: "syntax: unknown literal tag", check: CheckSyntax, helo: "[x400:foo]", ip: goodIP, want: Fail, reason: problemBadLiteral},
		{name: "syntax: not sent", check: CheckSyntax, unsent: true, ip: goodIP, want: Skipped, reason: reasonNoHELO},

		{name: "fqdn: two labels", check: CheckFQDN, helo: "sender-lab.net", ip: goodIP, want: Pass},
		{name: "fqdn: one label", check: CheckFQDN, helo: "mailserver", ip: goodIP, want: Fail, reason: "single_label"},
		{name: "fqdn: numeric last label", check: CheckFQDN, helo: "mail.123", ip: goodIP, want: Fail, reason: "numeric_tld"},
		{name: "fqdn: literal is not a name", check: CheckFQDN, helo: "[192.0.2.7]", ip: goodIP, want: Skipped, reason: reasonAddress},
		{name: "fqdn: bad syntax", check: CheckFQDN, helo: "a_b", ip: goodIP, want: Skipped, reason: reasonBadSyntax},

		{name: "bare_ip: name", check: CheckBareIP, helo: good, ip: goodIP, want: Pass},
		{name: "bare_ip: IPv4", check: CheckBareIP, helo: "192.0.2.7", ip: goodIP, want: Fail, reason: "bare_ip"},
		{name: "bare_ip: IPv6", check: CheckBareIP, helo: "2001:db8::7", ip: goodIP, want: Fail, reason: "bare_ip"},
		{name: "bare_ip: literal", check: CheckBareIP, helo: "[192.0.2.7]", ip: goodIP, want: Pass},

		{name: "literal: own address", check: CheckLiteral, helo: "[192.0.2.7]", ip: goodIP, want: Pass},
		{name: "literal: own IPv6 address, tag in lower case", check: CheckLiteral, helo: "[ipv6:2001:DB8::7]", ip: "2001:db8::7", want: Pass},
		{name: "literal: own address from a mapped client", check: CheckLiteral, helo: "[192.0.2.7]", ip: "::ffff:192.0.2.7", want: Pass},
		{name: "literal: another address", check: CheckLiteral, helo: "[192.168.1.1]", ip: goodIP, want: Fail, reason: "literal_mismatch"},
		{name: "literal: not a literal", check: CheckLiteral, helo: good, ip: goodIP, want: Pass},

		{name: "reserved: public name", check: CheckReserved, helo: good, ip: goodIP, want: Pass},
		{name: "reserved: localhost", check: CheckReserved, helo: "LOCALHOST", ip: goodIP, want: Fail, reason: "localhost"},
		{name: "reserved: .lan", check: CheckReserved, helo: "nas.lan", ip: goodIP, want: Fail, reason: "reserved"},
		{name: "reserved: home.arpa", check: CheckReserved, helo: "printer.home.arpa", ip: goodIP, want: Fail, reason: "reserved"},
		{name: "reserved: .test", check: CheckReserved, helo: "mail.test", ip: goodIP, want: Fail, reason: "reserved"},
		{name: "reserved: .invalid", check: CheckReserved, helo: "x.invalid", ip: goodIP, want: Fail, reason: "reserved"},
		{name: "reserved: example.org", check: CheckReserved, helo: "example.org", ip: goodIP, want: Fail, reason: "reserved"},
		{name: "reserved: a name ending like a reserved one", check: CheckReserved, helo: "mail.notexample.com", ip: goodIP, want: Pass},

		{name: "self: another name", check: CheckSelf, helo: good, ip: goodIP, want: Pass},
		{name: "self: our hostname", check: CheckSelf, helo: strings.ToUpper(ourHost), ip: goodIP, want: Fail, reason: "our_hostname"},
		{name: "self: our domain", check: CheckSelf, helo: ourDomain + ".", ip: goodIP, want: Fail, reason: "our_domain"},
		{name: "self: a name under our domain", check: CheckSelf, helo: "office." + ourDomain, ip: goodIP, want: Pass},
		{name: "self: our address literal", check: CheckSelf, helo: "[" + ourIP.String() + "]", ip: goodIP, want: Fail, reason: "our_address"},
		{name: "self: our hostname from loopback", check: CheckSelf, helo: ourHost, ip: "127.0.0.1", want: Fail, reason: "our_hostname"},
		{name: "self: our hostname from our own address", check: CheckSelf, helo: ourHost, ip: ourIP.String(), want: Pass},

		{name: "forward_dns: A record", check: CheckForwardDNS, helo: good, ip: goodIP, want: Pass},
		{name: "forward_dns: MX only", check: CheckForwardDNS, helo: "mx-only.sender-lab.net", ip: goodIP, want: Pass},
		{name: "forward_dns: nothing", check: CheckForwardDNS, helo: "fakedomain.xyz", ip: goodIP, want: Fail, reason: "nxdomain"},
		{name: "forward_dns: servfail", check: CheckForwardDNS, helo: "servfail.sender-lab.net", ip: goodIP, want: TempError, reason: reasonServfail},
		{name: "forward_dns: single label", check: CheckForwardDNS, helo: "mailserver", ip: goodIP, want: Skipped, reason: reasonNotFQDN},

		{name: "forward_match: match", check: CheckForwardMatch, helo: good, ip: goodIP, want: Pass},
		{name: "forward_match: another machine's name", check: CheckForwardMatch, helo: "other.sender-lab.net", ip: goodIP, want: Fail, reason: "addr_mismatch"},
		{name: "forward_match: no address", check: CheckForwardMatch, helo: "mx-only.sender-lab.net", ip: goodIP, want: Fail, reason: "no_address"},
		{name: "forward_match: servfail", check: CheckForwardMatch, helo: "servfail.sender-lab.net", ip: goodIP, want: TempError, reason: reasonServfail},
		{name: "forward_match: literal", check: CheckForwardMatch, helo: "[192.0.2.7]", ip: goodIP, want: Skipped, reason: reasonAddress},

		{name: "rdns: PTR", check: CheckRDNS, helo: good, ip: goodIP, want: Pass},
		{name: "rdns: no PTR", check: CheckRDNS, helo: good, ip: "203.0.113.50", want: Fail, reason: "no_ptr"},
		{name: "rdns: servfail", check: CheckRDNS, helo: good, ip: "192.0.2.66", want: TempError, reason: reasonServfail},

		{name: "fcrdns: confirmed", check: CheckFCrDNS, helo: good, ip: goodIP, want: Pass},
		{name: "fcrdns: PTR does not resolve back", check: CheckFCrDNS, helo: good, ip: "192.0.2.20", want: Fail, reason: "ptr_mismatch"},
		{name: "fcrdns: no PTR", check: CheckFCrDNS, helo: good, ip: "203.0.113.50", want: Fail, reason: "no_ptr"},
		{name: "fcrdns: servfail", check: CheckFCrDNS, helo: good, ip: "192.0.2.66", want: TempError, reason: reasonServfail},

		{name: "rdns_match: HELO is the PTR name", check: CheckRDNSMatch, helo: good, ip: goodIP, want: Pass},
		{name: "rdns_match: same organization", check: CheckRDNSMatch, helo: "other.sender-lab.net", ip: goodIP, want: Pass},
		{name: "rdns_match: another organization", check: CheckRDNSMatch, helo: "mail.elsewhere-lab.org", ip: goodIP, want: Fail, reason: "helo_ptr_mismatch"},
		{name: "rdns_match: no PTR", check: CheckRDNSMatch, helo: good, ip: "203.0.113.50", want: Fail, reason: "no_ptr"},
		{name: "rdns_match: servfail", check: CheckRDNSMatch, helo: good, ip: "192.0.2.66", want: TempError, reason: reasonServfail},

		{name: "generic: a proper name", check: CheckGeneric, helo: good, ip: goodIP, want: Pass},
		{name: "generic: HELO with the address", check: CheckGeneric, helo: "ec2-185-12-34-56.compute.amazonaws.com", ip: "185.12.34.56", want: Fail, reason: "generic_helo"},
		{name: "generic: HELO with a pool word", check: CheckGeneric, helo: "adsl-dyn.isp-lab.net", ip: goodIP, want: Fail, reason: "generic_helo"},
		{name: "generic: PTR with the address", check: CheckGeneric, helo: "mail.provider.com", ip: "185.10.20.30", want: Fail, reason: "generic_ptr"},
		{name: "generic: PTR servfail", check: CheckGeneric, helo: good, ip: "192.0.2.66", want: TempError, reason: reasonServfail},

		{name: "big_company: not a provider's name", check: CheckBigCompany, helo: good, ip: goodIP, want: Pass},
		{name: "big_company: gmail.com from an ISP", check: CheckBigCompany, helo: "gmail.com", ip: "203.0.113.9", want: Fail, reason: "not_provider"},
		{name: "big_company: under gmail.com, no PTR", check: CheckBigCompany, helo: "smtp.gmail.com", ip: "203.0.113.50", want: Fail, reason: "not_provider"},
		{name: "big_company: gmail.com from Google", check: CheckBigCompany, helo: "gmail.com", ip: "209.85.128.44", want: Pass},
		{name: "big_company: servfail", check: CheckBigCompany, helo: "gmail.com", ip: "192.0.2.66", want: TempError, reason: reasonServfail},

		{name: "changed: first HELO", check: CheckChanged, helo: good, ip: goodIP, want: Pass},
		{name: "changed: same name, other case", check: CheckChanged, helo: strings.ToUpper(good), prev: good, ip: goodIP, want: Pass},
		{name: "changed: another name", check: CheckChanged, helo: "other.sender-lab.net", prev: good, ip: goodIP, want: Fail, reason: "changed"},
	}
	p := mustPolicy(t, Config{Profile: ProfileStrict, Explain: true})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: !tc.unsent, EHLO: true, PreviousHELO: tc.prev}
			v := p.Evaluate(context.Background(), c, newFake(testZone()))
			r := result(v, tc.check)
			if r.Result != tc.want || (tc.reason != "" && r.Reason != tc.reason) {
				t.Fatalf("%s = %s (%s), want %s (%s); evidence %q", tc.check, r.Result, r.Reason, tc.want, tc.reason, r.Evidence)
			}
			switch r.Result {
			case Fail:
				if r.Action != ActionReject {
					t.Errorf("action = %s, want reject", r.Action)
				}
				if r.Explanation == "" || r.Fix == "" || !strings.Contains(r.Explanation, r.Fix) {
					t.Errorf("explanation %q lacks fix %q", r.Explanation, r.Fix)
				}
			case TempError:
				if r.Action != ActionTempfail {
					t.Errorf("action = %s, want tempfail", r.Action)
				}
			case Pass:
				if r.Action != ActionAccept {
					t.Errorf("action = %s, want accept", r.Action)
				}
			case Skipped:
				if r.Action != ActionOff {
					t.Errorf("action = %s, want off", r.Action)
				}
			}
		})
	}
}

func TestEvidence(t *testing.T) {
	tests := []struct {
		name  string
		check string
		helo  string
		ip    string
		want  string
	}{
		{name: "fcrdns confirmed", check: CheckFCrDNS, helo: "mail.sender-lab.net", ip: "192.0.2.7",
			want: "PTR 192.0.2.7 -> mail.sender-lab.net; A/AAAA mail.sender-lab.net -> 192.0.2.7"},
		{name: "fcrdns not confirmed", check: CheckFCrDNS, helo: "mail.sender-lab.net", ip: "192.0.2.20",
			want: "PTR 192.0.2.20 -> unconfirmed.sender-lab.net; A/AAAA unconfirmed.sender-lab.net -> 192.0.2.21"},
		{name: "forward_dns nothing", check: CheckForwardDNS, helo: "fakedomain.xyz", ip: "192.0.2.7",
			want: "A/AAAA fakedomain.xyz: not found; MX fakedomain.xyz: not found"},
		{name: "forward_match mismatch", check: CheckForwardMatch, helo: "other.sender-lab.net", ip: "192.0.2.7",
			want: "A/AAAA other.sender-lab.net -> 192.0.2.8; client 192.0.2.7"},
		{name: "generic PTR", check: CheckGeneric, helo: "mail.provider.com", ip: "185.10.20.30",
			want: "PTR 185.10.20.30 -> static.185.10.20.30.provider.com: it embeds the address"},
		{name: "big company", check: CheckBigCompany, helo: "gmail.com", ip: "203.0.113.9",
			want: "HELO 'gmail.com' claims gmail.com; PTR 203.0.113.9 -> host9.isp-lab.net"},
	}
	p := mustPolicy(t, Config{Profile: ProfileMonitor})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: true}, newFake(testZone()))
			if got := result(v, tc.check).Evidence; got != tc.want {
				t.Errorf("evidence\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

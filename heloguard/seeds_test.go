package heloguard

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func mustPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg, testIdentity())
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	return p
}

func result(v Verdict, check string) CheckResult {
	for _, r := range v.Results {
		if r.Check == check {
			return r
		}
	}
	return CheckResult{}
}

func failedChecks(v Verdict) []string {
	var out []string
	for _, r := range v.Results {
		if r.Result == Fail {
			out = append(out, r.Check)
		}
	}
	return out
}

// Every HELO the support articles in /work/shared/seeds name, under the
// default cpanel profile: the check it fails, the check that decides, and
// what happens.
func TestSeedHELOs(t *testing.T) {
	const other = "203.0.113.50" // a client with no DNS at all
	tests := []struct {
		name     string
		helo     string
		ip       string
		prev     string
		check    string // must fail ("" = nothing may fail)
		decisive string // "" = check
		action   Action
	}{
		{name: "localhost is not fully qualified", helo: "localhost", ip: other, check: CheckFQDN, action: ActionReject},
		{name: "localhost is reserved", helo: "localhost", ip: other, check: CheckReserved, decisive: CheckFQDN, action: ActionReject},
		{name: "localhost.localdomain", helo: "localhost.localdomain", ip: other, check: CheckReserved, action: ActionReject},
		{name: "mon-serveur", helo: "mon-serveur", ip: other, check: CheckFQDN, action: ActionReject},
		{name: "mailserver", helo: "mailserver", ip: other, check: CheckFQDN, action: ActionReject},
		{name: "python-email-server", helo: "python-email-server", ip: other, check: CheckFQDN, action: ActionReject},
		{name: "DESKTOP-4F2K1", helo: "DESKTOP-4F2K1", ip: other, check: CheckFQDN, action: ActionReject},
		{name: "loopback bare IP", helo: "127.0.0.1", ip: other, check: CheckBareIP, action: ActionReject},
		{name: "bare IP", helo: "192.0.2.50", ip: other, check: CheckBareIP, action: ActionReject},
		{name: "bare IPv6", helo: "2001:db8::50", ip: other, check: CheckBareIP, action: ActionReject},
		{name: "literal of another address", helo: "[192.168.1.1]", ip: other, check: CheckLiteral, action: ActionReject},
		{name: "literal of the client's own address", helo: "[192.0.2.7]", ip: "192.0.2.7", check: "", action: ActionAccept},
		{name: "IPv6 literal of the client's own address", helo: "[IPv6:2001:db8::7]", ip: "2001:db8::7", check: CheckRDNS, action: ActionTag},
		{name: "dot local", helo: "server1.local", ip: other, check: CheckReserved, action: ActionReject},
		{name: "dot example", helo: "host.example", ip: other, check: CheckReserved, action: ActionReject},
		{name: "RFC 2606 example.com", helo: "mail.example.com", ip: other, check: CheckReserved, action: ActionReject},
		{name: "name that does not resolve", helo: "fakedomain.xyz", ip: "192.0.2.7", check: CheckForwardDNS, action: ActionTag},
		{name: "provider's default PTR", helo: "mail.provider.com", ip: "185.10.20.30", check: CheckGeneric, action: ActionTag},
		{name: "cloud default name", helo: "ec2-185-12-34-56.compute.amazonaws.com", ip: "185.12.34.56", check: CheckGeneric, action: ActionTag},
		{name: "underscore", helo: "mail_server.sender-lab.net", ip: other, check: CheckSyntax, action: ActionReject},
		{name: "double dot", helo: "mail..sender-lab.net", ip: other, check: CheckSyntax, action: ActionReject},
		{name: "leading hyphen", helo: "-a.example.com", ip: other, check: CheckSyntax, action: ActionReject},
		{name: "8-bit bytes", helo: "mail.s\xe9nder-lab.net", ip: other, check: CheckSyntax, action: ActionReject},
		{name: "300 characters", helo: strings.Repeat("a", 296) + ".net", ip: other, check: CheckSyntax, action: ActionReject},
		{name: "gmail.com from an ISP", helo: "gmail.com", ip: "203.0.113.9", check: CheckBigCompany, decisive: CheckForwardMatch, action: ActionTag},
		{name: "our hostname", helo: ourHost, ip: other, check: CheckSelf, action: ActionReject},
		{name: "our local domain", helo: ourDomain, ip: other, check: CheckSelf, action: ActionReject},
		{name: "our address bare", helo: ourIP.String(), ip: other, check: CheckSelf, decisive: CheckBareIP, action: ActionReject},
		{name: "our address literal", helo: "[" + ourIP.String() + "]", ip: other, check: CheckSelf, decisive: CheckLiteral, action: ActionReject},
		{name: "a changed name", helo: "other.sender-lab.net", ip: "192.0.2.7", prev: "mail.sender-lab.net", check: CheckChanged, decisive: CheckForwardMatch, action: ActionTag},
		{name: "a well-configured sender", helo: "mail.sender-lab.net", ip: "192.0.2.7", check: "", action: ActionAccept},
	}
	p := mustPolicy(t, Config{Explain: true})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: true, EHLO: true, PreviousHELO: tc.prev}
			v := p.Evaluate(context.Background(), c, newFake(testZone()))
			fails := failedChecks(v)
			if tc.check == "" {
				if len(fails) != 0 {
					t.Errorf("failed %v, want none", fails)
				}
			} else if r := result(v, tc.check); r.Result != Fail {
				t.Errorf("%s = %s (%s), want fail; failed: %v", tc.check, r.Result, r.Reason, fails)
			}
			if v.Action != tc.action {
				t.Errorf("action = %s, want %s", v.Action, tc.action)
			}
			want := tc.decisive
			if want == "" {
				want = tc.check
			}
			if tc.action == ActionAccept {
				want = ""
			}
			got := ""
			if v.Decisive != nil {
				got = v.Decisive.Check
			}
			if got != want {
				t.Errorf("decisive = %q, want %q (failed: %v)", got, want, fails)
			}
			if (v.Refusal != nil) != (tc.action == ActionReject || tc.action == ActionTempfail) {
				t.Errorf("refusal = %v with action %s", v.Refusal, v.Action)
			}
		})
	}
}

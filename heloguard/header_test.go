package heloguard

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func TestHeaderValue(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		client Client
		want   string
	}{
		{name: "a good sender", cfg: Config{Profile: ProfileMonitor},
			client: Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true},
			want: "mx.gw-lab.net; helo=mail.sender-lab.net; client-ip=192.0.2.7; required=pass; syntax=pass; fqdn=pass; " +
				"bare_ip=pass; literal=pass; reserved=pass; self=pass; forward_dns=pass; forward_match=pass; rdns=pass; " +
				"fcrdns=pass; rdns_match=pass; generic=pass; big_company=pass; changed=pass; action=accept"},
		{name: "tagged failures", cfg: Config{},
			client: Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: "fakedomain.xyz", Sent: true},
			want: "mx.gw-lab.net; helo=fakedomain.xyz; client-ip=203.0.113.50; required=pass; syntax=pass; fqdn=pass; " +
				"bare_ip=pass; literal=pass; reserved=pass; self=pass; forward_dns=fail; forward_match=fail; rdns=fail; " +
				"fcrdns=fail; rdns_match=fail; generic=pass; big_company=pass; changed=pass; action=tag"},
		{name: "exempt, hostile name made a token", cfg: Config{DenyNames: []string{"x.example.net"}},
			client: Client{IP: netip.MustParseAddr("::ffff:203.0.113.50"), HELO: "a; b\r\n\"c\"", Sent: true, Authenticated: true},
			want: "mx.gw-lab.net; helo=a??b???c?; client-ip=203.0.113.50; deny_names=pass; required=pass; syntax=fail; fqdn=skipped; " +
				"bare_ip=skipped; literal=skipped; reserved=skipped; self=skipped; forward_dns=skipped; forward_match=skipped; rdns=fail; " +
				"fcrdns=fail; rdns_match=skipped; generic=pass; big_company=skipped; changed=pass; action=accept; exempt=authenticated"},
		{name: "no HELO", cfg: Config{Profile: ProfileMonitor, Checks: map[string]Action{CheckRDNS: ActionOff, CheckFCrDNS: ActionOff, CheckGeneric: ActionOff}},
			client: Client{IP: netip.MustParseAddr("192.0.2.7")},
			want: `mx.gw-lab.net; helo=""; client-ip=192.0.2.7; required=fail; syntax=skipped; fqdn=skipped; ` +
				"bare_ip=skipped; literal=skipped; reserved=skipped; self=skipped; forward_dns=skipped; forward_match=skipped; rdns=skipped; " +
				"fcrdns=skipped; rdns_match=skipped; generic=skipped; big_company=skipped; changed=pass; action=tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			v := p.Evaluate(context.Background(), tc.client, newFake(testZone()))
			if got := v.HeaderValue(ourHost); got != tc.want {
				t.Errorf("header\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAuthResultsValue(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		cfg  Config
		want string
	}{
		{name: "pass", ip: "192.0.2.7", want: "mx.gw-lab.net; iprev=pass policy.iprev=192.0.2.7 (mail.sender-lab.net)"},
		{name: "fail, no PTR", ip: "203.0.113.50", want: "mx.gw-lab.net; iprev=fail policy.iprev=203.0.113.50 (no PTR)"},
		{name: "fail, not confirmed", ip: "192.0.2.20", want: "mx.gw-lab.net; iprev=fail policy.iprev=192.0.2.20 (PTR not confirmed)"},
		{name: "temperror", ip: "192.0.2.66", want: "mx.gw-lab.net; iprev=temperror policy.iprev=192.0.2.66"},
		{name: "IPv6 quoted", ip: "2001:db8::9", want: `mx.gw-lab.net; iprev=fail policy.iprev="2001:db8::9" (no PTR)`},
		{name: "not evaluated", ip: "192.0.2.7", cfg: Config{Checks: map[string]Action{CheckFCrDNS: ActionOff}}, want: "mx.gw-lab.net; none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr(tc.ip), HELO: "mail.sender-lab.net", Sent: true}, newFake(testZone()))
			if got := v.AuthResultsValue(ourHost); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestHeaderValueIsOneLine(t *testing.T) {
	p := mustPolicy(t, Config{})
	for _, helo := range []string{"a\nb", "a\x00b", "\xff\xfe", strings.Repeat("x", 600)} {
		v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: helo, Sent: true}, nil)
		h := v.HeaderValue(ourHost)
		for i := 0; i < len(h); i++ {
			if h[i] < 0x20 || h[i] >= 0x7f {
				t.Errorf("HELO %q: header has byte %#x", helo, h[i])
				break
			}
		}
		if len(h) > 1000 {
			t.Errorf("HELO of %d bytes: header of %d", len(helo), len(h))
		}
	}
}

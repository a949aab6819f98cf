package config

import (
	"strings"
	"testing"
)

// TestDomainSyntax pins which names the config accepts where it wants a
// domain, as it did before package domain took over domain syntax
// (issue 13): hostname, local_domains (after IDNA), relay.helo_name,
// relay.route[].domain and the host of a host:port. The values are as
// validation sees them, after applyDefaults has cut one trailing dot from
// each local_domains entry. One row changed on purpose: local_domains
// "example.com.." (a file's "example.com...") was accepted (Normalize cut
// one dot, IsDomain the other) and kept as "example.com.", which no
// recipient ever matched; it is now refused. relay.route still accepts it
// here and relay.NewRouter refuses it at start, as before.
func TestDomainSyntax(t *testing.T) {
	tests := []struct {
		name, in                                             string
		isDomain, hostname, local, heloName, route, hostPort bool
	}{
		{name: "plain", in: "example.com", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "upper case", in: "EXAMPLE.Com", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "trailing dot", in: "example.com.", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "two trailing dots", in: "example.com..", isDomain: false, hostname: false, local: false, heloName: false, route: true, hostPort: false},
		{name: "leading dot", in: ".example.com", isDomain: false, hostname: false, local: false, heloName: false, route: true, hostPort: false},
		{name: "empty", in: "", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "root", in: ".", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "empty label", in: "a..example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "leading underscore", in: "_dmarc.example.com", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "inner underscore", in: "a_b.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "leading hyphen", in: "-a.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "trailing hyphen", in: "a-.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "inner hyphen", in: "a-b.example", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "a-label", in: "xn--bcher-kva.example", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "u-label", in: "bücher.example", isDomain: false, hostname: false, local: true, heloName: false, route: false, hostPort: false},
		{name: "u-label upper case", in: "BÜCHER.example", isDomain: false, hostname: false, local: true, heloName: false, route: false, hostPort: false},
		{name: "invalid idn", in: "a\u200d.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "invalid utf-8", in: "a\xffb.example", isDomain: false, hostname: false, local: true, heloName: false, route: false, hostPort: false},
		{name: "all numeric", in: "123.45", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "dotted quad", in: "192.0.2.1", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "numeric with hyphen", in: "1-2.3", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "single label", in: "localhost", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "digit first", in: "3com.example", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "space", in: "a b.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "tab", in: "a\tb.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "control", in: "a\x00b.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "del", in: "a\x7fb.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "bang", in: "a!b.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "underscore before bad hyphen", in: "a_b-.example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "bad hyphen before underscore", in: "a-.b_c", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "253 octets", in: pinLong(253), isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "254 octets", in: pinLong(254), isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "255 octets", in: pinLong(255), isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "256 octets", in: pinLong(256), isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
		{name: "253 octets and a dot", in: pinLong(253) + ".", isDomain: true, hostname: true, local: true, heloName: true, route: true, hostPort: true},
		{name: "254 octets and a dot", in: pinLong(254) + ".", isDomain: false, hostname: false, local: false, heloName: false, route: false, hostPort: false},
	}
	has := func(errs []error, key string) bool {
		for _, e := range errs {
			if k, ok := e.(*keyError); ok && k.key == key {
				return true
			}
		}
		return false
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &validator{}
			(&Config{Hostname: tc.in, LocalDomains: []string{tc.in}}).validateTop(v)
			host, local := !has(v.errs, "hostname"), !has(v.errs, "local_domains[0]")
			v = &validator{}
			(&Config{Relay: Relay{HeloName: tc.in, Routes: []Route{{Domain: tc.in}}}}).validateRelay(v)
			helo, route := !has(v.errs, "relay.helo_name"), !has(v.errs, "relay.route[0].domain")
			hp := checkHostPort(tc.in+":25") == nil
			if got := IsDomain(tc.in); got != tc.isDomain {
				t.Errorf("IsDomain(%q) = %v, want %v", tc.in, got, tc.isDomain)
			}
			if host != tc.hostname || local != tc.local || helo != tc.heloName || route != tc.route || hp != tc.hostPort {
				t.Errorf("%q accepted as hostname %v, local_domains %v, relay.helo_name %v, relay.route.domain %v, host:port %v; want %v %v %v %v %v",
					tc.in, host, local, helo, route, hp, tc.hostname, tc.local, tc.heloName, tc.route, tc.hostPort)
			}
		})
	}
}

// pinLong is a name of n octets (n > 204): four 50-octet labels and one more.
func pinLong(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

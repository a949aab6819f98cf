package relay

import (
	"strings"
	"testing"
)

// TestRouteDomainSyntax pins which route domains NewRouter accepts, as it
// did before package domain took over domain syntax (issue 13): after
// IDNA, LDH and '_', 255 octets; subOK is the same domain with a leading
// dot (its subdomains).
func TestRouteDomainSyntax(t *testing.T) {
	tests := []struct {
		name, in  string
		ok, subOK bool
	}{
		{name: "plain", in: "example.com", ok: true, subOK: true},
		{name: "upper case", in: "EXAMPLE.Com", ok: true, subOK: true},
		{name: "trailing dot", in: "example.com.", ok: true, subOK: true},
		{name: "two trailing dots", in: "example.com..", ok: false, subOK: false},
		{name: "leading dot", in: ".example.com", ok: true, subOK: false},
		{name: "empty", in: "", ok: false, subOK: false},
		{name: "root", in: ".", ok: false, subOK: false},
		{name: "empty label", in: "a..example", ok: false, subOK: false},
		{name: "leading underscore", in: "_dmarc.example.com", ok: true, subOK: true},
		{name: "inner underscore", in: "a_b.example", ok: true, subOK: true},
		{name: "leading hyphen", in: "-a.example", ok: false, subOK: false},
		{name: "trailing hyphen", in: "a-.example", ok: false, subOK: false},
		{name: "inner hyphen", in: "a-b.example", ok: true, subOK: true},
		{name: "a-label", in: "xn--bcher-kva.example", ok: true, subOK: true},
		{name: "u-label", in: "bücher.example", ok: true, subOK: true},
		{name: "u-label upper case", in: "BÜCHER.example", ok: true, subOK: true},
		{name: "invalid idn", in: "a\u200d.example", ok: false, subOK: false},
		{name: "invalid utf-8", in: "a\xffb.example", ok: true, subOK: true},
		{name: "all numeric", in: "123.45", ok: true, subOK: true},
		{name: "dotted quad", in: "192.0.2.1", ok: true, subOK: true},
		{name: "numeric with hyphen", in: "1-2.3", ok: true, subOK: true},
		{name: "single label", in: "localhost", ok: true, subOK: true},
		{name: "digit first", in: "3com.example", ok: true, subOK: true},
		{name: "space", in: "a b.example", ok: false, subOK: false},
		{name: "tab", in: "a\tb.example", ok: false, subOK: false},
		{name: "control", in: "a\x00b.example", ok: false, subOK: false},
		{name: "del", in: "a\x7fb.example", ok: false, subOK: false},
		{name: "bang", in: "a!b.example", ok: false, subOK: false},
		{name: "underscore before bad hyphen", in: "a_b-.example", ok: false, subOK: false},
		{name: "bad hyphen before underscore", in: "a-.b_c", ok: false, subOK: false},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", ok: true, subOK: true},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", ok: false, subOK: false},
		{name: "253 octets", in: pinLong(253), ok: true, subOK: true},
		{name: "254 octets", in: pinLong(254), ok: true, subOK: true},
		{name: "255 octets", in: pinLong(255), ok: true, subOK: true},
		{name: "256 octets", in: pinLong(256), ok: false, subOK: false},
		{name: "253 octets and a dot", in: pinLong(253) + ".", ok: true, subOK: true},
		{name: "254 octets and a dot", in: pinLong(254) + ".", ok: true, subOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRouter(&fakeTarget{name: "default"}, []Route{{Domain: tc.in, Target: &fakeTarget{name: "route"}}})
			_, subErr := NewRouter(&fakeTarget{name: "default"}, []Route{{Domain: "." + tc.in, Target: &fakeTarget{name: "route"}}})
			if (err == nil) != tc.ok || (subErr == nil) != tc.subOK {
				t.Errorf("route %q: error %v, as subdomains: error %v; want ok %v, %v", tc.in, err, subErr, tc.ok, tc.subOK)
			}
		})
	}
}

// pinLong is a name of n octets (n > 204): four 50-octet labels and one more.
func pinLong(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

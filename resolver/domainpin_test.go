package resolver

import (
	"strings"
	"testing"
)

// TestHostnameSyntax pins which names the resolver looks up and which
// answer names it keeps, as before package domain took over domain
// syntax (issue 13): LDH and '_', 253 octets, not all digits. target is
// validTarget of the name with a trailing dot.
func TestHostnameSyntax(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok, target     bool
	}{
		{name: "plain", in: "example.com", want: "example.com", ok: true, target: true},
		{name: "upper case", in: "EXAMPLE.Com", want: "example.com", ok: true, target: true},
		{name: "trailing dot", in: "example.com.", want: "example.com", ok: true, target: false},
		{name: "two trailing dots", in: "example.com..", want: "", ok: false, target: false},
		{name: "leading dot", in: ".example.com", want: "", ok: false, target: false},
		{name: "empty", in: "", want: "", ok: false, target: true},
		{name: "root", in: ".", want: "", ok: false, target: false},
		{name: "empty label", in: "a..example", want: "", ok: false, target: false},
		{name: "leading underscore", in: "_dmarc.example.com", want: "_dmarc.example.com", ok: true, target: true},
		{name: "inner underscore", in: "a_b.example", want: "a_b.example", ok: true, target: true},
		{name: "leading hyphen", in: "-a.example", want: "", ok: false, target: false},
		{name: "trailing hyphen", in: "a-.example", want: "", ok: false, target: false},
		{name: "inner hyphen", in: "a-b.example", want: "a-b.example", ok: true, target: true},
		{name: "a-label", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example", ok: true, target: true},
		{name: "u-label", in: "bücher.example", want: "", ok: false, target: false},
		{name: "u-label upper case", in: "BÜCHER.example", want: "", ok: false, target: false},
		{name: "invalid idn", in: "a\u200d.example", want: "", ok: false, target: false},
		{name: "invalid utf-8", in: "a\xffb.example", want: "", ok: false, target: false},
		{name: "all numeric", in: "123.45", want: "", ok: false, target: false},
		{name: "dotted quad", in: "192.0.2.1", want: "", ok: false, target: false},
		{name: "numeric with hyphen", in: "1-2.3", want: "1-2.3", ok: true, target: true},
		{name: "single label", in: "localhost", want: "localhost", ok: true, target: true},
		{name: "digit first", in: "3com.example", want: "3com.example", ok: true, target: true},
		{name: "space", in: "a b.example", want: "", ok: false, target: false},
		{name: "tab", in: "a\tb.example", want: "", ok: false, target: false},
		{name: "control", in: "a\x00b.example", want: "", ok: false, target: false},
		{name: "del", in: "a\x7fb.example", want: "", ok: false, target: false},
		{name: "bang", in: "a!b.example", want: "", ok: false, target: false},
		{name: "underscore before bad hyphen", in: "a_b-.example", want: "", ok: false, target: false},
		{name: "bad hyphen before underscore", in: "a-.b_c", want: "", ok: false, target: false},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", want: strings.Repeat("a", 63) + ".example", ok: true, target: true},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", want: "", ok: false, target: false},
		{name: "253 octets", in: pinLong(253), want: pinLong(253), ok: true, target: true},
		{name: "254 octets", in: pinLong(254), want: "", ok: false, target: false},
		{name: "255 octets", in: pinLong(255), want: "", ok: false, target: false},
		{name: "256 octets", in: pinLong(256), want: "", ok: false, target: false},
		{name: "253 octets and a dot", in: pinLong(253) + ".", want: pinLong(253), ok: true, target: false},
		{name: "254 octets and a dot", in: pinLong(254) + ".", want: "", ok: false, target: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := canonicalHost(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("canonicalHost(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
			if got := validTarget(tc.in + "."); got != tc.target {
				t.Errorf("validTarget(%q) = %v, want %v", tc.in+".", got, tc.target)
			}
		})
	}
}

// pinLong is a name of n octets (n > 204): four 50-octet labels and one more.
func pinLong(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

package address

import (
	"strings"
	"testing"
)

// TestCheckDomainSyntax pins which recipient domains Check accepts, as it
// did before package domain took over domain syntax (issue 13): LDH and
// octets >= 0x80 (U-labels, which must then be valid IDNs), 253 octets.
// Trailing dots are allowed here so that the row shows the domain rule.
func TestCheckDomainSyntax(t *testing.T) {
	tests := []struct {
		name, in string
		trick    Trick
	}{
		{name: "plain", in: "example.com", trick: Trick("")},
		{name: "upper case", in: "EXAMPLE.Com", trick: Trick("")},
		{name: "trailing dot", in: "example.com.", trick: Trick("")},
		{name: "two trailing dots", in: "example.com..", trick: Trick("bad_syntax")},
		{name: "leading dot", in: ".example.com", trick: Trick("bad_syntax")},
		{name: "empty", in: "", trick: Trick("bad_syntax")},
		{name: "root", in: ".", trick: Trick("bad_syntax")},
		{name: "empty label", in: "a..example", trick: Trick("bad_syntax")},
		{name: "leading underscore", in: "_dmarc.example.com", trick: Trick("bad_syntax")},
		{name: "inner underscore", in: "a_b.example", trick: Trick("bad_syntax")},
		{name: "leading hyphen", in: "-a.example", trick: Trick("bad_syntax")},
		{name: "trailing hyphen", in: "a-.example", trick: Trick("bad_syntax")},
		{name: "inner hyphen", in: "a-b.example", trick: Trick("")},
		{name: "a-label", in: "xn--bcher-kva.example", trick: Trick("")},
		{name: "u-label", in: "bücher.example", trick: Trick("")},
		{name: "u-label upper case", in: "BÜCHER.example", trick: Trick("")},
		{name: "invalid idn", in: "a\u200d.example", trick: Trick("bad_syntax")},
		{name: "invalid utf-8", in: "a\xffb.example", trick: Trick("bad_syntax")},
		{name: "all numeric", in: "123.45", trick: Trick("")},
		{name: "dotted quad", in: "192.0.2.1", trick: Trick("")},
		{name: "numeric with hyphen", in: "1-2.3", trick: Trick("")},
		{name: "single label", in: "localhost", trick: Trick("")},
		{name: "digit first", in: "3com.example", trick: Trick("")},
		{name: "space", in: "a b.example", trick: Trick("bad_syntax")},
		{name: "tab", in: "a\tb.example", trick: Trick("bad_syntax")},
		{name: "control", in: "a\x00b.example", trick: Trick("bad_syntax")},
		{name: "del", in: "a\x7fb.example", trick: Trick("bad_syntax")},
		{name: "bang", in: "a!b.example", trick: Trick("bad_syntax")},
		{name: "underscore before bad hyphen", in: "a_b-.example", trick: Trick("bad_syntax")},
		{name: "bad hyphen before underscore", in: "a-.b_c", trick: Trick("bad_syntax")},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", trick: Trick("")},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", trick: Trick("bad_syntax")},
		{name: "253 octets", in: pinLong(253), trick: Trick("")},
		{name: "254 octets", in: pinLong(254), trick: Trick("bad_syntax")},
		{name: "255 octets", in: pinLong(255), trick: Trick("bad_syntax")},
		{name: "256 octets", in: pinLong(256), trick: Trick("bad_syntax")},
		{name: "253 octets and a dot", in: pinLong(253) + ".", trick: Trick("")},
		{name: "254 octets and a dot", in: pinLong(254) + ".", trick: Trick("bad_syntax")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := Check("user@"+tc.in, "<user@"+tc.in+">", Allow{TrailingDot: true})
			if got != tc.trick {
				t.Errorf("Check(user@%q) = %q, want %q", tc.in, got, tc.trick)
			}
		})
	}
}

// pinLong is a name of n octets (n > 204): four 50-octet labels and one more.
func pinLong(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

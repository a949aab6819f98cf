package heloguard

import (
	"strings"
	"testing"
)

// TestHELODomainSyntax pins how a HELO argument parses, as before package
// domain took over domain syntax (issue 13): LDH only, 255 octets, and
// the first problem found (a bad character before the end of its label
// is reported before the label's own problem). norm is normalizeDomain,
// used for configured names and PTR answers.
func TestHELODomainSyntax(t *testing.T) {
	tests := []struct {
		name, in      string
		kind          nameKind
		domain        string
		labels        int
		problem, norm string
		normOK        bool
	}{
		{name: "plain", in: "example.com", kind: kindDomain, domain: "example.com", labels: 2, problem: "", norm: "example.com", normOK: true},
		{name: "upper case", in: "EXAMPLE.Com", kind: kindDomain, domain: "example.com", labels: 2, problem: "", norm: "example.com", normOK: true},
		{name: "trailing dot", in: "example.com.", kind: kindDomain, domain: "example.com", labels: 2, problem: "", norm: "example.com", normOK: true},
		{name: "two trailing dots", in: "example.com..", kind: kindInvalid, domain: "", labels: 0, problem: "empty_label", norm: "", normOK: false},
		{name: "leading dot", in: ".example.com", kind: kindInvalid, domain: "", labels: 0, problem: "empty_label", norm: "", normOK: false},
		{name: "empty", in: "", kind: kindEmpty, domain: "", labels: 0, problem: "", norm: "", normOK: false},
		{name: "root", in: ".", kind: kindInvalid, domain: "", labels: 0, problem: "empty_label", norm: "", normOK: false},
		{name: "empty label", in: "a..example", kind: kindInvalid, domain: "", labels: 0, problem: "empty_label", norm: "", normOK: false},
		{name: "leading underscore", in: "_dmarc.example.com", kind: kindInvalid, domain: "", labels: 0, problem: "underscore", norm: "", normOK: false},
		{name: "inner underscore", in: "a_b.example", kind: kindInvalid, domain: "", labels: 0, problem: "underscore", norm: "", normOK: false},
		{name: "leading hyphen", in: "-a.example", kind: kindInvalid, domain: "", labels: 0, problem: "hyphen", norm: "", normOK: false},
		{name: "trailing hyphen", in: "a-.example", kind: kindInvalid, domain: "", labels: 0, problem: "hyphen", norm: "", normOK: false},
		{name: "inner hyphen", in: "a-b.example", kind: kindDomain, domain: "a-b.example", labels: 2, problem: "", norm: "a-b.example", normOK: true},
		{name: "a-label", in: "xn--bcher-kva.example", kind: kindDomain, domain: "xn--bcher-kva.example", labels: 2, problem: "", norm: "xn--bcher-kva.example", normOK: true},
		{name: "u-label", in: "bücher.example", kind: kindInvalid, domain: "", labels: 0, problem: "8bit", norm: "", normOK: false},
		{name: "u-label upper case", in: "BÜCHER.example", kind: kindInvalid, domain: "", labels: 0, problem: "8bit", norm: "", normOK: false},
		{name: "invalid idn", in: "a\u200d.example", kind: kindInvalid, domain: "", labels: 0, problem: "8bit", norm: "", normOK: false},
		{name: "invalid utf-8", in: "a\xffb.example", kind: kindInvalid, domain: "", labels: 0, problem: "8bit", norm: "", normOK: false},
		{name: "all numeric", in: "123.45", kind: kindDomain, domain: "123.45", labels: 2, problem: "", norm: "123.45", normOK: true},
		{name: "dotted quad", in: "192.0.2.1", kind: kindBareIP, domain: "", labels: 0, problem: "", norm: "192.0.2.1", normOK: true},
		{name: "numeric with hyphen", in: "1-2.3", kind: kindDomain, domain: "1-2.3", labels: 2, problem: "", norm: "1-2.3", normOK: true},
		{name: "single label", in: "localhost", kind: kindDomain, domain: "localhost", labels: 1, problem: "", norm: "localhost", normOK: true},
		{name: "digit first", in: "3com.example", kind: kindDomain, domain: "3com.example", labels: 2, problem: "", norm: "3com.example", normOK: true},
		{name: "space", in: "a b.example", kind: kindInvalid, domain: "", labels: 0, problem: "space", norm: "", normOK: false},
		{name: "tab", in: "a\tb.example", kind: kindInvalid, domain: "", labels: 0, problem: "space", norm: "", normOK: false},
		{name: "control", in: "a\x00b.example", kind: kindInvalid, domain: "", labels: 0, problem: "control", norm: "", normOK: false},
		{name: "del", in: "a\x7fb.example", kind: kindInvalid, domain: "", labels: 0, problem: "control", norm: "", normOK: false},
		{name: "bang", in: "a!b.example", kind: kindInvalid, domain: "", labels: 0, problem: "bad_char", norm: "", normOK: false},
		{name: "underscore before bad hyphen", in: "a_b-.example", kind: kindInvalid, domain: "", labels: 0, problem: "underscore", norm: "", normOK: false},
		{name: "bad hyphen before underscore", in: "a-.b_c", kind: kindInvalid, domain: "", labels: 0, problem: "hyphen", norm: "", normOK: false},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", kind: kindDomain, domain: strings.Repeat("a", 63) + ".example", labels: 2, problem: "", norm: strings.Repeat("a", 63) + ".example", normOK: true},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", kind: kindInvalid, domain: "", labels: 0, problem: "label_too_long", norm: "", normOK: false},
		{name: "253 octets", in: pinLong(253), kind: kindDomain, domain: pinLong(253), labels: 5, problem: "", norm: pinLong(253), normOK: true},
		{name: "254 octets", in: pinLong(254), kind: kindDomain, domain: pinLong(254), labels: 5, problem: "", norm: pinLong(254), normOK: true},
		{name: "255 octets", in: pinLong(255), kind: kindDomain, domain: pinLong(255), labels: 5, problem: "", norm: pinLong(255), normOK: true},
		{name: "256 octets", in: pinLong(256), kind: kindInvalid, domain: "", labels: 0, problem: "too_long", norm: "", normOK: false},
		{name: "253 octets and a dot", in: pinLong(253) + ".", kind: kindDomain, domain: pinLong(253), labels: 5, problem: "", norm: pinLong(253), normOK: true},
		{name: "254 octets and a dot", in: pinLong(254) + ".", kind: kindDomain, domain: pinLong(254), labels: 5, problem: "", norm: pinLong(254), normOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := parseName(tc.in)
			if n.kind != tc.kind || n.domain != tc.domain || n.labels != tc.labels || n.problem != tc.problem {
				t.Errorf("parseName(%q) = kind %d, %q, %d labels, problem %q; want kind %d, %q, %d, %q",
					tc.in, n.kind, n.domain, n.labels, n.problem, tc.kind, tc.domain, tc.labels, tc.problem)
			}
			if norm, ok := normalizeDomain(tc.in); norm != tc.norm || ok != tc.normOK {
				t.Errorf("normalizeDomain(%q) = %q, %v; want %q, %v", tc.in, norm, ok, tc.norm, tc.normOK)
			}
		})
	}
}

// pinLong is a name of n octets (n > 204): four 50-octet labels and one more.
func pinLong(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

package domain

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{name: "ascii", in: "example.com", want: "example.com"},
		{name: "upper case and trailing dot", in: "Example.COM.", want: "example.com"},
		{name: "u-label", in: "bücher.example", want: "xn--bcher-kva.example"},
		{name: "u-label upper case", in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{name: "a-label", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "a-label upper case", in: "XN--BCHER-KVA.Example", want: "xn--bcher-kva.example"},
		// "ехample.com" with Cyrillic е (U+0435) and х (U+0445): a look-alike,
		// not example.com.
		{name: "cyrillic look-alike", in: "\u0435\u0445ample.com", want: "xn--ample-ywe6i.com"},
		{name: "fullwidth dot and letters map", in: "ｅｘａｍｐｌｅ.com", want: "example.com"},
		{name: "literal", in: "[IPv6:2001:DB8::1]", want: "[ipv6:2001:db8::1]"},
		{name: "invalid idn", in: "a\u200d.example", err: true},
		{name: "empty", in: "", err: true},
		{name: "root", in: ".", err: true},
		// Only one trailing dot is the absolute form; a second one is an
		// empty label, and cutting it would make Normalize(Normalize(d))
		// differ from Normalize(d).
		{name: "two trailing dots", in: "example.com..", err: true},
		{name: "two dots", in: "..", err: true},
		{name: "u-label with an ideographic full stop after the dot", in: "bücher.example。.", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("Normalize(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if !tc.err && got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeLookAlikeStaysForeign(t *testing.T) {
	local, _ := Normalize("example.com")
	for _, d := range []string{"\u0435xample.com", "examp\u04cfe.com", "ex\u0430mple.com"} {
		n, err := Normalize(d)
		if err == nil && n == local {
			t.Errorf("%q normalizes to the local domain %q", d, local)
		}
	}
}

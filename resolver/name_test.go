package resolver

import "testing"

func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{name: "plain", in: "mail.example.com", want: "mail.example.com", wantOK: true},
		{name: "trailing dot dropped", in: "mail.example.com.", want: "mail.example.com", wantOK: true},
		{name: "case folded", in: "Mail.EXAMPLE.com", want: "mail.example.com", wantOK: true},
		{name: "single label", in: "localhost", want: "localhost", wantOK: true},
		{name: "underscore allowed", in: "_dmarc.example.com", want: "_dmarc.example.com", wantOK: true},
		{name: "digits with letters", in: "123.example", want: "123.example", wantOK: true},
		{name: "empty", in: "", wantOK: false},
		{name: "root", in: ".", wantOK: false},
		{name: "all numeric", in: "192.0.2.1", wantOK: false},
		{name: "address literal", in: "[192.0.2.1]", wantOK: false},
		{name: "space", in: "mail server", wantOK: false},
		{name: "empty label", in: "a..b", wantOK: false},
		{name: "leading hyphen", in: "-a.example", wantOK: false},
		{name: "trailing hyphen", in: "a-.example", wantOK: false},
		{name: "hyphen at end", in: "example-", wantOK: false},
		{name: "long label", in: "a123456789012345678901234567890123456789012345678901234567890123.example", wantOK: false},
		{name: "63-octet label", in: "a12345678901234567890123456789012345678901234567890123456789012.example", want: "a12345678901234567890123456789012345678901234567890123456789012.example", wantOK: true},
		{name: "escape", in: `a\032b.example`, wantOK: false},
		{name: "non-ASCII", in: "bücher.example", wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := canonicalHost(tc.in)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("canonicalHost(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestValidTarget(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "absolute host", in: "mx.example.com.", want: true},
		{name: "null MX root", in: ".", want: true},
		{name: "relative", in: "mx.example.com", want: false},
		{name: "escaped byte", in: `mx\000.example.com.`, want: false},
		{name: "empty", in: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := validTarget(tc.in); got != tc.want {
				t.Errorf("validTarget(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

package domain

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		rule   Rule
		labels int
		want   Problem
	}{
		{name: "plain", in: "mail.example.com", rule: Host, labels: 3},
		{name: "upper case", in: "Mail.EXAMPLE.com", rule: HELO, labels: 3},
		{name: "single label", in: "localhost", rule: HELO, labels: 1},
		{name: "empty", in: "", rule: Host, want: EmptyLabel},
		{name: "root", in: ".", rule: Host, want: EmptyLabel},
		{name: "leading dot", in: ".example.com", rule: HELO, want: EmptyLabel},
		{name: "empty label", in: "a..example", rule: HELO, want: EmptyLabel},
		{name: "trailing dot where allowed", in: "example.com.", rule: Host, labels: 2},
		{name: "trailing dot elsewhere", in: "example.com.", rule: HELO, want: EmptyLabel},
		{name: "only one trailing dot", in: "example.com..", rule: Host, want: EmptyLabel},
		{name: "leading hyphen", in: "-a.example", rule: Answer, want: Hyphen},
		{name: "trailing hyphen", in: "a-.example", rule: Answer, want: Hyphen},
		{name: "inner hyphens", in: "xn--bcher-kva.example", rule: HELO, labels: 2},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".example", rule: HELO, labels: 2},
		{name: "64-octet label", in: strings.Repeat("a", 64) + ".example", rule: HELO, want: LabelTooLong},
		{name: "253 octets", in: long(253), rule: Host, labels: 5},
		{name: "254 octets", in: long(254), rule: Host, want: TooLong},
		{name: "254 octets under Octets255", in: long(254), rule: HELO, labels: 5},
		{name: "255 octets under Octets255", in: long(255), rule: Route, labels: 5},
		{name: "256 octets under Octets255", in: long(256), rule: HELO, want: TooLong},
		{name: "underscore refused", in: "a_b.example", rule: HELO, want: BadUnderscore},
		{name: "underscore allowed", in: "_dmarc.example.com", rule: Answer, labels: 3},
		{name: "8bit refused", in: "bücher.example", rule: Host, want: EightBit},
		{name: "8bit allowed", in: "bücher.example", rule: Mailbox, labels: 2},
		{name: "all digits allowed", in: "192.0.2.1", rule: Host, labels: 4},
		{name: "all digits refused", in: "192.0.2.1", rule: Answer, want: AllDigits},
		{name: "a hyphen is not a digit", in: "1-2.3", rule: Answer, labels: 2},
		{name: "space", in: "a b.example", rule: Mailbox, want: Space},
		{name: "tab", in: "a\tb.example", rule: Mailbox, want: Space},
		{name: "control", in: "a\x00b.example", rule: Mailbox, want: Control},
		{name: "del", in: "a\x7fb.example", rule: Mailbox, want: Control},
		{name: "bad char", in: "a!b.example", rule: Answer, want: BadChar},
		{name: "octet before label end", in: "a_b-.example", rule: HELO, want: BadUnderscore},
		{name: "label end before octet", in: "a-.b_c", rule: HELO, want: Hyphen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels, p := Check(tc.in, tc.rule)
			if labels != tc.labels || p != tc.want {
				t.Errorf("Check(%q, %b) = %d, %q; want %d, %q", tc.in, tc.rule, labels, p, tc.labels, tc.want)
			}
			if got := Valid(tc.in, tc.rule); got != (tc.want == "") {
				t.Errorf("Valid(%q, %b) = %v, want %v", tc.in, tc.rule, got, tc.want == "")
			}
		})
	}
}

// TestCheckDoesNotAllocate: the resolver checks every name it looks up
// on its allocation-free cache path.
func TestCheckDoesNotAllocate(t *testing.T) {
	var labels int
	n := testing.AllocsPerRun(100, func() { labels, _ = Check("Mail.Example.com.", Host|Answer) })
	if labels != 3 {
		t.Fatalf("Check = %d labels, want 3", labels)
	}
	if n != 0 {
		t.Errorf("Check allocates %v times per call", n)
	}
}

// long is a name of n octets (204 < n <= 267): four 50-octet labels and
// one more.
func long(n int) string {
	l := strings.Repeat("x", 50) + "."
	return l + l + l + l + strings.Repeat("y", n-204)
}

package domain

import (
	"strings"
	"testing"
)

var rules = []Rule{Host, HELO, Mailbox, Route, Answer}

// FuzzParse feeds random names to the syntax check under every named
// rule and to Normalize: no panic, a valid name's label count is its dot
// count plus one, the check ignores case, and normalising twice gives
// what normalising once gave, in ASCII that the Mailbox rule accepts
// whenever the input was a valid Mailbox name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"example.com", "Example.COM.", "example.com..", ".", "", "a..b",
		"_dmarc.example.com", "-a.example", "a-.example", "xn--bcher-kva.example",
		"bücher.example", "BÜCHER.example", "ｅｘａｍｐｌｅ.com", "a\u200d.example",
		"a\xffb.example", "192.0.2.1", "1-2.3", "a b", "a\x00b", "[192.0.2.1]",
		"xn--.example", "xn--a.example", strings.Repeat("a", 64), long(255),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range rules {
			labels, p := Check(s, r)
			if p != "" {
				if labels != 0 {
					t.Fatalf("Check(%q, %b) = %d labels with problem %q", s, r, labels, p)
				}
				continue
			}
			d := s
			if r&TrailingDot != 0 {
				d = strings.TrimSuffix(s, ".")
			}
			if want := strings.Count(d, ".") + 1; labels != want {
				t.Fatalf("Check(%q, %b) = %d labels, want %d", s, r, labels, want)
			}
			if l, p := Check(strings.ToUpper(s), r); IsASCII(s) && (l != labels || p != "") {
				t.Fatalf("Check of %q in upper case = %d, %q; lower case gave %d", s, l, p, labels)
			}
		}
		n, err := Normalize(s)
		if err != nil {
			return
		}
		if !IsASCII(n) {
			t.Fatalf("Normalize(%q) = %q, not ASCII", s, n)
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, err)
		}
		if Valid(s, Mailbox) && IsASCII(s) && !Valid(n, Mailbox) {
			t.Fatalf("Normalize(%q) = %q, no longer a valid name", s, n)
		}
	})
}

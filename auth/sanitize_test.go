package auth

import (
	"strings"
	"testing"
)

func TestSanitizeUser(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain address", in: "bob@example.com", want: "bob@example.com"},
		{name: "empty", in: "", want: "-"},
		{name: "CRLF injection", in: "bob\r\nmsg=fake", want: `bob\x0d\x0amsg=fake`},
		{name: "NUL", in: "a\x00b", want: `a\x00b`},
		{name: "terminal escape", in: "\x1b[31mred", want: `\x1b[31mred`},
		{name: "DEL", in: "a\x7f", want: `a\x7f`},
		{name: "backslash is escaped so escapes are unambiguous", in: `a\x41`, want: `a\\x41`},
		{name: "UTF-8 bytes escaped", in: "jörg", want: `j\xc3\xb6rg`},
		{name: "spaces kept", in: "a b", want: "a b"},
		{name: "exactly 64", in: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "65 cut", in: strings.Repeat("a", 65), want: strings.Repeat("a", 61) + "..."},
		{name: "long cut", in: strings.Repeat("b", 10000), want: strings.Repeat("b", 61) + "..."},
		{name: "escape not split at cut", in: strings.Repeat("a", 59) + "\n" + strings.Repeat("a", 10), want: strings.Repeat("a", 59) + "..."},
		{name: "escape fits at end", in: strings.Repeat("a", 60) + "\n", want: strings.Repeat("a", 60) + `\x0a`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SanitizeUser(tc.in)
			if got != tc.want {
				t.Errorf("SanitizeUser(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzSanitizeUser(f *testing.F) {
	f.Add("bob@example.com")
	f.Add("\r\n\x00\xff")
	f.Add(strings.Repeat("\x01", 40))
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeUser(s)
		if got == "" || len(got) > maxLoggedUser {
			t.Fatalf("SanitizeUser(%q) = %q: empty or longer than %d", s, got, maxLoggedUser)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] >= 0x7f {
				t.Fatalf("SanitizeUser(%q) = %q holds byte %#x", s, got, got[i])
			}
		}
	})
}

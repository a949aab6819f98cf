package address

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		path  string // what go-smtp parsed
		raw   string // the RCPT TO argument as sent
		allow Allow
		want  Trick
		dom   string
	}{
		{name: "plain", path: "bob@example.com", raw: "<bob@example.com>", dom: "example.com"},
		{name: "upper-case domain", path: "bob@Example.COM", raw: "<bob@Example.COM>", dom: "example.com"},
		{name: "percent hack", path: "user%remote.example@example.com", raw: "<user%remote.example@example.com>", want: PercentHack},
		{name: "percent hack allowed", path: "user%remote.example@example.com", raw: "<user%remote.example@example.com>", allow: Allow{PercentHack: true}, dom: "example.com"},
		{name: "bang path", path: "remote.example!user@example.com", raw: "<remote.example!user@example.com>", want: BangPath},
		{name: "source route", path: "user@remote.example", raw: "<@example.com:user@remote.example>", want: SourceRoute},
		{name: "source route with two hops", path: "user@remote.example", raw: "<@a.example,@b.example:user@remote.example>", want: SourceRoute},
		{name: "quoted at", path: "user@remote.example@example.com", raw: `<"user@remote.example"@example.com>`, want: QuotedAt},
		{name: "quoted without at", path: "john smith@example.com", raw: `<"john smith"@example.com>`, dom: "example.com"},
		{name: "unquoted double at", path: "user@remote@example.com", raw: "<user@remote@example.com>", want: BadSyntax},
		{name: "trailing dot", path: "bob@example.com.", raw: "<bob@example.com.>", want: TrailingDot},
		{name: "trailing dot allowed", path: "bob@example.com.", raw: "<bob@example.com.>", allow: Allow{TrailingDot: true}, dom: "example.com"},
		{name: "address literal", path: "bob@[192.0.2.1]", raw: "<bob@[192.0.2.1]>", want: AddressLiteral},
		{name: "ipv6 literal", path: "bob@[IPv6:2001:db8::1]", raw: "<bob@[IPv6:2001:db8::1]>", want: AddressLiteral},
		{name: "bad literal", path: "bob@[999.1.1.1]", raw: "<bob@[999.1.1.1]>", want: BadSyntax},
		{name: "no domain", path: "bob@", raw: "<bob@>", want: BadSyntax},
		{name: "underscore domain", path: "bob@ex_ample.com", raw: "<bob@ex_ample.com>", want: BadSyntax},
		{name: "utf-8 local part and domain", path: "usuário@bücher.example", raw: "<usuário@bücher.example>", dom: "bücher.example"},
		{name: "invalid utf-8", path: "b\xffb@example.com", raw: "<b\xffb@example.com>", want: BadSyntax},
		{name: "invalid idn domain", path: "bob@a\u200d.example", raw: "<bob@a\u200d.example>", want: BadSyntax},
		{name: "postmaster-like", path: "postmaster@example.com", raw: "<postmaster@example.com> NOTIFY=NEVER", dom: "example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, got := Check(tc.path, tc.raw, tc.allow)
			if got != tc.want {
				t.Fatalf("trick %q, want %q", got, tc.want)
			}
			if tc.want == "" && a.Domain != tc.dom {
				t.Errorf("domain %q, want %q", a.Domain, tc.dom)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ local, want string }{
		{"bob", "bob@example.com"},
		{"john smith", `"john smith"@example.com`},
		{`a"b`, `"a\"b"@example.com`},
		{"first.last+tag", "first.last+tag@example.com"},
		{"a..b", `"a..b"@example.com`},
	}
	for _, tc := range tests {
		if got := (Address{Local: tc.local, Domain: "example.com"}).String(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.local, got, tc.want)
		}
	}
}

// FuzzCheck: never panics, and an accepted address never hides another
// domain in its local part.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"bob@example.com", "user%remote@example.com", "@a:b@c", `"x@y"@z`, "a!b@c", "b@[1.2.3.4]", "b@c."} {
		f.Add(s, "<"+s+">")
	}
	f.Fuzz(func(t *testing.T, path, raw string) {
		a, trick := Check(path, raw, Allow{})
		if trick != "" {
			return
		}
		if strings.ContainsAny(a.Local, "@%!") {
			t.Errorf("accepted %q with local part %q", path, a.Local)
		}
		if strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(raw), "<"), "@") {
			t.Errorf("accepted a source route %q", raw)
		}
		if a.Domain == "" || strings.HasSuffix(a.Domain, ".") || strings.HasPrefix(a.Domain, "[") {
			t.Errorf("accepted domain %q", a.Domain)
		}
	})
}

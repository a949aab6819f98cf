package heloguard

import (
	"net"
	"regexp"
	"strings"
	"testing"
)

// refLabel and refDomain are an independent statement of RFC 5321
// §4.1.2's sub-domain (Let-dig [Ldh-str]) with RFC 1035's 63-octet label.
const refLabel = `[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?`

// refParse is a reference classifier written differently from parseName:
// regular expressions and net.ParseIP instead of byte loops and netip. It
// returns whether s is acceptable syntax and whether it is a literal.
func refParse(domainRE, v4RE *regexp.Regexp, s string) (valid, literal bool) {
	if s == "" || len(s) > 256 {
		return false, false
	}
	refIPv4 := func(s string) bool {
		m := v4RE.FindStringSubmatch(s)
		if m == nil {
			return false
		}
		for _, o := range m[1:] {
			n := 0
			for _, c := range o {
				n = n*10 + int(c-'0')
			}
			if n > 255 {
				return false
			}
		}
		return true
	}
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") || len(s) < 2 {
			return false, true
		}
		inner := s[1 : len(s)-1]
		if len(inner) >= 5 && strings.EqualFold(inner[:5], "IPv6:") {
			rest := inner[5:]
			return strings.Contains(rest, ":") && net.ParseIP(rest) != nil, true
		}
		return refIPv4(inner), true
	}
	if strings.Contains(s, ":") {
		return net.ParseIP(s) != nil, false
	}
	d := s
	if len(d) > 1 && strings.HasSuffix(d, ".") {
		d = d[:len(d)-1]
	}
	return len(d) <= 255 && domainRE.MatchString(d), false
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"mail.example.net", "mailserver", "localhost", "[192.0.2.1]", "[IPv6:2001:db8::1]",
		"192.0.2.1", "::1", "a..b", "-a.example.com", "a_b", "\xff", "a.", "[", "[]",
	} {
		f.Add(s)
	}
	domainRE := regexp.MustCompile(`^` + refLabel + `(?:\.` + refLabel + `)*$`)
	v4RE := regexp.MustCompile(`^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$`)
	f.Fuzz(func(t *testing.T, s string) {
		n := parseName(s)
		valid := n.kind == kindDomain || n.kind == kindLiteral || n.kind == kindBareIP
		wantValid, wantLiteral := refParse(domainRE, v4RE, s)
		if valid != wantValid {
			t.Fatalf("parseName(%q) = %+v; reference says valid=%v", s, n, wantValid)
		}
		if valid && (n.kind == kindLiteral) != wantLiteral {
			t.Fatalf("parseName(%q) = %+v; reference says literal=%v", s, n, wantLiteral)
		}
		switch n.kind {
		case kindInvalid:
			if n.problem == "" {
				t.Fatalf("parseName(%q): invalid without a problem", s)
			}
		case kindDomain:
			if n.domain != strings.ToLower(strings.TrimSuffix(s, ".")) && n.domain != strings.ToLower(s) {
				t.Fatalf("parseName(%q).domain = %q", s, n.domain)
			}
			if again := parseName(n.domain); again.kind != kindDomain || again.domain != n.domain {
				t.Fatalf("parseName(%q) does not round-trip: %+v", n.domain, again)
			}
		case kindLiteral, kindBareIP:
			if !n.addr.IsValid() || n.addr.Is4In6() {
				t.Fatalf("parseName(%q).addr = %v", s, n.addr)
			}
		}
		// What is echoed to the client is always one printable line.
		p := printable(s, maxWireName)
		for i := 0; i < len(p); i++ {
			if p[i] < 0x20 || p[i] >= 0x7f {
				t.Fatalf("printable(%q) = %q", s, p)
			}
		}
	})
}

package resolver

import "github.com/smtpgateway/gateway/domain"

// canonicalHost returns the cache form of a host name: lower case, without
// the trailing dot. ok is false for strings that are not host names
// (RFC 1123 §2.1 letters, digits and hyphens, plus the underscore found in
// real-world service names); such strings are never sent to a server, as
// *net.Resolver does, and the caller reports them as not found.
//
// It allocates only when the name has upper-case letters, so the warm
// cache path stays allocation-free for the usual lower-case HELO name.
func canonicalHost(s string) (string, bool) {
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if !validHostname(s) {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return lower(s), true
		}
	}
	return s, true
}

// lower is an ASCII-only strings.ToLower: DNS compares names
// case-insensitively in ASCII only (RFC 4343 §3).
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// validHostname reports whether s (without a trailing dot) is a usable host
// name: package domain's Answer rule (LDH and underscore, not all digits,
// so that an IPv4 literal is never mistaken for a name).
func validHostname(s string) bool { return domain.Valid(s, domain.Answer) }

// validTarget reports whether a name taken from an answer (a PTR or MX
// target, in the presentation format miekg/dns produces, with its trailing
// dot) is a host name worth returning. Names with escapes or odd octets
// are dropped, as *net.Resolver drops them, so callers never see them.
// The root "." is kept: it is the null MX of RFC 7505.
func validTarget(fqdn string) bool {
	if fqdn == "." {
		return true
	}
	if len(fqdn) < 2 || fqdn[len(fqdn)-1] != '.' {
		return false
	}
	return validHostname(fqdn[:len(fqdn)-1])
}

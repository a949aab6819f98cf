package resolver

// maxNameLen is the longest presentation-format name without its trailing
// dot: 255 octets on the wire (RFC 1035 §2.3.4) less the length octets of
// the first and the root label.
const maxNameLen = 253

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
// name: 1 to 63 octets per label (RFC 1035 §2.3.4), LDH characters and
// underscore, no hyphen at the start or end of a label (RFC 952, RFC 1123
// §2.1), and not all digits, so that an IPv4 literal is never mistaken for
// a name.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	label, letters := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			letters = true
			label++
		case '0' <= c && c <= '9':
			label++
		case c == '-':
			if label == 0 || i+1 == len(s) || s[i+1] == '.' {
				return false
			}
			letters = true
			label++
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		default:
			return false
		}
		if label > 63 {
			return false
		}
	}
	return label > 0 && letters
}

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

package heloguard

import (
	"net/netip"
	"strings"

	"github.com/smtpgateway/gateway/domain"
	"github.com/smtpgateway/gateway/reply"
)

// nameKind is what a HELO argument turned out to be.
type nameKind uint8

const (
	kindEmpty   nameKind = iota // nothing was sent
	kindDomain                  // an RFC 5321 Domain
	kindLiteral                 // [IPv4] or [IPv6:...], RFC 5321 §4.1.3
	kindBareIP                  // an IP address without brackets
	kindInvalid                 // none of the above
)

// RFC 5321 §4.5.3.1.2 bounds a domain at 255 octets (domain.HELO's
// limit); a longer argument is cut short before parsing.
const maxDomainLen = 255

// Problems the parser reports for kindInvalid: the syntax check's reasons,
// domain.Check's for a name, and a bad address literal.
const (
	problemTooLong      = string(domain.TooLong)
	problemLabelTooLong = string(domain.LabelTooLong)
	problemEmptyLabel   = string(domain.EmptyLabel)
	problemHyphen       = string(domain.Hyphen)
	problemUnderscore   = string(domain.BadUnderscore)
	problemSpace        = string(domain.Space)
	problemControl      = string(domain.Control)
	problem8Bit         = string(domain.EightBit)
	problemBadChar      = string(domain.BadChar)
	problemBadLiteral   = "bad_literal"
)

// name is a parsed HELO argument.
type name struct {
	kind    nameKind
	domain  string     // kindDomain: lower case, without a trailing dot
	addr    netip.Addr // kindLiteral, kindBareIP: unmapped
	labels  int        // kindDomain: number of labels
	problem string     // kindInvalid: why
}

// parseName classifies a HELO/EHLO argument. It never fails: what is not
// a domain, a literal or a bare address is kindInvalid with a problem.
func parseName(s string) name {
	if s == "" {
		return name{kind: kindEmpty}
	}
	if len(s) > maxDomainLen+1 {
		return name{kind: kindInvalid, problem: problemTooLong}
	}
	if s[0] == '[' {
		return parseLiteral(s)
	}
	d := s
	if len(d) > 1 && d[len(d)-1] == '.' {
		d = d[:len(d)-1] // one trailing dot: the absolute DNS form
	}
	// "192.0.2.1." is still an address, not a name with a numeric TLD.
	if a, ok := parseBareIP(d); ok && (d == s || a.Is4()) {
		return name{kind: kindBareIP, addr: a}
	}
	labels, problem := checkDomain(d)
	if problem != "" {
		return name{kind: kindInvalid, problem: problem}
	}
	return name{kind: kindDomain, domain: lowerASCII(d), labels: labels}
}

// checkDomain reports whether s is an RFC 5321 §4.1.2 Domain:
//
//	Domain     = sub-domain *("." sub-domain)
//	sub-domain = Let-dig [Ldh-str]
//
// with the RFC 1035 length limits. It returns the number of labels, or
// the first problem found.
//
// The syntax is package domain's HELO rule; the problem names are
// domain.Problem's.
func checkDomain(s string) (labels int, problem string) {
	labels, p := domain.Check(s, domain.HELO)
	return labels, string(p)
}

// parseLiteral parses "[IPv4]" or "[IPv6:addr]" (RFC 5321 §4.1.3). The
// General-address-literal form with another tag has no registered tag to
// interpret, so it is refused as bad syntax.
func parseLiteral(s string) name {
	bad := name{kind: kindInvalid, problem: problemBadLiteral}
	if len(s) < 3 || s[len(s)-1] != ']' {
		return bad
	}
	inner := s[1 : len(s)-1]
	const tag = "ipv6:" // RFC 5234 §2.3: quoted strings are case-insensitive
	if len(inner) > len(tag) && strings.EqualFold(inner[:len(tag)], tag) {
		a, err := netip.ParseAddr(inner[len(tag):])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad
		}
		return name{kind: kindLiteral, addr: a.Unmap()}
	}
	a, ok := parseIPv4(inner)
	if !ok {
		return bad
	}
	return name{kind: kindLiteral, addr: a}
}

// parseBareIP recognises an IPv4 dotted quad or an IPv6 address sent
// without brackets.
func parseBareIP(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	return parseIPv4(s)
}

// parseIPv4 parses RFC 5321's IPv4-address-literal body: four Snum of one
// to three digits, each at most 255. Unlike netip.ParseAddr it accepts
// leading zeros, which the RFC grammar allows (Snum = 1*3DIGIT), reading
// them as decimal.
func parseIPv4(s string) (netip.Addr, bool) {
	var b [4]byte
	part, digits, val := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || part > 3 {
				return netip.Addr{}, false
			}
			b[part] = byte(val)
			part, digits, val = part+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits == 3 {
			return netip.Addr{}, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return netip.Addr{}, false
		}
	}
	if part != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(b), true
}

// normalizeDomain returns s in lower case without one trailing dot, and
// whether it is then a valid domain. It is used for configured names and
// for PTR answers.
func normalizeDomain(s string) (string, bool) {
	if len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if _, p := checkDomain(s); p != "" {
		return "", false
	}
	return lowerASCII(s), true
}

// nameKey is the form of a HELO argument that comparisons use: ASCII
// lower case, one trailing dot dropped.
func nameKey(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return lowerASCII(s)
}

// lowerASCII lowers ASCII letters only (DNS names compare ASCII
// case-insensitively, RFC 1035 §2.3.3), allocating only when s has an
// upper-case letter.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// under reports whether name is domain or a name under it; both in
// normalized form.
func under(name, domain string) bool {
	if len(name) == len(domain) {
		return name == domain
	}
	return len(name) > len(domain) && name[len(name)-len(domain)-1] == '.' && strings.HasSuffix(name, domain)
}

// logName renders a name the client sent for evidence: printable, then
// cut by reply.Clip like every client string in the gateway's log.
func logName(s string) string {
	return reply.Clip(printable(s, len(s)))
}

// printable makes s safe to put on the wire or in a log line: bytes
// outside printable ASCII become '?', and s is cut to max bytes with
// "..." after. It allocates only when it changes s.
func printable(s string, max int) string {
	clean := len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] < 0x7f
	}
	if clean {
		return s
	}
	cut := s
	if len(cut) > max {
		cut = cut[:max]
	}
	b := make([]byte, 0, len(cut)+3)
	for i := 0; i < len(cut); i++ {
		c := cut[i]
		if c < 0x20 || c >= 0x7f {
			c = '?'
		}
		b = append(b, c)
	}
	if len(s) > max {
		b = append(b, "..."...)
	}
	return string(b)
}

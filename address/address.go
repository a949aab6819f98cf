package address

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/smtpgateway/gateway/domain"
)

// Trick names one address form; the names appear in logs and metrics.
type Trick string

// The address forms Check recognizes.
const (
	PercentHack    Trick = "percent_hack"
	BangPath       Trick = "bang_path"
	SourceRoute    Trick = "source_route"
	QuotedAt       Trick = "quoted_at"
	TrailingDot    Trick = "trailing_dot"
	AddressLiteral Trick = "address_literal"
	BadSyntax      Trick = "bad_syntax"
)

// Allow lists the forms the operator explicitly accepts.
type Allow struct {
	PercentHack, BangPath, SourceRoute, QuotedAt, TrailingDot, AddressLiteral bool
}

func (a Allow) allows(t Trick) bool {
	switch t {
	case PercentHack:
		return a.PercentHack
	case BangPath:
		return a.BangPath
	case SourceRoute:
		return a.SourceRoute
	case QuotedAt:
		return a.QuotedAt
	case TrailingDot:
		return a.TrailingDot
	case AddressLiteral:
		return a.AddressLiteral
	}
	return false
}

// IsASCII reports whether s holds only ASCII characters: an address that
// does not needs SMTPUTF8 (RFC 6531 §3.2).
func IsASCII(s string) bool { return domain.IsASCII(s) }

// Address is a checked mailbox.
type Address struct {
	Local  string // as go-smtp decoded it (quotes removed)
	Domain string // lower case, without a trailing dot
	Quoted bool   // the local part was a quoted-string
}

// String renders the mailbox for an SMTP command, quoting the local part
// when it is not a dot-atom (RFC 5321 §4.1.2).
func (a Address) String() string {
	local := a.Local
	if a.Quoted || !isDotAtom(local) {
		local = quote(local)
	}
	return local + "@" + a.Domain
}

// Check examines a recipient. path is the mailbox go-smtp parsed (it has
// removed quotes and any source route); raw is the RCPT TO argument as the
// client sent it, e.g. `<@relay.example:user@remote.example> NOTIFY=NEVER`.
// It returns the address and the first refused form found ("" if none).
func Check(path, raw string, allow Allow) (Address, Trick) {
	raw = strings.TrimSpace(raw)
	inner := strings.TrimPrefix(raw, "<")
	var a Address
	if !utf8.ValidString(path) {
		// RFC 6531 §3.3: a non-ASCII mailbox is UTF-8.
		return a, BadSyntax
	}
	at := strings.LastIndexByte(path, '@')
	if at <= 0 || at == len(path)-1 {
		return a, BadSyntax
	}
	a.Local, a.Domain = path[:at], strings.ToLower(path[at+1:])
	a.Quoted = strings.HasPrefix(inner, `"`)

	var found []Trick
	if strings.HasPrefix(inner, "@") {
		found = append(found, SourceRoute)
	}
	if strings.Contains(a.Local, "@") {
		if !a.Quoted {
			return a, BadSyntax
		}
		found = append(found, QuotedAt)
	}
	if strings.Contains(a.Local, "%") {
		found = append(found, PercentHack)
	}
	if strings.Contains(a.Local, "!") {
		found = append(found, BangPath)
	}
	if strings.HasSuffix(a.Domain, ".") {
		found = append(found, TrailingDot)
		a.Domain = strings.TrimSuffix(a.Domain, ".")
	}
	if strings.HasPrefix(a.Domain, "[") {
		if !validLiteral(a.Domain) {
			return a, BadSyntax
		}
		found = append(found, AddressLiteral)
	} else if !domain.Valid(a.Domain, domain.Mailbox) {
		return a, BadSyntax
	} else if !domain.IsASCII(a.Domain) {
		// An internationalized domain must be a valid IDN (RFC 6531 §3.3).
		if _, err := domain.Normalize(a.Domain); err != nil {
			return a, BadSyntax
		}
	}
	for _, t := range found {
		if !allow.allows(t) {
			return a, t
		}
	}
	return a, ""
}

func validLiteral(d string) bool {
	if !strings.HasSuffix(d, "]") {
		return false
	}
	s := d[1 : len(d)-1]
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		a, err := netip.ParseAddr(s[5:])
		return err == nil && a.Is6()
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// isDotAtom reports whether s can be sent unquoted (RFC 5321 §4.1.2).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch >= 0x80 {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(ch)) {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

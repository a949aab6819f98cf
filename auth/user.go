package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smtpgateway/gateway/domain"
)

// ErrInvalidCredentials means the user name or the password is wrong (or
// the authorization identity is refused). The caller answers
// 535 5.7.8 (RFC 4954 §6); every other error from a Verifier is temporary
// (454 4.7.0). Errors wrap it to add detail for the log, so test with
// errors.Is.
var ErrInvalidCredentials = errors.New("auth: invalid credentials")

// ErrWrongPassword wraps ErrInvalidCredentials when the user exists and
// only the password is wrong: the user name is then safe to log as typed
// (an unknown name may be a password typed into the wrong field; see
// UserHash). A Verifier that cannot tell (Downstream) never returns it.
var ErrWrongPassword = fmt.Errorf("%w: wrong password", ErrInvalidCredentials)

// Wrapped forms of ErrInvalidCredentials, so the log can tell an unknown
// user from a wrong password while the client hears the same 535.
var (
	errUnknownUser   = fmt.Errorf("%w: unknown user", ErrInvalidCredentials)
	errWrongPassword = ErrWrongPassword
	errEmptyPassword = fmt.Errorf("%w: empty user name or password", ErrInvalidCredentials)
)

// Verifier checks a user name and password. It returns nil when they are
// good, an error wrapping ErrInvalidCredentials when they are not, and any
// other error when it cannot tell now (the client should retry later).
// *Store and *Downstream implement it.
type Verifier interface {
	Verify(ctx context.Context, username, password string) error
}

var (
	_ Verifier = (*Store)(nil)
	_ Verifier = (*Downstream)(nil)
)

// User is one account: its login name, its password hash (bcrypt or
// argon2id, see CheckHashFormat) and the envelope senders it may use.
// Addresses holds full addresses ("sales@example.com") or whole domains
// ("@example.com"); when empty the user may send as its own name if that
// is an address.
type User struct {
	Name         string
	PasswordHash string
	Addresses    []string
}

// Owns reports whether u may use address as its envelope sender (MAIL
// FROM). Domains are compared in any case (RFC 5321 §2.4), and so are
// local parts: RFC 5321 lets a server treat "Alice" and "alice" as two
// mailboxes, but no mail system in front of which the gateway stands does,
// and users' clients (or auto-capitalising phone keyboards) write
// "ALICE@LAB.TEST" for alice@lab.test (issue 12). The null sender "" is
// nobody's own address: Owns returns false for it, and whether an
// authenticated user may send with it is the caller's rule ([auth]
// allow_null_sender). Callers that verified a user elsewhere (Downstream)
// can ask User{Name: name}.Owns(address).
func (u User) Owns(address string) bool {
	if address == "" {
		return false
	}
	allowed := u.Addresses
	if len(allowed) == 0 {
		if !strings.Contains(u.Name, "@") {
			return false
		}
		allowed = []string{u.Name}
	}
	local, domain, ok := splitAddress(address)
	if !ok {
		return false
	}
	for _, a := range allowed {
		l, d, ok := splitAddress(a)
		if ok && (l == "" || strings.EqualFold(l, local)) && sameDomain(d, domain) {
			return true
		}
	}
	return false
}

// sameDomain compares domains in their normalised form (IDNA A-labels,
// lower case): bücher.example is xn--bcher-kva.example. A domain that
// does not normalise matches nothing.
func sameDomain(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	na, err := domain.Normalize(a)
	if err != nil {
		return false
	}
	nb, err := domain.Normalize(b)
	return err == nil && na == nb
}

// splitAddress splits at the last '@' (a quoted local part may contain
// more). ok is false when there is no '@' or no domain.
func splitAddress(a string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 || i == len(a)-1 {
		return "", "", false
	}
	return a[:i], a[i+1:], true
}

// canonicalName is the key a user name is stored and looked up under: a
// name that is an address has its domain lowercased, so that "Bob@Example.com"
// typed by a phone's auto-capitalising keyboard finds "Bob@example.com",
// while the local part stays exact: user names are looked up as written.
func canonicalName(name string) string {
	local, domain, ok := splitAddress(name)
	if !ok {
		return name
	}
	return local + "@" + strings.ToLower(domain)
}

// maxName is the longest user name or address accepted: RFC 5321
// §4.5.3.1.3 caps a path at 256 octets including the angle brackets.
const maxName = 254

// checkName validates a user name: it must survive the users file format
// (no ':'), a log line and a SASL exchange (no spaces, controls or NULs).
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty; every user needs a name")
	case len(name) > maxName:
		return fmt.Errorf("longer than %d bytes", maxName)
	case !utf8.ValidString(name):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(name, ':'):
		return errors.New(`contains ":", which separates the fields of the users file`)
	case strings.ContainsFunc(name, isSpaceOrControl):
		return errors.New("contains spaces or control characters")
	}
	return nil
}

// checkAddress validates an Addresses entry: "local@domain" or "@domain".
func checkAddress(a string) error {
	if err := checkName(a); err != nil {
		return err
	}
	_, domain, ok := splitAddress(a)
	if !ok {
		return errors.New(`want "local@domain" or "@domain" for a whole domain`)
	}
	if strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, ".") || strings.Contains(domain, "..") {
		return errors.New("malformed domain")
	}
	return nil
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

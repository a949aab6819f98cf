package domain

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// Normalize returns the form in which the gateway compares domains:
// ASCII, lower case, without a trailing dot, each internationalized label
// as its IDNA A-label (RFC 5890 §2.3.2.1, UTS #46 mapping for lookup), so
// "Bücher.example", "bücher.example." and "xn--bcher-kva.example" all
// become "xn--bcher-kva.example". A name that merely looks like another,
// such as one spelt with Cyrillic letters, keeps a different A-label and
// stays different.
//
// An ASCII name is only lower-cased (a fast path: no allocation when it is
// lower case already). A non-ASCII name that is not a valid IDN, and a
// name ending in an empty label ("example.com.."), is an error; callers
// then treat the domain as foreign. Address literals are
// returned lower-cased.
//
// This is the one normaliser: local_domains, relay control, routes, HELO
// identity and sender ownership all compare through it. It checks no
// syntax beyond IDNA's; Check does.
func Normalize(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", errors.New("domain: empty")
	}
	a := d
	if !IsASCII(d) {
		var err error
		a, err = idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("domain: %q: not a valid internationalized domain name: %w", d, err)
		}
	}
	if strings.HasSuffix(a, ".") {
		// A second trailing dot (or a full stop IDNA maps to one) is an
		// empty label: only one dot is the absolute form. Cutting it too
		// would make Normalize(Normalize(d)) differ from Normalize(d).
		return "", fmt.Errorf("domain: %q ends in an empty label", d)
	}
	return lowerASCII(a), nil
}

// IsASCII reports whether s holds only ASCII characters: a name that does
// not is a U-label form, and an address that does not needs SMTPUTF8
// (RFC 6531 §3.2).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases s, allocating only when it must.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

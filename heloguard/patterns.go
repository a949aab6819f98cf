package heloguard

import (
	"fmt"
	"regexp"
	"strings"
)

// pattern is one entry of allow_names or deny_names:
//
//	"mail.example.com"  exactly that name (a literal such as "[192.0.2.1]" too)
//	"*.example.com"     names strictly under example.com
//	".example.com"      example.com and every name under it
//	"/^ylmf-pc$/"       a Go RE2 regexp, case-insensitive, matched against
//	                    the HELO argument as sent (so it can match names
//	                    that fail syntax)
//
// Names compare ASCII case-insensitively, with one trailing dot ignored.
type pattern struct {
	text   string // as configured, for evidence
	exact  string // exact name
	suffix string // a suffix wildcard's domain
	apex   bool   // the suffix matches the domain itself too
	re     *regexp.Regexp
}

// compilePatterns validates and compiles a pattern list, reporting each
// bad entry under key.
func compilePatterns(key string, in []string, addf func(string, ...any)) []pattern {
	out := make([]pattern, 0, len(in))
	for i, s := range in {
		p, err := compilePattern(s)
		if err != nil {
			addf("%s[%d]: %v", key, i, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

func compilePattern(s string) (pattern, error) {
	p := pattern{text: s}
	switch {
	case len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/':
		re, err := regexp.Compile("(?i)" + s[1:len(s)-1])
		if err != nil {
			return p, fmt.Errorf("invalid regexp %q: %v", s, err)
		}
		p.re = re
		return p, nil
	case strings.HasPrefix(s, "/"):
		return p, fmt.Errorf("regexp %q lacks its closing '/'", s)
	case strings.HasPrefix(s, "*."):
		d, ok := normalizeDomain(s[2:])
		if !ok {
			return p, fmt.Errorf("%q: %q is not a domain name", s, s[2:])
		}
		p.suffix = d
		return p, nil
	case strings.HasPrefix(s, "."):
		d, ok := normalizeDomain(s[1:])
		if !ok {
			return p, fmt.Errorf("%q: %q is not a domain name", s, s[1:])
		}
		p.suffix, p.apex = d, true
		return p, nil
	}
	n := parseName(s)
	switch n.kind {
	case kindDomain:
		p.exact = n.domain
	case kindLiteral, kindBareIP:
		p.exact = lowerASCII(s)
	default:
		return p, fmt.Errorf("%q is not a name, a wildcard (*.example.com, .example.com) or a /regexp/", s)
	}
	return p, nil
}

// match reports whether the HELO argument raw (with key = nameKey(raw))
// matches.
func (p *pattern) match(raw, key string) bool {
	switch {
	case p.re != nil:
		return p.re.MatchString(raw)
	case p.suffix != "":
		if p.apex && key == p.suffix {
			return true
		}
		return len(key) > len(p.suffix) && under(key, p.suffix)
	}
	return key == p.exact
}

// matchAny returns the first pattern that matches, or nil.
func matchAny(list []pattern, raw, key string) *pattern {
	for i := range list {
		if list[i].match(raw, key) {
			return &list[i]
		}
	}
	return nil
}

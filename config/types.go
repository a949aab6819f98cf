package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Duration is a time.Duration written in the file as a Go duration string
// ("30s", "5m", "1h30m").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText parses a duration string; a bare number is refused because
// the unit would be a guess.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it with a unit, e.g. \"30s\", \"5m\" or \"1h\"", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative; durations must be zero or more", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders the duration the way it is written in the file.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// Prefix is a CIDR network ("192.0.2.0/24", "2001:db8::/32"); a bare
// address means that single host.
type Prefix struct{ netip.Prefix }

// UnmarshalText parses a CIDR or a single address.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if pr, err := netip.ParsePrefix(s); err == nil {
		if pr.Masked() != pr {
			return fmt.Errorf("%q has host bits set; did you mean %q?", s, pr.Masked().String())
		}
		p.Prefix = pr
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		p.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return nil
	}
	return fmt.Errorf("%q is not a network; write a CIDR such as \"192.0.2.0/24\" or an address such as \"192.0.2.7\"", s)
}

// MarshalText renders the network in CIDR notation.
func (p Prefix) MarshalText() ([]byte, error) {
	return []byte(p.Prefix.String()), nil
}

// Prefixes converts a list for packages that take []netip.Prefix.
func Prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Prefix)
	}
	return out
}

package downstream

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Scheme is the kind of downstream a URL names.
type Scheme string

// Schemes of a downstream URL.
const (
	SMTP    Scheme = "smtp"    // smtp://host:port: SMTP, STARTTLS as [relay] tls says
	SMTPS   Scheme = "smtps"   // smtps://host:port: SMTP over TLS from the first byte (RFC 8314)
	Maildir Scheme = "maildir" // maildir:PATH: files, for labs
)

// want is the tail of every parse error: the forms a downstream may take.
const want = "want smtp://host:port, smtps://host:port or maildir:PATH"

// URL is a parsed downstream. A URL never holds credentials: Parse
// refuses them (the gateway does not log in to the downstream), so
// String can never leak a password.
type URL struct {
	Scheme Scheme
	Host   string // SMTP and SMTPS: host name or IP address, without brackets
	Port   string // SMTP and SMTPS: 0 to 65535, as written
	Path   string // Maildir: the directory, as written

	hostPort string // SMTP and SMTPS: host:port as written
}

// Address returns "host:port" (SMTP and SMTPS) as written, the address
// the gateway dials.
func (u URL) Address() string {
	if u.hostPort == "" && u.Host != "" {
		return net.JoinHostPort(u.Host, u.Port)
	}
	return u.hostPort
}

// IsSMTP reports whether the downstream speaks SMTP (smtp:// or smtps://).
func (u URL) IsSMTP() bool { return u.Scheme == SMTP || u.Scheme == SMTPS }

// String returns the URL as written in the configuration, and as logs and
// metrics name the downstream: "smtp://10.0.0.5:25", "maildir:/var/mail".
func (u URL) String() string {
	if u.Scheme == Maildir {
		return "maildir:" + u.Path
	}
	return string(u.Scheme) + "://" + u.Address()
}

// Rules are what Parse needs from its caller: the host name rule and the
// masking of secrets, both config's (this package imports none of the
// gateway's). A nil field accepts every host, masks nothing.
type Rules struct {
	IsHost func(string) bool   // reports whether a host that is no IP address is a valid host name
	Mask   func(string) string // masks the password in a URL before it is quoted
}

// Parse parses a downstream written as "smtp://host:port",
// "smtps://host:port" or "maildir:PATH". Its errors quote s and end with
// the forms a downstream may take; a user name or password in s is
// refused, quoted through rules.Mask.
func Parse(s string, rules Rules) (URL, error) {
	if strings.Contains(s, "://") && strings.Contains(s, "@") {
		// Credentials in the URL: the gateway never logs in to the
		// downstream, and the password must not be repeated back.
		if rules.Mask != nil {
			s = rules.Mask(s)
		}
		return URL{}, fmt.Errorf("%q: a user name or password in the URL is not supported (the gateway does not log in to the downstream; allow its address there instead); %s", s, want)
	}
	switch {
	case strings.HasPrefix(s, "maildir:"):
		p := strings.TrimPrefix(s, "maildir:")
		if p == "" {
			return URL{}, fmt.Errorf("%q has no path; %s", s, want)
		}
		return URL{Scheme: Maildir, Path: p}, nil
	case strings.HasPrefix(s, "smtp://"), strings.HasPrefix(s, "smtps://"):
		scheme, hp, _ := strings.Cut(s, "://")
		host, port, err := SplitHostPort(hp, rules.IsHost)
		if err != nil {
			return URL{}, fmt.Errorf("%q: %v", s, err)
		}
		return URL{Scheme: Scheme(scheme), Host: host, Port: port, hostPort: hp}, nil
	}
	if !strings.Contains(s, "://") {
		if _, _, err := SplitHostPort(s, rules.IsHost); err == nil {
			return URL{}, fmt.Errorf("%q: unknown scheme; %s: did you mean \"smtp://%s\"?", s, want, s)
		}
	}
	return URL{}, fmt.Errorf("%q: unknown scheme; %s", s, want)
}

// SplitHostPort splits "host:port" with the operator's error texts: not
// host:port, no host, a port that is no number from 0 to 65535, a host
// that is neither an IP address nor (by isHost, when not nil) a host name.
func SplitHostPort(s string, isHost func(string) bool) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		return "", "", fmt.Errorf("%q is not host:port; write it like \"0.0.0.0:25\" or \"[::]:587\"", s)
	}
	if host == "" {
		return "", "", fmt.Errorf("%q has no host; write \"0.0.0.0%s\" to listen on every address", s, s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && isHost != nil && !isHost(host) {
		return "", "", fmt.Errorf("%q: %q is neither an IP address nor a host name", s, host)
	}
	return host, port, nil
}

package heloguard

import (
	"strings"
)

// HeaderName is the header field the gateway adds to relayed messages
// with every check's result (Verdict.HeaderValue).
const HeaderName = "X-HELO-Check"

// HeaderValue renders the X-HELO-Check value: our hostname, the HELO and
// client address, one "check=result" token per result, the overall
// action and the exemption if any:
//
//	mx.example.com; helo=mail.example.net; client-ip=192.0.2.7;
//	  required=pass; syntax=pass; fqdn=pass; ... changed=pass; action=accept
//
// The HELO is made a token: bytes outside printable ASCII and the
// delimiters ";", '"', "\" and white space become "?"; a missing HELO is
// helo="" .
func (v Verdict) HeaderValue(hostname string) string {
	var b strings.Builder
	b.Grow(64 + 24*len(v.Results))
	b.WriteString(hostname)
	b.WriteString("; helo=")
	if v.Client.HELO == "" {
		b.WriteString(`""`)
	} else {
		b.WriteString(headerToken(v.Client.HELO))
	}
	b.WriteString("; client-ip=")
	if v.Client.IP.IsValid() {
		b.WriteString(v.Client.IP.Unmap().String())
	} else {
		b.WriteString("unknown")
	}
	for _, r := range v.Results {
		b.WriteString("; ")
		b.WriteString(r.Check)
		b.WriteByte('=')
		b.WriteString(string(r.Result))
	}
	b.WriteString("; action=")
	b.WriteString(string(v.Action))
	if v.Exempt != "" {
		b.WriteString("; exempt=")
		b.WriteString(v.Exempt)
	}
	return b.String()
}

// headerToken makes a client-supplied name safe inside a header value.
func headerToken(s string) string {
	s = printable(s, maxLogName)
	return strings.Map(func(c rune) rune {
		switch c {
		case ';', '"', '\\', ' ', '\t', '(', ')':
			return '?'
		}
		return c
	}, s)
}

// AuthResultsValue renders an RFC 8601 Authentication-Results value with
// the iprev method (§2.7.3), e.g.
//
//	mx.example.com; iprev=pass policy.iprev=192.0.2.7 (host.example.net)
//
// "none" when iprev was not evaluated (RFC 8601 §2.2). An IPv6 address is
// a quoted-string, since ":" may not appear in a token (RFC 2045 §5.1).
func (v Verdict) AuthResultsValue(hostname string) string {
	if v.IPRev == Skipped || v.IPRev == "" || !v.Client.IP.IsValid() {
		return hostname + "; none"
	}
	ip := v.Client.IP.Unmap()
	addr := ip.String()
	if ip.Is6() {
		addr = `"` + addr + `"`
	}
	s := hostname + "; iprev=" + string(v.IPRev) + " policy.iprev=" + addr
	switch {
	case v.IPRev == Pass && v.IPRevName != "":
		s += " (" + v.IPRevName + ")"
	case v.IPRev == Fail && len(v.PTR) == 0:
		s += " (no PTR)"
	case v.IPRev == Fail:
		s += " (PTR not confirmed)"
	}
	return s
}

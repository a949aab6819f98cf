package heloguard

import (
	"net/netip"
	"strings"
)

// Reasons for skipped results.
const (
	reasonOff        = "off"          // the check's action is off
	reasonExempt     = "exempt"       // allow_clients or allow_names
	reasonNoHELO     = "no_helo"      // nothing to judge
	reasonBadSyntax  = "invalid_name" // syntax failed; name checks cannot read it
	reasonAddress    = "address"      // a literal or bare IP: not a name
	reasonNotFQDN    = "single_label" // a single label has no public DNS
	reasonNoClientIP = "no_client_ip" // the client's address is unknown
	reasonNoResolver = "no_resolver"  // Evaluate was given no Resolver
)

// Fixes shared by several checks. The sentences are sent to clients when
// explain is on: plain ASCII, no client data.
const (
	fixPublicName  = "use your server's public hostname (e.g. mail.example.com) or authenticate"
	fixOwnedName   = "use your server's public hostname in a domain you own, or authenticate"
	fixTryLater    = "try again later; if it persists, make sure the name's DNS servers answer"
	fixAskProvider = "ask the owner of the address (your ISP or hosting provider) to set a PTR record naming your server, or relay through your provider's mail server"
)

func skipped(check, reason string) CheckResult {
	return CheckResult{Check: check, Result: Skipped, Action: ActionOff, Reason: reason}
}

func passed(check, evidence string) CheckResult {
	return CheckResult{Check: check, Result: Pass, Action: ActionAccept, Evidence: evidence}
}

func failed(check, reason, problem, fix, evidence string) CheckResult {
	return CheckResult{Check: check, Result: Fail, Reason: reason, Explanation: problem + "; " + fix, Fix: fix, Evidence: evidence}
}

// tempFailed is a check that DNS could not answer now.
func tempFailed(check, why, what string) CheckResult {
	return CheckResult{
		Check:       check,
		Result:      TempError,
		Reason:      why,
		Explanation: "DNS lookup of " + what + " failed temporarily (" + why + "); " + fixTryLater,
		Fix:         fixTryLater,
		Evidence:    what + ": " + why,
	}
}

// nameSkip returns the reason a name-based check does not apply to this
// HELO argument, or "" when it is a domain.
func (e *evaluation) nameSkip() string {
	switch e.n.kind {
	case kindDomain:
		return ""
	case kindEmpty:
		return reasonNoHELO
	case kindInvalid:
		return reasonBadSyntax
	}
	return reasonAddress
}

func (e *evaluation) heloEvidence() string {
	return "HELO '" + logName(e.c.HELO) + "'"
}

// required fails when no HELO/EHLO was sent or it had no name
// (RFC 5321 §4.1.1.1: the argument is mandatory).
func (e *evaluation) required() CheckResult {
	switch {
	case !e.c.Sent:
		return failed(CheckRequired, "missing", "no HELO/EHLO was sent",
			"send EHLO with your server's public hostname (e.g. mail.example.com) first", "no HELO/EHLO")
	case e.c.HELO == "":
		return failed(CheckRequired, "empty", "HELO/EHLO was sent without a name",
			"send EHLO with your server's public hostname (e.g. mail.example.com)", "empty HELO/EHLO argument")
	}
	return passed(CheckRequired, "")
}

// syntax fails when the argument is neither an RFC 5321 Domain nor an
// address literal (nor a bare IP address, which bare_ip judges).
func (e *evaluation) syntax() CheckResult {
	switch e.n.kind {
	case kindEmpty:
		return skipped(CheckSyntax, reasonNoHELO)
	case kindInvalid:
		return failed(CheckSyntax, e.n.problem,
			"HELO '"+e.quoted+"' is not a valid host name ("+problemText(e.n.problem)+")",
			fixPublicName, e.heloEvidence()+": "+e.n.problem)
	}
	return passed(CheckSyntax, "")
}

func problemText(p string) string {
	switch p {
	case problemTooLong:
		return "longer than 255 characters"
	case problemLabelTooLong:
		return "a label is longer than 63 characters"
	case problemEmptyLabel:
		return "an empty label: two dots in a row, or a leading dot"
	case problemHyphen:
		return "a label starts or ends with a hyphen"
	case problemUnderscore:
		return "it contains an underscore"
	case problemSpace:
		return "it contains a space"
	case problemControl:
		return "it contains a control character"
	case problem8Bit:
		return "it contains non-ASCII bytes"
	case problemBadLiteral:
		return "a malformed address literal; the forms are [192.0.2.1] and [IPv6:2001:db8::1]"
	}
	return "only letters, digits, hyphens and dots are allowed"
}

// fqdn fails for a single label and for a name whose last label cannot
// be a top-level domain (all digits, RFC 3696 §2).
func (e *evaluation) fqdn() CheckResult {
	if why := e.nameSkip(); why != "" {
		return skipped(CheckFQDN, why)
	}
	d := e.n.domain
	if e.n.labels == 1 {
		return failed(CheckFQDN, "single_label", "HELO '"+e.quoted+"' is not a fully-qualified domain name",
			fixPublicName, e.heloEvidence()+": one label")
	}
	tld := d[strings.LastIndexByte(d, '.')+1:]
	if allDigits(tld) {
		return failed(CheckFQDN, "numeric_tld", "HELO '"+e.quoted+"' is not a fully-qualified domain name (its last label is a number)",
			fixPublicName, e.heloEvidence()+": numeric top-level label")
	}
	return passed(CheckFQDN, "")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// bareIP fails for an IP address sent without brackets: RFC 5321 §4.1.3
// requires an address to be a bracketed literal.
func (e *evaluation) bareIP() CheckResult {
	switch e.n.kind {
	case kindEmpty:
		return skipped(CheckBareIP, reasonNoHELO)
	case kindInvalid:
		return skipped(CheckBareIP, reasonBadSyntax)
	case kindBareIP:
		return failed(CheckBareIP, "bare_ip", "HELO '"+e.quoted+"' is an IP address, not a host name",
			fixPublicName, e.heloEvidence()+": IP address without brackets")
	}
	return passed(CheckBareIP, "")
}

// literal judges address literals: refused unless they are the client's
// own address, or always under reject_all.
func (e *evaluation) literal() CheckResult {
	switch e.n.kind {
	case kindEmpty:
		return skipped(CheckLiteral, reasonNoHELO)
	case kindInvalid:
		return skipped(CheckLiteral, reasonBadSyntax)
	case kindDomain, kindBareIP:
		return passed(CheckLiteral, "")
	}
	ev := e.heloEvidence() + "; client " + e.ipString()
	if e.action == ActionRejectAll {
		return failed(CheckLiteral, "literal", "HELO '"+e.quoted+"' is an address literal, which this server does not accept",
			"use your server's public hostname (e.g. mail.example.com)", ev)
	}
	if e.n.addr != e.ip {
		return failed(CheckLiteral, "literal_mismatch",
			"HELO '"+e.quoted+"' is not the address you connect from ("+e.ipString()+")",
			"use your server's public hostname (e.g. mail.example.com) or the literal of your own address", ev)
	}
	return passed(CheckLiteral, ev)
}

func (e *evaluation) ipString() string {
	if !e.ip.IsValid() {
		return "unknown"
	}
	return e.ip.String()
}

// reserved fails for localhost and for names under special-use or
// private names that cannot exist in public DNS (RFC 6761, RFC 2606,
// RFC 8375, the configured list).
func (e *evaluation) reserved() CheckResult {
	if why := e.nameSkip(); why != "" {
		return skipped(CheckReserved, why)
	}
	d := e.n.domain
	if d == "localhost" || d == "localhost.localdomain" {
		return failed(CheckReserved, "localhost", "HELO '"+e.quoted+"' is a name for the local machine", fixOwnedName,
			e.heloEvidence()+": localhost")
	}
	for s := d; ; {
		if e.p.reserved[s] {
			return failed(CheckReserved, "reserved",
				"HELO '"+e.quoted+"' is under the reserved name ."+printable(s, maxWireName)+", which cannot exist in public DNS",
				fixOwnedName, e.heloEvidence()+": under reserved ."+s)
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return passed(CheckReserved, "")
}

// self fails when a client claims the gateway's own hostname, one of its
// local domains (exactly) or one of its addresses: cPanel's anti-spoofing
// check. A client connecting from one of our own (non-loopback) addresses
// is this host. Loopback is not exempt: it is untrusted unless listed in
// trusted_networks, so that labs and tests on 127.0.0.1 see the policy
// (issue 4), and a local program that must use our name is trusted there.
func (e *evaluation) self() CheckResult {
	switch e.n.kind {
	case kindEmpty:
		return skipped(CheckSelf, reasonNoHELO)
	case kindInvalid:
		return skipped(CheckSelf, reasonBadSyntax)
	}
	if e.ours(e.ip) {
		return passed(CheckSelf, "client "+e.ip.String()+" is this host")
	}
	const fix = "use your own server's hostname, not this server's"
	switch e.n.kind {
	case kindDomain:
		d := e.n.domain
		if d == e.p.hostname {
			return failed(CheckSelf, "our_hostname", "HELO '"+e.quoted+"' is this server's own hostname", fix,
				e.heloEvidence()+": our hostname")
		}
		if contains(e.p.domains, d) {
			return failed(CheckSelf, "our_domain", "HELO '"+e.quoted+"' is one of this server's own domains", fix,
				e.heloEvidence()+": our local domain")
		}
	case kindLiteral, kindBareIP:
		if e.ours(e.n.addr) {
			return failed(CheckSelf, "our_address", "HELO '"+e.quoted+"' is this server's own address", fix,
				e.heloEvidence()+": our address")
		}
	}
	return passed(CheckSelf, "")
}

func (e *evaluation) ours(a netip.Addr) bool {
	for _, x := range e.p.addrs {
		if x == a {
			return true
		}
	}
	return false
}

// changed fails when the client greets again with another name in the
// same session.
func (e *evaluation) changed() CheckResult {
	prev := e.c.PreviousHELO
	if prev == "" || !e.c.Sent || nameKey(prev) == nameKey(e.c.HELO) {
		return passed(CheckChanged, "")
	}
	return failed(CheckChanged, "changed",
		"HELO changed from '"+printable(prev, maxWireName)+"' to '"+e.quoted+"' in one session",
		"send the same name in every HELO/EHLO", "previous HELO '"+logName(prev)+"', now "+e.heloEvidence())
}

// denyNames fails when the HELO matches a deny_names pattern.
func (e *evaluation) denyNames(key string) CheckResult {
	if !e.c.Sent {
		return skipped(CheckDenyNames, reasonNoHELO)
	}
	m := matchAny(e.p.denyNames, e.c.HELO, key)
	if m == nil {
		return passed(CheckDenyNames, "")
	}
	r := failed(CheckDenyNames, "denied", "HELO '"+e.quoted+"' is refused by this server's policy",
		"use your server's public hostname, or contact the postmaster", e.heloEvidence()+" matches deny_names "+printable(m.text, maxLogName))
	r.Action = ActionReject
	return r
}

package heloguard

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// nameDNSSkip returns why a check on the HELO name's DNS does not apply.
func (e *evaluation) nameDNSSkip() string {
	if why := e.nameSkip(); why != "" {
		return why
	}
	if e.n.labels == 1 {
		// fqdn judges it; a single label has no public DNS, and a stub
		// resolver might append its search list.
		return reasonNotFQDN
	}
	return ""
}

// forwardDNS fails when the HELO name has neither an address nor an MX
// record: RFC 5321 §4.1.4 wants "a valid principal host domain name",
// Postfix's reject_unknown_helo_hostname wants an A or MX record.
func (e *evaluation) forwardDNS() CheckResult {
	if why := e.nameDNSSkip(); why != "" {
		return skipped(CheckForwardDNS, why)
	}
	d := e.n.domain
	aOut, aWhy := e.heloA.wait(e.ctx)
	if aOut == found {
		return passed(CheckForwardDNS, "A/AAAA "+d+" -> "+addrList(e.heloA.addrs))
	}
	mxOut, mxWhy := e.heloMX.wait(e.ctx)
	switch {
	case mxOut == found:
		return passed(CheckForwardDNS, "MX "+d+" -> "+strings.Join(e.heloMX.hosts, ", "))
	case aOut == temporary:
		return tempFailed(CheckForwardDNS, aWhy, "A/AAAA "+d)
	case mxOut == temporary:
		return tempFailed(CheckForwardDNS, mxWhy, "MX "+d)
	}
	return failed(CheckForwardDNS, "nxdomain",
		"HELO '"+e.quoted+"' does not exist in DNS (no A, AAAA or MX record)",
		"publish an A record for your server's hostname and use that name, or authenticate",
		"A/AAAA "+d+": not found; MX "+d+": not found")
}

// forwardMatch fails when none of the HELO name's addresses is the
// client's: the name belongs to another machine.
func (e *evaluation) forwardMatch() CheckResult {
	if why := e.nameDNSSkip(); why != "" {
		return skipped(CheckForwardMatch, why)
	}
	if !e.ip.IsValid() {
		return skipped(CheckForwardMatch, reasonNoClientIP)
	}
	d := e.n.domain
	out, why := e.heloA.wait(e.ctx)
	switch out {
	case temporary:
		return tempFailed(CheckForwardMatch, why, "A/AAAA "+d)
	case notFound:
		return failed(CheckForwardMatch, "no_address", "HELO '"+e.quoted+"' has no A/AAAA record",
			"add an A record for it pointing to "+e.ip.String()+", or use the name that has one",
			"A/AAAA "+d+": not found; client "+e.ip.String())
	}
	ev := "A/AAAA " + d + " -> " + addrList(e.heloA.addrs) + "; client " + e.ip.String()
	if e.heloA.has(e.ip) {
		return passed(CheckForwardMatch, ev)
	}
	return failed(CheckForwardMatch, "addr_mismatch",
		"HELO '"+e.quoted+"' resolves to "+printable(addrList(e.heloA.addrs), maxWireName)+", not to "+e.ip.String()+" that you connect from",
		"give each sending address its own HELO name whose A record is that address", ev)
}

// ptrSkip returns why a check on the client's PTR does not apply.
func (e *evaluation) ptrSkip() string {
	if !e.ip.IsValid() {
		return reasonNoClientIP
	}
	if e.ptr == nil {
		return reasonNoResolver
	}
	return ""
}

// ptrEvidence renders the PTR answer once per evaluation; several checks
// quote it.
func (e *evaluation) ptrEvidence() string {
	if e.ptrEv == "" {
		e.ptrEv = "PTR " + e.ip.String() + " -> " + strings.Join(e.ptr.names, ", ")
	}
	return e.ptrEv
}

// noPTR is the failure of a check that needed a PTR name and found none.
func (e *evaluation) noPTR(check string) CheckResult {
	reason, ev := "no_ptr", "PTR "+e.ip.String()+": not found"
	if e.ptr.invalid > 0 {
		reason, ev = "invalid_ptr", "PTR "+e.ip.String()+": PTR answer is not a valid host name"
	}
	return failed(check, reason, "your address "+e.ip.String()+" has no PTR record (reverse DNS)", fixAskProvider, ev)
}

// rdns fails when the client's address has no PTR name (Postfix's
// reject_unknown_reverse_client_hostname).
func (e *evaluation) rdns() CheckResult {
	if why := e.ptrSkip(); why != "" {
		return skipped(CheckRDNS, why)
	}
	switch out, why := e.ptr.wait(e.ctx); out {
	case temporary:
		return tempFailed(CheckRDNS, why, "PTR "+e.ip.String())
	case notFound:
		return e.noPTR(CheckRDNS)
	}
	return passed(CheckRDNS, e.ptrEvidence())
}

// fcrdns fails when no PTR name of the client resolves back to its
// address: forward-confirmed reverse DNS, RFC 8601 §2.7.3 iprev.
func (e *evaluation) fcrdns() CheckResult {
	if why := e.ptrSkip(); why != "" {
		return skipped(CheckFCrDNS, why)
	}
	switch out, why := e.ptr.wait(e.ctx); out {
	case temporary:
		return tempFailed(CheckFCrDNS, why, "PTR "+e.ip.String())
	case notFound:
		return e.noPTR(CheckFCrDNS)
	}
	var b strings.Builder
	b.WriteString(e.ptrEvidence())
	tempWhy, tempName := "", ""
	for i, n := range e.ptr.names {
		l := e.ptr.fwd[i]
		out, why := l.wait(e.ctx)
		b.WriteString("; A/AAAA " + n + " -> ")
		switch out {
		case found:
			b.WriteString(addrList(l.addrs))
			if l.has(e.ip) {
				e.iprev = n
				return passed(CheckFCrDNS, b.String())
			}
		case notFound:
			b.WriteString("not found")
		default:
			b.WriteString(why)
			if tempWhy == "" {
				tempWhy, tempName = why, n
			}
		}
	}
	if tempWhy != "" {
		r := tempFailed(CheckFCrDNS, tempWhy, "A/AAAA "+tempName)
		r.Evidence = b.String()
		return r
	}
	first := e.ptr.names[0]
	return failed(CheckFCrDNS, "ptr_mismatch",
		"the PTR name "+printable(first, maxWireName)+" of your address "+e.ip.String()+" does not resolve back to it",
		"add an A/AAAA record for your PTR name pointing to "+e.ip.String()+", or change the PTR", b.String())
}

// rdnsMatch fails when the HELO name is neither a PTR name of the client
// nor in the same organizational domain as one (the public suffix list's
// registrable domain).
func (e *evaluation) rdnsMatch() CheckResult {
	if why := e.nameSkip(); why != "" {
		return skipped(CheckRDNSMatch, why)
	}
	if why := e.ptrSkip(); why != "" {
		return skipped(CheckRDNSMatch, why)
	}
	switch out, why := e.ptr.wait(e.ctx); out {
	case temporary:
		return tempFailed(CheckRDNSMatch, why, "PTR "+e.ip.String())
	case notFound:
		r := e.noPTR(CheckRDNSMatch)
		r.Explanation = "HELO '" + e.quoted + "' cannot match your reverse DNS: " + r.Explanation
		return r
	}
	d := e.n.domain
	ev := e.heloEvidence() + "; " + e.ptrEvidence()
	if contains(e.ptr.names, d) {
		return passed(CheckRDNSMatch, ev)
	}
	org := orgDomain(d)
	for _, n := range e.ptr.names {
		if orgDomain(n) == org {
			return passed(CheckRDNSMatch, ev)
		}
	}
	return failed(CheckRDNSMatch, "helo_ptr_mismatch",
		"HELO '"+e.quoted+"' does not match the PTR name "+printable(e.ptr.names[0], maxWireName)+" of your address",
		"use your PTR name as HELO, or set the PTR to your HELO name", ev)
}

// orgDomain is the registrable domain of a name (public suffix plus one
// label), or the name itself when it is a public suffix.
func orgDomain(d string) string {
	suffix, _ := publicsuffix.PublicSuffix(d)
	if len(d) <= len(suffix) {
		return d
	}
	i := len(d) - len(suffix) - 1
	if d[i] != '.' {
		return d
	}
	return d[strings.LastIndexByte(d[:i], '.')+1:]
}

// generic fails when the HELO name or a PTR name of the client looks like
// an address pool's generic name.
func (e *evaluation) generic() CheckResult {
	if e.n.kind == kindDomain {
		if why, word := genericName(e.n.domain, e.ip); why != "" {
			return failed(CheckGeneric, "generic_helo",
				"HELO '"+e.quoted+"' looks like a generic or dynamic host name ("+genericText(why, word)+")",
				"send from a server with its own hostname under your domain, relay through your provider's mail server, or authenticate",
				e.heloEvidence()+": "+genericText(why, word))
		}
	}
	if why := e.ptrSkip(); why != "" {
		if e.n.kind == kindDomain {
			return passed(CheckGeneric, "")
		}
		return skipped(CheckGeneric, why)
	}
	switch out, why := e.ptr.wait(e.ctx); out {
	case temporary:
		return tempFailed(CheckGeneric, why, "PTR "+e.ip.String())
	case notFound:
		return passed(CheckGeneric, "PTR "+e.ip.String()+": not found")
	}
	for _, n := range e.ptr.names {
		if why, word := genericName(n, e.ip); why != "" {
			return failed(CheckGeneric, "generic_ptr",
				"the PTR name "+printable(n, maxWireName)+" of your address looks like a generic or dynamic pool name",
				"ask your provider for a PTR record under your own domain, or relay through your provider's mail server",
				"PTR "+e.ip.String()+" -> "+n+": "+genericText(why, word))
		}
	}
	return passed(CheckGeneric, e.ptrEvidence())
}

func genericText(why, word string) string {
	if why == genericAddress {
		return "it embeds the address"
	}
	return "it has the pool word '" + word + "'"
}

// bigCompany fails when the HELO name is under a large mail provider's
// domain but the client's PTR is not under that provider's PTR domains.
func (e *evaluation) bigCompany() CheckResult {
	if why := e.nameSkip(); why != "" {
		return skipped(CheckBigCompany, why)
	}
	claimed, ptrDomains := e.p.claimedProvider(e.n.domain)
	if claimed == "" {
		return passed(CheckBigCompany, "")
	}
	if why := e.ptrSkip(); why != "" {
		return skipped(CheckBigCompany, why)
	}
	out, why := e.ptr.wait(e.ctx)
	if out == temporary {
		return tempFailed(CheckBigCompany, why, "PTR "+e.ip.String())
	}
	ev := e.heloEvidence() + " claims " + claimed + "; PTR " + e.ip.String() + ": not found"
	if out == found {
		ev = e.heloEvidence() + " claims " + claimed + "; " + e.ptrEvidence()
		for _, n := range e.ptr.names {
			for _, pd := range ptrDomains {
				if under(n, pd) {
					return passed(CheckBigCompany, ev)
				}
			}
		}
	}
	return failed(CheckBigCompany, "not_provider",
		"HELO '"+e.quoted+"' claims to be "+claimed+", but your address "+e.ip.String()+" is not one of its servers",
		"use your own server's hostname, or authenticate", ev)
}

// addrList renders addresses for evidence.
func addrList(addrs []netip.Addr) string {
	switch len(addrs) {
	case 0:
		return ""
	case 1:
		return addrs[0].String()
	}
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	return b.String()
}

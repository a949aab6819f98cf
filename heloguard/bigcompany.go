package heloguard

import (
	"fmt"
	"strings"
)

// DefaultBigCompanies returns the built-in list of large mail providers'
// domains. A HELO under one of them from a client whose PTR is not under
// the provider's own PTR domains fails big_company: nobody else sends as
// gmail.com.
func DefaultBigCompanies() []string {
	return []string{
		"gmail.com", "googlemail.com", "google.com",
		"outlook.com", "hotmail.com", "live.com", "msn.com",
		"yahoo.com", "ymail.com", "aol.com",
		"icloud.com", "me.com", "mac.com",
		"yandex.ru", "yandex.com", "mail.ru",
		"gmx.de", "gmx.net", "gmx.com", "web.de",
		"protonmail.com", "proton.me", "zoho.com",
	}
}

// providerPTRDomains says where a provider's outbound mail comes from:
// the domains its servers' PTR names are under. A claimed domain not in
// this table must be under its own name.
func providerPTRDomains(claimed string) []string {
	switch claimed {
	case "gmail.com", "googlemail.com", "google.com":
		return []string{"google.com"} // mail-wm1-f44.google.com
	case "outlook.com", "hotmail.com", "live.com", "msn.com":
		return []string{"outlook.com", "hotmail.com"} // *.outbound.protection.outlook.com
	case "yahoo.com", "ymail.com", "aol.com":
		return []string{"yahoo.com", "yahoodns.net", "aol.com"} // sonic*.mail.*.yahoo.com, mta*.am0.yahoodns.net
	case "icloud.com", "me.com", "mac.com":
		return []string{"apple.com", "icloud.com", "me.com"}
	case "yandex.ru", "yandex.com":
		return []string{"yandex.net", "yandex.ru"}
	case "gmx.de", "gmx.net", "gmx.com", "web.de":
		return []string{"gmx.net", "gmx.com", "web.de"} // mout.gmx.net, mout.web.de
	case "protonmail.com", "proton.me":
		return []string{"protonmail.ch", "proton.ch", "proton.me", "protonmail.com"}
	case "zoho.com":
		return []string{"zoho.com", "zohomail.com"}
	}
	return []string{claimed}
}

// parseBigCompany parses a big_companies entry: "gmail.com" (the built-in
// PTR domains, or the name itself) or "bank.example=mx.bank.example,
// mailer.example" (explicit PTR domains).
func parseBigCompany(entry string) (claimed string, ptrs []string, err error) {
	head, tail, explicit := strings.Cut(entry, "=")
	claimed, ok := normalizeDomain(strings.TrimSpace(head))
	if !ok {
		return "", nil, fmt.Errorf("%q is not a domain name (want \"name\" or \"name=ptrdomain,...\")", head)
	}
	if !explicit {
		return claimed, providerPTRDomains(claimed), nil
	}
	for _, f := range strings.Split(tail, ",") {
		d, ok := normalizeDomain(strings.TrimSpace(f))
		if !ok {
			return "", nil, fmt.Errorf("%q: PTR domain %q is not a domain name", entry, strings.TrimSpace(f))
		}
		ptrs = append(ptrs, d)
	}
	return claimed, ptrs, nil
}

// claimedProvider returns the big-company domain that the HELO name is
// or is under, and that provider's PTR domains.
func (p *Policy) claimedProvider(domain string) (string, []string) {
	for d := domain; ; {
		if ptrs, ok := p.big[d]; ok {
			return d, ptrs
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return "", nil
		}
		d = d[i+1:]
	}
}

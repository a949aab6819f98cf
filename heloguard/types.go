package heloguard

// Action is what a failed check does to the session.
type Action string

// The actions. ActionAccept appears only in results and verdicts;
// ActionRejectAll is accepted only for the literal check.
const (
	ActionReject    Action = "reject"     // a 5xx reply (4xx if the failure is a DNS temperror)
	ActionTempfail  Action = "tempfail"   // a 4xx reply
	ActionTag       Action = "tag"        // accept, record the result in the relayed message's headers
	ActionOff       Action = "off"        // not evaluated, no DNS query
	ActionAccept    Action = "accept"     // nothing to hold against the client
	ActionRejectAll Action = "reject_all" // literal only: refuse every address literal
)

// strength orders actions for the overall verdict: reject > tempfail >
// tag > accept.
func (a Action) strength() int {
	switch a {
	case ActionReject, ActionRejectAll:
		return 3
	case ActionTempfail:
		return 2
	case ActionTag:
		return 1
	}
	return 0
}

// Result is the outcome of one check.
type Result string

// The results. TempError means DNS could not answer now (SERVFAIL, a
// timeout, the context ending); it is never treated as a pass or a fail.
const (
	Pass      Result = "pass"
	Fail      Result = "fail"
	TempError Result = "temperror"
	Skipped   Result = "skipped"
)

// Stage is the SMTP command at which a refusal is sent.
type Stage string

// The stages. At mail or rcpt the HELO itself is accepted, so a client
// that authenticates after EHLO is exempt by the time the refusal would
// come: the fix the support articles give users.
const (
	StageHELO Stage = "helo"
	StageMail Stage = "mail"
	StageRcpt Stage = "rcpt"
)

// The check names: config keys under [helo.checks], log values and metric
// labels. CheckDenyNames is the result of the deny_names list, which has
// no action of its own (it always rejects).
const (
	CheckRequired     = "required"
	CheckSyntax       = "syntax"
	CheckFQDN         = "fqdn"
	CheckBareIP       = "bare_ip"
	CheckLiteral      = "literal"
	CheckReserved     = "reserved"
	CheckSelf         = "self"
	CheckForwardDNS   = "forward_dns"
	CheckForwardMatch = "forward_match"
	CheckRDNS         = "rdns"
	CheckFCrDNS       = "fcrdns"
	CheckRDNSMatch    = "rdns_match"
	CheckGeneric      = "generic"
	CheckBigCompany   = "big_company"
	CheckChanged      = "changed"
	CheckDenyNames    = "deny_names"
)

// check indexes the checks in evaluation order.
type check int

const (
	cRequired check = iota
	cSyntax
	cFQDN
	cBareIP
	cLiteral
	cReserved
	cSelf
	cForwardDNS
	cForwardMatch
	cRDNS
	cFCrDNS
	cRDNSMatch
	cGeneric
	cBigCompany
	cChanged
	numChecks
)

// checkNames is indexed by check; an array, so it cannot be changed.
var checkNames = [numChecks]string{
	CheckRequired, CheckSyntax, CheckFQDN, CheckBareIP, CheckLiteral,
	CheckReserved, CheckSelf, CheckForwardDNS, CheckForwardMatch,
	CheckRDNS, CheckFCrDNS, CheckRDNSMatch, CheckGeneric, CheckBigCompany,
	CheckChanged,
}

func (c check) String() string { return checkNames[c] }

// Checks returns every check name in evaluation order. The order matters:
// among failures with the same action the first one decides the reply.
func Checks() []string {
	out := make([]string, numChecks)
	copy(out, checkNames[:])
	return out
}

// checkByName returns the index of a check name.
func checkByName(name string) (check, bool) {
	for i, n := range checkNames {
		if n == name {
			return check(i), true
		}
	}
	return 0, false
}

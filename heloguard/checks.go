package heloguard

import "github.com/smtpgateway/gateway/reply"

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

// lookup is a set of the DNS queries a check reads.
type lookup uint8

const (
	lookHELOAddr lookup = 1 << iota // A/AAAA of the HELO name (asked only for a name of two labels or more)
	lookHELOMX                      // MX of the HELO name (likewise)
	lookPTR                         // PTR of the client's address
	lookPTRAddr                     // lookPTR, then A/AAAA of each PTR name
)

// checkDef is everything the package knows about one check. Adding a
// check is one entry in checkTable and its function: config validation
// of helo.checks, the evaluation, the DNS queries started, the profiles'
// defaults, the dry run (would_refuse), check-helo, helo-report and the
// metric labels all read this table.
type checkDef struct {
	name string
	run  func(*evaluation) CheckResult
	// lookups are the queries the check reads, started together before
	// any check runs, and only when the check is not off.
	lookups lookup
	// lookupIf, when set, says whether this client needs the lookups
	// at all (rdns_match only for a domain name, big_company only for
	// a name under a big provider's domain).
	lookupIf func(*evaluation) bool
	// needsResolver: without a Resolver the check is skipped
	// (no_resolver) instead of run. generic is not: its HELO half needs
	// no DNS.
	needsResolver bool
	// rejectAll: the check also takes the action reject_all.
	rejectAll bool
	// defaults is the check's action under each profile, indexed like
	// profileTable.
	defaults [numProfiles]Action
	// postfix is the reply of the postfix profile when the check
	// refuses (zero: "Helo command rejected: Access denied").
	postfix replyForm
}

// Shorthands for the defaults column.
const (
	aR = ActionReject
	aF = ActionTempfail
	aT = ActionTag
	aO = ActionOff
)

// checkTable is every check in evaluation order. The order matters: among
// failures with the same action the first one decides the reply. It is
// never written after initialization.
var checkTable = [...]checkDef{
	// The syntax family and spoofing: refused by every profile but
	// monitor, at no DNS cost.
	{name: CheckRequired, run: (*evaluation).required, defaults: [numProfiles]Action{aR, aR, aR, aT},
		postfix: replyForm{reply.C503BadSequence, reply.E551InvalidCommand, textPostfixSendHELO, subjectNone}},
	{name: CheckSyntax, run: (*evaluation).syntax, defaults: [numProfiles]Action{aR, aR, aR, aT},
		postfix: replyForm{reply.C501ParameterSyntax, reply.E552SyntaxError, textPostfixInvalidName, subjectName}},
	{name: CheckFQDN, run: (*evaluation).fqdn, defaults: [numProfiles]Action{aR, aR, aR, aT},
		postfix: replyForm{reply.C504ParameterNotImplemented, reply.E552SyntaxError, textPostfixNeedFQDN, subjectName}},
	{name: CheckBareIP, run: (*evaluation).bareIP, defaults: [numProfiles]Action{aR, aR, aR, aT},
		postfix: replyForm{reply.C501ParameterSyntax, reply.E552SyntaxError, textPostfixInvalidName, subjectName}},
	{name: CheckLiteral, run: (*evaluation).literal, rejectAll: true, defaults: [numProfiles]Action{aR, aO, aR, aT}},
	{name: CheckReserved, run: (*evaluation).reserved, defaults: [numProfiles]Action{aR, aR, aR, aT}},
	{name: CheckSelf, run: (*evaluation).self, defaults: [numProfiles]Action{aR, aR, aR, aT}},
	// DNS: cPanel only tags; Postfix's reject_unknown_helo_hostname and
	// reject_unknown_reverse_client_hostname defer (450 by default).
	{name: CheckForwardDNS, run: (*evaluation).forwardDNS, lookups: lookHELOAddr | lookHELOMX, needsResolver: true,
		defaults: [numProfiles]Action{aT, aF, aR, aT},
		postfix:  replyForm{reply.C550MailboxUnavailable, reply.E571NotAuthorized, textPostfixHostNotFound, subjectName}},
	{name: CheckForwardMatch, run: (*evaluation).forwardMatch, lookups: lookHELOAddr, needsResolver: true,
		defaults: [numProfiles]Action{aT, aT, aR, aT}},
	{name: CheckRDNS, run: (*evaluation).rdns, lookups: lookPTR, needsResolver: true,
		defaults: [numProfiles]Action{aT, aF, aR, aT},
		postfix:  replyForm{reply.C550MailboxUnavailable, reply.E571NotAuthorized, textPostfixNoReverse, subjectClient}},
	// RFC 7372 §3.3: 4.7.25/5.7.25 "Reverse DNS validation failed".
	{name: CheckFCrDNS, run: (*evaluation).fcrdns, lookups: lookPTRAddr, needsResolver: true,
		defaults: [numProfiles]Action{aT, aT, aR, aT},
		postfix:  replyForm{reply.C550MailboxUnavailable, reply.E5725ReverseDNS, textPostfixNoHostname, subjectClient}},
	{name: CheckRDNSMatch, run: (*evaluation).rdnsMatch, lookups: lookPTR, lookupIf: (*evaluation).heloIsDomain, needsResolver: true,
		defaults: [numProfiles]Action{aT, aT, aR, aT}},
	{name: CheckGeneric, run: (*evaluation).generic, lookups: lookPTR,
		defaults: [numProfiles]Action{aT, aT, aR, aT}},
	{name: CheckBigCompany, run: (*evaluation).bigCompany, lookups: lookPTR, lookupIf: (*evaluation).claimsProvider, needsResolver: true,
		defaults: [numProfiles]Action{aT, aT, aR, aT}},
	{name: CheckChanged, run: (*evaluation).changed, defaults: [numProfiles]Action{aT, aT, aR, aT}},
}

// numChecks is the number of checks (deny_names not counted).
const numChecks = len(checkTable)

// check indexes checkTable.
type check int

func (c check) String() string { return checkTable[c].name }

// Checks returns every check name in evaluation order. The order matters:
// among failures with the same action the first one decides the reply.
func Checks() []string {
	out := make([]string, numChecks)
	for i, d := range checkTable {
		out[i] = d.name
	}
	return out
}

// checkByName returns the index of a check name.
func checkByName(name string) (check, bool) {
	for i := range checkTable {
		if checkTable[i].name == name {
			return check(i), true
		}
	}
	return 0, false
}

// heloIsDomain reports whether the HELO argument is a domain name.
func (e *evaluation) heloIsDomain() bool { return e.n.kind == kindDomain }

// claimsProvider reports whether the HELO name is under the domain of a
// big provider (helo.big_companies).
func (e *evaluation) claimsProvider() bool {
	if e.n.kind != kindDomain {
		return false
	}
	d, _ := e.p.claimedProvider(e.n.domain)
	return d != ""
}

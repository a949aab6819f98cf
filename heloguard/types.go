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

package heloguard

import (
	"context"
	"net/netip"

	"github.com/smtpgateway/gateway/reply"
)

// Client is what the session knows about the client when it asks.
type Client struct {
	IP            netip.Addr
	HELO          string // the HELO/EHLO argument as sent
	Sent          bool   // a HELO/EHLO was received at all
	EHLO          bool
	Authenticated bool
	PreviousHELO  string // the name sent earlier in this session ("" if none), for changed
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Check       string
	Result      Result
	Action      Action // what this result does: the check's action for a fail (reject_all: reject), tempfail for a temperror of a reject check, accept for a pass, off when skipped
	Reason      string // short and machine-readable: "single_label", "nxdomain", "no_ptr", "servfail", "ptr_mismatch"...
	Explanation string // one sentence naming the problem and the fix; printable ASCII, may be sent to the client
	Fix         string // the fix alone, for the check-helo report
	Evidence    string // what was seen, for logs: "PTR 192.0.2.7 -> host.example.net; A host.example.net -> 192.0.2.8"
}

// Exemption values of Verdict.Exempt.
const (
	ExemptAuthenticated = "authenticated"
	ExemptTrusted       = "trusted"
	ExemptAllowClients  = "allow_clients"
	ExemptAllowNames    = "allow_names"
)

// Verdict is the decision on one client's HELO name.
type Verdict struct {
	Client    Client
	Results   []CheckResult // one per check in Checks() order, preceded by deny_names when the policy has a deny list
	Action    Action        // overall: reject > tempfail > tag > accept
	Decisive  *CheckResult  // the result that produced Action (nil for accept); points into Results
	Refusal   *reply.Reply  // non-nil iff Action is reject or tempfail: the reply for this profile
	Exempt    string        // "", "authenticated", "trusted", "allow_clients", "allow_names"
	PTR       []string      // the client's PTR names, normalized, when they were looked up
	IPRev     Result        // RFC 8601 §2.7.3 iprev: pass (FCrDNS confirmed), fail, temperror, skipped
	IPRevName string        // the forward-confirmed PTR name, if any
	// WouldRefuse is the dry run: the same results mapped through every
	// profile (cpanel, postfix, strict, monitor; each with the operator's
	// [helo.checks] overrides), one entry per profile that would refuse
	// the client. Nil when none would, and for an exempt client.
	WouldRefuse []ProfileRefusal
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	p      *Policy
	ctx    context.Context
	c      Client
	ip     netip.Addr // c.IP unmapped
	n      name
	quoted string // the HELO argument, safe and short for explanations
	heloA  *ipLookup
	heloMX *mxLookup
	ptr    *ptrLookup
	iprev  string // the forward-confirmed PTR name found by fcrdns
	ptrEv  string // ptrEvidence, once rendered
	action Action // the configured action of the check running
}

// Evaluate runs the policy's checks on a client. It never fails: DNS
// trouble is a TempError result. DNS queries are started together and
// bounded by ctx; a check whose action is off makes none.
func (p *Policy) Evaluate(ctx context.Context, c Client, r Resolver) Verdict {
	e := evaluation{p: p, ctx: ctx, c: c, ip: c.IP.Unmap()}
	if c.Sent {
		e.n = parseName(c.HELO)
	}
	e.quoted = printable(c.HELO, maxWireName)
	v := Verdict{Client: c, Action: ActionAccept, IPRev: Skipped}

	switch {
	case c.Authenticated:
		v.Exempt = ExemptAuthenticated
	case inPrefixes(e.ip, p.trusted):
		v.Exempt = ExemptTrusted
	case inPrefixes(e.ip, p.allowClients):
		v.Exempt = ExemptAllowClients
	}
	size := numChecks
	if len(p.denyNames) > 0 {
		size++
	}
	v.Results = make([]CheckResult, 0, size)

	key := nameKey(c.HELO)
	denied := false
	if len(p.denyNames) > 0 {
		res := e.denyNames(key)
		if v.Exempt == ExemptAllowClients {
			res = skipped(CheckDenyNames, reasonExempt)
		}
		denied = res.Result == Fail
		v.Results = append(v.Results, res)
	}
	if v.Exempt == "" && !denied && c.Sent && matchAny(p.allowNames, c.HELO, key) != nil {
		v.Exempt = ExemptAllowNames
	}

	if v.Exempt == ExemptAllowClients || v.Exempt == ExemptAllowNames {
		for i := range check(numChecks) {
			v.Results = append(v.Results, skipped(i.String(), reasonExempt))
		}
		return v
	}

	if r != nil {
		e.start(r)
	}
	for i := range check(numChecks) {
		res := skipped(i.String(), reasonOff)
		if p.actions[i] != ActionOff {
			res = e.run(i, r != nil)
			res.Action = effective(p.actions[i], res.Result)
		}
		v.Results = append(v.Results, res)
	}

	e.drain()

	fc := &v.Results[len(v.Results)-numChecks+e.fcrdnsIndex()]
	if fc.Result != Skipped {
		v.IPRev, v.IPRevName = fc.Result, e.iprev
	}
	if e.ptr != nil && isDone(e.ptr.done) {
		v.PTR = e.ptr.names
	}
	if v.Exempt != "" {
		return v
	}
	v.WouldRefuse = p.wouldRefuse(&v)
	for i := range v.Results {
		res := &v.Results[i]
		if res.Result != Fail && res.Result != TempError {
			continue
		}
		if v.Decisive == nil || res.Action.strength() > v.Decisive.Action.strength() {
			v.Decisive = res
		}
	}
	if v.Decisive == nil || v.Decisive.Action.strength() == 0 {
		v.Decisive = nil
		return v
	}
	v.Action = v.Decisive.Action
	if v.Action == ActionReject || v.Action == ActionTempfail {
		v.Refusal = p.refusal(v.Decisive, c)
	}
	return v
}

// Authenticated returns the verdict as Evaluate would have given it had
// the client been authenticated: exempt, accepted, no refusal, the check
// results kept (they still go into the tagging headers). The session
// evaluates at HELO, before AUTH; it calls this once the client has
// authenticated, so that the headers on its mail do not say "reject".
func (v Verdict) Authenticated() Verdict {
	v.Client.Authenticated = true
	v.Exempt = ExemptAuthenticated
	v.Action = ActionAccept
	v.Decisive = nil
	v.Refusal = nil
	v.WouldRefuse = nil
	return v
}

// effective is what a result does under a check's action. A temperror
// can at most defer (RFC 5321 §4.2.1: 4yz for what may go away).
func effective(a Action, r Result) Action {
	switch r {
	case Pass:
		return ActionAccept
	case Skipped:
		return ActionOff
	case TempError:
		if a == ActionReject || a == ActionRejectAll {
			return ActionTempfail
		}
	}
	if a == ActionRejectAll {
		return ActionReject
	}
	return a
}

// start begins, concurrently, every DNS lookup the enabled checks will
// need (checkDef.lookups): A/AAAA and MX of the HELO name, PTR of the
// client and A/AAAA of its names.
func (e *evaluation) start(r Resolver) {
	var need lookup
	for i := range checkTable {
		def := &checkTable[i]
		if def.lookups == 0 || e.p.actions[i] == ActionOff || def.lookupIf != nil && !def.lookupIf(e) {
			continue
		}
		need |= def.lookups
	}
	fqdn := e.n.kind == kindDomain && e.n.labels > 1
	if fqdn && need&lookHELOAddr != 0 {
		e.heloA = startIP(e.ctx, r, e.n.domain)
	}
	if fqdn && need&lookHELOMX != 0 {
		e.heloMX = startMX(e.ctx, r, e.n.domain)
	}
	if !e.ip.IsValid() {
		return
	}
	if need&(lookPTR|lookPTRAddr) != 0 {
		e.ptr = startPTR(e.ctx, r, e.ip, need&lookPTRAddr != 0, e.heloA)
	}
}

// drain waits, within ctx, for the lookups no check needed in the end
// (the MX of a name that has an address), so that none outlives Evaluate
// unless ctx ends first or the Resolver ignores it.
func (e *evaluation) drain() {
	if e.heloA != nil {
		e.heloA.wait(e.ctx)
	}
	if e.heloMX != nil {
		e.heloMX.wait(e.ctx)
	}
	if e.ptr != nil {
		if out, _ := e.ptr.wait(e.ctx); out == found {
			for _, l := range e.ptr.fwd {
				l.wait(e.ctx)
			}
		}
	}
}

// run evaluates one check; dns is false when there is no Resolver.
func (e *evaluation) run(c check, dns bool) CheckResult {
	def := &checkTable[c]
	if def.needsResolver && !dns {
		return skipped(def.name, reasonNoResolver)
	}
	e.action = e.p.actions[c]
	return def.run(e)
}

// fcrdnsIndex is the index of fcrdns, whose result is the verdict's
// iprev.
func (e *evaluation) fcrdnsIndex() int {
	c, _ := checkByName(CheckFCrDNS)
	return int(c)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

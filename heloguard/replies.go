package heloguard

import (
	"net/netip"
	"strings"

	"github.com/smtpgateway/gateway/reply"
)

// Compatible reply texts: what real receivers say, so that a sender who
// searches for the text finds the support articles that explain the fix.
const (
	// cPanel/Exim's HELO ACL.
	textCPanelInvalidHELO = "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"
	// Exim's reply to an ACL "defer", e.g. when a DNS lookup failed.
	textEximTempFail = "Temporary local problem - please try later"
	// Postfix smtpd (smtpd_check.c), with the HELO name as sent in front.
	textPostfixInvalidName  = "Helo command rejected: Invalid name"
	textPostfixNeedFQDN     = "Helo command rejected: need fully-qualified hostname"
	textPostfixHostNotFound = "Helo command rejected: Host not found"
	textPostfixAccessDenied = "Helo command rejected: Access denied"
	// Postfix reject_unknown_reverse_client_hostname and
	// reject_unknown_client_hostname, with ", [address]" after.
	textPostfixNoReverse  = "Client host rejected: cannot find your reverse hostname"
	textPostfixNoHostname = "Client host rejected: cannot find your hostname"
	// Postfix smtpd_helo_required.
	textPostfixSendHELO = "Error: send HELO/EHLO first"
)

// subject says what a compatible text is completed with.
type subject uint8

const (
	subjectNone   subject = iota
	subjectName           // "<name>: " before, the HELO argument as sent
	subjectClient         // ", [address]" after
)

// replyForm is one refusal reply before it is completed.
type replyForm struct {
	code    int
	enh     reply.Enhanced
	text    string
	subject subject
}

// tempfail returns the 4xx form of a reply: 450 and an enhanced code of
// class 4 with the same subject and detail (what Postfix's soft_bounce
// and defer_if_reject do, RFC 3463 §3.1).
func (f replyForm) tempfail() replyForm {
	f.code = 450
	f.enh[0] = 4
	return f
}

// replyTable holds a profile's replies: the reject form per check (and
// for deny_names), and what a DNS temperror says (zero: the tempfail form
// of the check's own reply).
type replyTable struct {
	reject    []replyForm // indexed like checkTable
	deny      replyForm
	temperror replyForm
}

func cpanelReplies() replyTable {
	f := replyForm{code: reply.C550MailboxUnavailable, enh: reply.E571NotAuthorized, text: textCPanelInvalidHELO}
	t := replyTable{reject: make([]replyForm, numChecks), deny: f, temperror: replyForm{code: reply.C451LocalError, enh: reply.E443DirectoryServerFailure, text: textEximTempFail}}
	for i := range t.reject {
		t.reject[i] = f
	}
	return t
}

func postfixReplies() replyTable {
	denied := replyForm{reply.C554TransactionFailed, reply.E571NotAuthorized, textPostfixAccessDenied, subjectName}
	t := replyTable{reject: make([]replyForm, numChecks), deny: denied}
	for i, def := range checkTable {
		t.reject[i] = denied
		if def.postfix.code != 0 {
			t.reject[i] = def.postfix
		}
	}
	return t
}

// Bounds on what is echoed from the client: the reply line must stay
// within RFC 5321 §4.5.3.1.5's 512 octets.
const (
	maxWireName = 64  // in the explanatory line
	maxEchoName = 255 // in a compatible text ("<name>: ...")
	maxLogName  = 255 // in evidence
)

// render completes a form for one client.
func (f replyForm) render(helo string, ip netip.Addr) string {
	switch f.subject {
	case subjectName:
		return "<" + printable(helo, maxEchoName) + ">: " + f.text
	case subjectClient:
		return f.text + ", [" + ip.String() + "]"
	}
	return f.text
}

// refusal builds the reply for the decisive result. A temperror decides
// only through a tempfail and always gets a 4xx.
func (p *Policy) refusal(r *CheckResult, c Client) *reply.Reply {
	var f replyForm
	if c, ok := checkByName(r.Check); ok {
		f = p.replies.reject[c]
	} else {
		f = p.replies.deny
	}
	switch {
	case r.Result == TempError && p.replies.temperror.code != 0:
		f = p.replies.temperror
	case r.Action == ActionTempfail:
		f = f.tempfail()
	}
	text := f.render(c.HELO, c.IP.Unmap())
	if p.explain && r.Explanation != "" {
		text = explainLine(r) + "\n" + text
	}
	return &reply.Reply{Code: f.code, Enhanced: f.enh, Text: text, Check: r.Check, Evidence: r.Evidence}
}

// explainLine is the line sent before the compatible text: the result's
// explanation (the problem and the fix) and the check's name, in plain
// printable ASCII on one line.
func explainLine(r *CheckResult) string {
	line := r.Explanation + " (check: " + r.Check + ")"
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c >= 0x7f {
			return '?'
		}
		return c
	}, line)
}

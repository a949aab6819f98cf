package heloguard

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/smtpgateway/gateway/internal/errwriter"
)

// Report is what the check-helo command shows an operator: the verdict on
// one client, the reply it would get at each command, and the fix for
// each failure. It marshals to JSON as is.
type Report struct {
	HELO      string        `json:"helo"`
	Verb      string        `json:"verb"` // "EHLO" or "HELO": how the client greeted
	ClientIP  string        `json:"client_ip"`
	Profile   string        `json:"profile"`
	Stage     Stage         `json:"stage"`
	Exempt    string        `json:"exempt,omitempty"`
	Action    Action        `json:"action"`
	Accepted  bool          `json:"accepted"` // the client may send mail (accept or tag)
	Decisive  string        `json:"decisive,omitempty"`
	PTR       []string      `json:"ptr,omitempty"`
	IPRev     Result        `json:"iprev"`
	IPRevName string        `json:"iprev_name,omitempty"`
	Checks    []ReportCheck `json:"checks"`
	Replies   Replies       `json:"replies"`
	// RefusesNothing is set when the policy cannot refuse a HELO at all
	// (monitor as shipped): the text then says so instead of a stage.
	RefusesNothing bool `json:"refuses_nothing,omitempty"`
	// WouldRefuse is Verdict.WouldRefuse: each profile that would refuse
	// this client, and for which checks.
	WouldRefuse []ProfileRefusal `json:"would_refuse,omitempty"`
}

// ReportCheck is one check's line in a Report.
type ReportCheck struct {
	Check       string `json:"check"`
	Result      Result `json:"result"`
	Action      Action `json:"action"`
	Reason      string `json:"reason,omitempty"`
	Explanation string `json:"explanation,omitempty"`
	Evidence    string `json:"evidence,omitempty"`
	Fix         string `json:"fix,omitempty"`
}

// Replies holds the reply the client would get at each command, rendered
// as on the wire (lines joined by "\n"): "250 ..." before the policy's
// stage, the refusal at it, and notReached after it.
type Replies struct {
	HELO string `json:"helo"`
	Mail string `json:"mail"`
	Rcpt string `json:"rcpt"`
}

// notReached is the reply of a command after the refusal.
const notReached = "(not reached: refused earlier)"

// Report describes a verdict for the operator.
func (p *Policy) Report(v Verdict) Report {
	verb := "HELO"
	if v.Client.EHLO {
		verb = "EHLO"
	}
	r := Report{
		HELO:      v.Client.HELO,
		Verb:      verb,
		ClientIP:  "unknown",
		Profile:   p.profile,
		Stage:     p.stage,
		Exempt:    v.Exempt,
		Action:    v.Action,
		Accepted:  v.Action == ActionAccept || v.Action == ActionTag,
		PTR:       v.PTR,
		IPRev:     v.IPRev,
		IPRevName: v.IPRevName,
		Checks:    make([]ReportCheck, 0, len(v.Results)),

		RefusesNothing: p.refusesNothing(),
		WouldRefuse:    v.WouldRefuse,
	}
	if v.Client.IP.IsValid() {
		r.ClientIP = v.Client.IP.Unmap().String()
	}
	if v.Decisive != nil {
		r.Decisive = v.Decisive.Check
	}
	for _, c := range v.Results {
		r.Checks = append(r.Checks, ReportCheck{
			Check: c.Check, Result: c.Result, Action: c.Action, Reason: c.Reason,
			Explanation: c.Explanation, Evidence: c.Evidence, Fix: c.Fix,
		})
	}

	host := p.hostname
	if host == "" {
		host = "localhost"
	}
	r.Replies = Replies{HELO: "250 " + host, Mail: "250 2.1.0 Ok", Rcpt: "250 2.1.5 Ok"}
	if v.Refusal != nil {
		wire := v.Refusal.Render(v.Client.EHLO)
		switch p.stage {
		case StageHELO:
			r.Replies = Replies{HELO: wire, Mail: notReached, Rcpt: notReached}
		case StageMail:
			r.Replies.Mail, r.Replies.Rcpt = wire, notReached
		case StageRcpt:
			r.Replies.Rcpt = wire
		}
	}
	return r
}

// WriteText writes the report for a terminal: a summary, a table of the
// checks, the replies at each command and the fix for each failure.
func (r Report) WriteText(w io.Writer) error {
	ew := &errwriter.Writer{W: w}
	helo := r.HELO
	if helo == "" {
		helo = `""`
	}
	verdict := string(r.Action)
	if r.Decisive != "" {
		verdict += " (decided by " + r.Decisive + ")"
	}
	if r.Exempt != "" {
		verdict += " (exempt: " + r.Exempt + ")"
	} else if r.RefusesNothing {
		// The checks' actions say tag; what the client gets is a 250.
		verdict = string(ActionAccept) + " (" + r.Profile + ": refuses nothing)"
	}
	ptr := "-"
	if len(r.PTR) > 0 {
		ptr = strings.Join(r.PTR, ", ")
	}
	ew.Printf("HELO:     %s\n", printable(helo, maxLogName))
	ew.Printf("client:   %s (PTR %s; iprev %s)\n", r.ClientIP, ptr, r.IPRev)
	if r.RefusesNothing {
		ew.Printf("profile:  %s (refuses nothing)\n", r.Profile)
	} else {
		ew.Printf("profile:  %s, refusing at %s\n", r.Profile, strings.ToUpper(string(r.Stage)))
	}
	ew.Printf("verdict:  %s\n", verdict)
	if r.RefusesNothing {
		r.writeOthers(ew)
	}
	ew.Printf("\n")

	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tACTION\tREASON\tEVIDENCE")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Check, c.Result, c.Action, dash(c.Reason), dash(c.Evidence))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	ew.Printf("\nreplies:\n")
	for _, st := range [...]struct{ verb, text string }{
		{r.Verb, r.Replies.HELO}, {"MAIL", r.Replies.Mail}, {"RCPT", r.Replies.Rcpt},
	} {
		ew.Printf("  %-4s  %s\n", st.verb, strings.ReplaceAll(st.text, "\n", "\n        "))
	}

	fixes := 0
	for _, c := range r.Checks {
		if c.Result != Fail && c.Result != TempError {
			continue
		}
		if fixes == 0 {
			ew.Printf("\nto fix:\n")
		}
		fixes++
		ew.Printf("  %s (%s): %s\n", c.Check, c.Action, c.Explanation)
	}
	if fixes == 0 {
		ew.Printf("\nnothing to fix.\n")
	}
	return ew.Err()
}

// writeOthers lists what each other profile would do with this client,
// for the dry run under monitor: the profiles with the same [helo.checks]
// overrides, as if only helo.profile were changed.
func (r Report) writeOthers(ew *errwriter.Writer) {
	ew.Printf("other profiles (same [helo.checks]):\n")
	for _, name := range Profiles() {
		if name == r.Profile {
			continue
		}
		what := "accept"
		for _, pr := range r.WouldRefuse {
			if pr.Profile == name {
				what = "refuse at " + strings.ToUpper(string(pr.Stage)) + ": " + strings.Join(pr.Checks, ", ")
			}
		}
		ew.Printf("  %-8s  %s\n", name, what)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

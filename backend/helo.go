package backend

import (
	"context"
	"strings"

	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/reply"
	"github.com/smtpgateway/gateway/resolver"
)

// pendingVerdict is a HELO verdict being computed. DNS checks take time, so
// the evaluation starts at HELO and is awaited only where the policy's
// stage enforces it: the client's next commands are not held up.
type pendingVerdict struct {
	done   chan struct{}
	cancel context.CancelFunc // ends the evaluation's DNS when a new name supersedes it
	v      heloguard.Verdict
}

func (p *pendingVerdict) wait(ctx context.Context) (heloguard.Verdict, bool) {
	select {
	case <-p.done:
		return p.v, true
	case <-ctx.Done():
		return heloguard.Verdict{}, false
	}
}

// greet handles a HELO/EHLO: the first (from NewSession) or a later one
// (from Reset). At stage helo a refused name is refused right here.
func (s *Session) greet(name string) error {
	verb, n := s.conn.Greeting()
	prev := s.helo
	s.ehlo = verb != "HELO"
	if s.conn.TLS() != nil {
		// The guard reads HELO/EHLO in plaintext; after TLS a client is
		// ESMTP by definition (STARTTLS is an extension).
		s.ehlo = s.ehlo || verb == ""
	}
	s.helo = name
	s.greetings = n
	if tls := s.conn.TLS() != nil; tls != s.greetTLS {
		// RFC 3207 §4.2: forget what the client said before TLS.
		s.greetTLS = tls
		s.user = ""
		s.log = s.conn.Logger() // without the "user" of a pre-TLS AUTH
		prev = ""
	}
	s.conn.Annotate("helo", reply.Clip(name))
	s.log.Debug("greeting", "verb", verb, "helo", reply.Clip(name))

	env := s.env
	if env.HELO == nil {
		return nil
	}
	if s.memo == nil {
		s.memo = resolver.NewMemo(env.Resolver)
	}
	if prev != "" && strings.EqualFold(prev, name) && s.verdict != nil {
		return s.heloGate(heloguard.StageHELO, "HELO")
	}
	if prev != "" {
		s.log.Info("helo changed", "previous", reply.Clip(prev), "helo", reply.Clip(name))
	}
	client := heloguard.Client{
		IP:           s.conn.Client().Addr(),
		HELO:         name,
		Sent:         true,
		EHLO:         s.ehlo,
		PreviousHELO: prev,
	}
	// At most one evaluation per session is in flight: a greeting with a
	// new name cancels the one before (its verdict would never be used),
	// and the new one starts only once the old has ended, so a client
	// pipelining EHLOs cannot pile up background DNS work. The listener
	// guard caps the greetings per connection ([limits] max_greetings).
	old := s.verdict
	if old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithTimeout(s.ctx, verdictTimeout)
	pv := &pendingVerdict{done: make(chan struct{}), cancel: cancel}
	s.verdict = pv
	go func() {
		defer cancel()
		if old != nil {
			// Cancelled above, so it ends promptly; ctx bounds the wait
			// should a Resolver ignore its context.
			select {
			case <-old.done:
			case <-ctx.Done():
			}
		}
		pv.v = env.HELO.Evaluate(ctx, client, s.memo)
		close(pv.done)
	}()
	return s.heloGate(heloguard.StageHELO, "HELO")
}

// heloGate enforces the HELO verdict if stage is where the policy refuses.
// A policy with stage helo also refuses at MAIL: a second EHLO with a new
// name cannot be refused by go-smtp, so its verdict lands at MAIL.
func (s *Session) heloGate(stage heloguard.Stage, command string) error {
	env := s.env
	if env.HELO == nil || s.verdict == nil {
		return nil
	}
	if ps := env.HELO.Stage(); ps != stage && !(ps == heloguard.StageHELO && stage == heloguard.StageMail) {
		return nil
	}
	v, ok := s.verdict.wait(s.ctx)
	if !ok {
		return s.internalError(command, s.ctx.Err())
	}
	s.logVerdict(v)
	// Refusal is set exactly when the action is reject or tempfail.
	if s.user != "" || v.Exempt != "" || v.Refusal == nil {
		return nil
	}
	return s.refuse(command, v.Refusal, "action", string(v.Action), "stage", string(stage))
}

// logVerdict writes the HELO verdict once per evaluation: each failing
// check with its action, for the operator and for monitor mode.
func (s *Session) logVerdict(v heloguard.Verdict) {
	if s.loggedVerdict == s.verdict {
		return
	}
	s.loggedVerdict = s.verdict
	var failed []string
	for _, r := range v.Results {
		if r.Result == heloguard.Fail || r.Result == heloguard.TempError {
			failed = append(failed, r.Check+"="+string(r.Result)+"/"+string(r.Action))
		}
		s.b.metrics.HELOCheck(r.Check, string(r.Result), string(r.Action))
	}
	// The dry run: what each profile would do with the same results
	// (always present, "" when none would refuse), and for each check some
	// profile would refuse for, its fix as check-helo words it, as
	// fix_<check> (flat keys: the same record in text and JSON). An
	// authenticated client is exempt under every profile.
	if s.user != "" {
		v.WouldRefuse = nil
	}
	for _, pr := range v.WouldRefuse {
		for _, c := range pr.Checks {
			s.b.metrics.HELOWouldRefuse(pr.Profile, c)
		}
	}
	args := []any{"helo", reply.Clip(s.helo), "action", string(v.Action), "failed", strings.Join(failed, ","),
		"would_refuse", heloguard.FormatWouldRefuse(v.WouldRefuse)}
	for _, c := range v.RefusedChecks() {
		for _, r := range v.Results {
			if r.Check == c && r.Fix != "" {
				args = append(args, "fix_"+c, r.Fix)
				break
			}
		}
	}
	if v.Exempt != "" {
		args = append(args, "exempt", v.Exempt)
	}
	if len(v.PTR) > 0 {
		args = append(args, "ptr", strings.Join(v.PTR, ","))
	}
	if s.user != "" {
		args = append(args, "exempt", "authenticated")
	}
	s.log.Info("helo verdict", args...)
}

// currentVerdict returns the verdict for tagging headers (waiting for it if
// the DNS checks are still running). A client that authenticated after its
// HELO was evaluated is exempt, and the headers say so.
func (s *Session) currentVerdict() (heloguard.Verdict, bool) {
	if s.verdict == nil {
		return heloguard.Verdict{}, false
	}
	v, ok := s.verdict.wait(s.ctx)
	if ok {
		s.logVerdict(v)
		if s.user != "" {
			v = v.Authenticated()
		}
	}
	return v, ok
}

// MissingGreeting answers MAIL sent before any HELO/EHLO (the check
// "required") with the HELO policy's reply for it, for the listener guard
// to send in place of go-smtp's own 502. "" leaves it to go-smtp: no
// policy, an exempt client, or an action that does not refuse (go-smtp
// refuses such a MAIL anyway; it cannot run a transaction without a
// greeting).
func (b *Backend) MissingGreeting(c Conn) string {
	env := b.env.Load()
	if env.HELO == nil {
		return ""
	}
	// No resolver: "required" needs no DNS, and nothing else can fail
	// without a name.
	v := env.HELO.Evaluate(context.Background(), heloguard.Client{IP: c.Client().Addr()}, nil)
	r := v.Refusal
	if r == nil || v.Exempt != "" {
		return ""
	}
	// The client never sent EHLO, so it never asked for enhanced codes.
	wire := r.Render(false)
	c.Logger().Info("reject", "command", "MAIL", "check", r.Check, "code", r.Code,
		"enhanced", r.EnhancedString(), "reply", wire, "evidence", r.Evidence, "stage", "mail")
	b.metrics.Refused(b.lis.Name, "MAIL", r.Check, r.Code)
	return strings.ReplaceAll(wire, "\n", "\r\n")
}

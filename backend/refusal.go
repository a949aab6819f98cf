package backend

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/reply"
)

// refuse logs one line that tells the operator the whole story and turns
// the refusal into the go-smtp error the client sees.
func (s *Session) refuse(command string, r *reply.Reply, attrs ...any) *smtp.SMTPError {
	e := s.smtpError(r)
	args := []any{
		"command", command,
		"helo", reply.Clip(s.helo),
		"check", r.Check,
		"code", r.Code,
		"enhanced", r.EnhancedString(),
		"reply", r.Render(s.ehlo),
	}
	if r.Evidence != "" {
		args = append(args, "evidence", r.Evidence)
	}
	// "user" is not added here: s.log carries it since AUTH succeeded.
	args = append(args, clipClient(attrs)...)
	s.log.Info("reject", args...)
	s.b.metrics.Refused(s.b.lis.Name, command, r.Check, r.Code)
	return e
}

// clientAttrs name the log attributes that carry what the client sent.
var clientAttrs = map[string]bool{"from": true, "rcpt": true, "helo": true, "previous": true}

// clipClient returns attrs with the values of clientAttrs passed through
// reply.Clip, so that every refusal logs at most reply.MaxLogBytes of
// each, whoever passed them.
func clipClient(attrs []any) []any {
	out := append([]any(nil), attrs...)
	for i := 0; i+1 < len(out); i += 2 {
		if k, ok := out[i].(string); ok && clientAttrs[k] {
			if v, ok := out[i+1].(string); ok {
				out[i+1] = reply.Clip(v)
			}
		}
	}
	return out
}

// smtpError converts without logging. The enhanced code is left out for
// clients that greeted with HELO: they never asked for
// ENHANCEDSTATUSCODES (RFC 2034 §3).
func (s *Session) smtpError(r *reply.Reply) *smtp.SMTPError {
	return toSMTPError(r, s.ehlo)
}

// toSMTPError is the one conversion of a reply.Reply into go-smtp's
// error: code and text, and the enhanced code when enhanced is set (the
// client greeted with EHLO) and r has one; go-smtp then fills in X.0.0.
func toSMTPError(r *reply.Reply, enhanced bool) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.Code, Message: r.Text}
	switch {
	case !enhanced:
		e.EnhancedCode = smtp.NoEnhancedCode
	case r.HasEnhanced():
		e.EnhancedCode = smtp.EnhancedCode(r.Enhanced)
	}
	return e
}

// completed returns the positive reply that ends DATA with text. go-smtp
// writes the text of a returned SMTPError whatever its code, and an error
// is the only way a Session can choose the text of a 250: this is how the
// 250 carries the queue id. Its 2.0.0 is sent even to a HELO client, as
// go-smtp's own 250 would be.
func completed(text string) *smtp.SMTPError {
	return toSMTPError(&reply.Reply{Code: reply.C250Completed, Enhanced: reply.E200Success, Text: text}, true)
}

// internalError answers what no refusal describes: a generic 451 for the
// client, the details for the log (never go-smtp's err.Error()).
func (s *Session) internalError(command string, err error) *smtp.SMTPError {
	s.log.Error("internal error", "command", command, "err", err)
	return s.smtpError(&reply.Reply{Code: reply.C451LocalError, Enhanced: reply.E430MailSystem, Text: "Internal error, try again later"})
}

// asSMTPError returns err when it already is a go-smtp reply.
func asSMTPError(err error) (*smtp.SMTPError, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se, true
	}
	return nil, false
}

// refusalf builds a Reply whose text is format with args. String
// arguments, which are what the client sent (an address, a
// mechanism), are cut by reply.Clip: the reply line stays within RFC 5321
// §4.5.3.1.5's 512 octets, and the log line that quotes it stays short.
func refusalf(code int, enh reply.Enhanced, check, format string, args ...any) *reply.Reply {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = reply.Clip(s)
		}
	}
	return &reply.Reply{Code: code, Enhanced: enh, Check: check, Text: fmt.Sprintf(format, args...)}
}

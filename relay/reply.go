package relay

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/reply"
)

// ErrUnavailable is wrapped by every error of this package that is not a
// *ReplyError and not the message reader's own error: the downstream could not
// be reached, or failed part way (dial, TLS, timeout, broken connection,
// protocol error, full pool). The caller answers 451 4.4.1 and the sender
// retries (RFC 5321 §4.2.5).
var ErrUnavailable = errors.New("downstream unavailable")

// unavailable wraps err, saying what was being done, in ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// ReplyError is the error of a downstream that answered and said no: a
// refusal of MAIL, RCPT or DATA. Its reply (code, enhanced code and text)
// can be passed on to the client.
type ReplyError struct {
	*reply.Reply
}

// Error renders the reply as "downstream replied 550 5.1.1 text".
func (e *ReplyError) Error() string {
	return "downstream replied " + e.Reply.String()
}

// refused wraps a refusing reply of the downstream as its error.
func refused(r *reply.Reply) error {
	return &ReplyError{r}
}

// QueueID returns the downstream's id for an accepted message, parsed from
// the text of its 250 reply, or "" when the text holds none it knows:
//
//	Postfix   "Ok: queued as 4ZxY1k2Lm3z5"
//	Exim      "OK id=1tXyZa-000ABC-De"
//	sendmail  "5AB1CdEf012345 Message accepted for delivery"
//	Exchange  "<id@host> [InternalId=123, Hostname=h] Queued mail for delivery"
//	qmail     "ok 1732426939 qp 12345"
//	maildir   "Ok: delivered as 1732426939.123_0a1b.host"
func QueueID(r *reply.Reply) string {
	text := r.Text
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:] // the id is on the last line
	}
	for _, marker := range []string{"queued as ", "delivered as ", "id=", "InternalId=", " qp "} {
		i := strings.Index(text, marker)
		if i < 0 {
			continue
		}
		if id := idToken(text[i+len(marker):]); id != "" {
			return id
		}
	}
	// sendmail: the id is the word before "Message accepted".
	if i := strings.Index(text, " Message accepted"); i > 0 {
		words := strings.Fields(text[:i])
		return idToken(words[len(words)-1])
	}
	return ""
}

// idToken returns the queue id at the start of s: letters, digits and
// ".-_" (a trailing '.' belongs to the sentence, not the id).
func idToken(s string) string {
	end := 0
	for end < len(s) {
		c := s[end]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			break
		}
		end++
	}
	return strings.TrimRight(s[:end], ".")
}

// parseReply builds a reply.Reply from a code and textproto's message (lines
// joined by "\n"), taking off the enhanced status code (RFC 2034 §4). RFC
// 2034 puts it on every line; some servers (go-smtp's among them) put it
// on the last line only, so that one is looked at too.
func parseReply(code int, msg string) *reply.Reply {
	r := &reply.Reply{Code: code, Text: msg}
	lines := strings.Split(msg, "\n")
	var enh reply.Enhanced
	var word string
	ok := false
	for _, l := range []string{lines[0], lines[len(lines)-1]} {
		word, _, _ = strings.Cut(l, " ")
		if enh, ok = parseEnhanced(word, code); ok {
			break
		}
	}
	if !ok {
		return r
	}
	r.Enhanced = enh
	for i, l := range lines {
		if rest, found := strings.CutPrefix(l, word); found && (rest == "" || rest[0] == ' ') {
			lines[i] = strings.TrimPrefix(rest, " ")
		}
	}
	r.Text = strings.Join(lines, "\n")
	return r
}

// parseEnhanced parses "5.1.1"; its class must match the reply code's.
func parseEnhanced(s string, code int) (reply.Enhanced, bool) {
	var e reply.Enhanced
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return e, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || len(p) > 3 {
			return e, false
		}
		e[i] = n
	}
	if e[0] != code/100 {
		return e, false
	}
	return e, true
}

// fromSMTPError converts a go-smtp client error into a *reply.Reply when
// it is a reply of the server, and reports whether it was.
func fromSMTPError(err error) (*reply.Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.EnhancedCode == (smtp.EnhancedCode{}) {
			return parseReply(se.Code, se.Message), true
		}
		return &reply.Reply{Code: se.Code, Enhanced: reply.Enhanced(se.EnhancedCode), Text: se.Message}, true
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return parseReply(te.Code, te.Msg), true
	}
	return nil, false
}

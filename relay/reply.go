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
// *Reply and not the message reader's own error: the downstream could not
// be reached, or failed part way (dial, TLS, timeout, broken connection,
// protocol error, full pool). The caller answers 451 4.4.1 and the sender
// retries (RFC 5321 §4.2.5).
var ErrUnavailable = errors.New("downstream unavailable")

// unavailable wraps err, saying what was being done, in ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// Reply is a reply of the downstream MTA: a refusal of MAIL, RCPT or DATA,
// or the 250 that accepted a message. As an error it means the downstream
// answered and said no; its code and text can be passed on to the client.
type Reply struct {
	Code     int    // 250, 450, 550, ...
	Enhanced [3]int // {5, 1, 1}; all zero when the reply had none (RFC 3463)
	Text     string // without code and enhanced code; lines joined by "\n"
}

// Error renders the reply as "downstream replied 550 5.1.1 text".
func (r *Reply) Error() string {
	return "downstream replied " + r.String()
}

// String renders the reply as "550 5.1.1 text" (lines joined by " / ").
func (r *Reply) String() string {
	text := strings.ReplaceAll(r.Text, "\n", " / ")
	if r.Enhanced[0] != 0 {
		return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], text)
	}
	return fmt.Sprintf("%d %s", r.Code, text)
}

// Temporary reports whether the reply is a 4xx, after which the sender is
// expected to try again (RFC 5321 §4.2.1).
func (r *Reply) Temporary() bool {
	return r.Code/100 == 4
}

// Refusal converts a refusing reply into the gateway's refusal type, with
// Check "downstream", so backend can treat it like its own refusals.
func (r *Reply) Refusal() *reply.Refusal {
	return &reply.Refusal{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, Check: "downstream"}
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
func (r *Reply) QueueID() string {
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

// parseReply builds a Reply from a code and textproto's message (lines
// joined by "\n"), taking off the enhanced status code (RFC 2034 §4). RFC
// 2034 puts it on every line; some servers (go-smtp's among them) put it
// on the last line only, so that one is looked at too.
func parseReply(code int, msg string) *Reply {
	r := &Reply{Code: code, Text: msg}
	lines := strings.Split(msg, "\n")
	var enh [3]int
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
func parseEnhanced(s string, code int) ([3]int, bool) {
	var e [3]int
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

// fromSMTPError converts a go-smtp client error into a *Reply when it is
// a reply of the server, and reports whether it was.
func fromSMTPError(err error) (*Reply, bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.EnhancedCode == (smtp.EnhancedCode{}) {
			return parseReply(se.Code, se.Message), true
		}
		return &Reply{Code: se.Code, Enhanced: [3]int(se.EnhancedCode), Text: se.Message}, true
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return parseReply(te.Code, te.Msg), true
	}
	return nil, false
}

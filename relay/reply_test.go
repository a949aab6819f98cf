package relay

import (
	"errors"
	"fmt"
	"net/textproto"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/reply"
)

func TestQueueID(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "Postfix", text: "Ok: queued as 4ZxY1k2Lm3z5", want: "4ZxY1k2Lm3z5"},
		{name: "Postfix long id", text: "Ok: queued as 4ZxY1k2Lm3z5Y6bH", want: "4ZxY1k2Lm3z5Y6bH"},
		{name: "Exim", text: "OK id=1tXyZa-000ABC-De", want: "1tXyZa-000ABC-De"},
		{name: "sendmail", text: "5AB1CdEf012345 Message accepted for delivery", want: "5AB1CdEf012345"},
		{name: "Exchange", text: "<CAF1@mail.example> [InternalId=4294967297, Hostname=EX1] Queued mail for delivery", want: "4294967297"},
		{name: "qmail", text: "ok 1732426939 qp 12345", want: "12345"},
		{name: "maildir", text: "Ok: delivered as 1732426939.99_0a1b2c3d.host", want: "1732426939.99_0a1b2c3d.host"},
		{name: "id on the last line", text: "Thanks\nOk: queued as ABC123", want: "ABC123"},
		{name: "trailing period", text: "Queued as ABC. queued as DEF.", want: "DEF"},
		{name: "go-smtp", text: "OK: queued", want: ""},
		{name: "none", text: "Ok", want: ""},
		{name: "empty", text: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: tc.text}
			if got := QueueID(r); got != tc.want {
				t.Errorf("QueueID(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name string
		code int
		msg  string
		want reply.Reply
	}{
		{name: "enhanced", code: 250, msg: "2.0.0 Ok: queued as X", want: reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Ok: queued as X"}},
		{name: "no enhanced", code: 250, msg: "Ok", want: reply.Reply{Code: 250, Enhanced: [3]int{}, Text: "Ok"}},
		{name: "class mismatch is text", code: 250, msg: "5.0.0 odd", want: reply.Reply{Code: 250, Enhanced: [3]int{}, Text: "5.0.0 odd"}},
		{name: "multi-line", code: 550, msg: "5.7.1 first\n5.7.1 second", want: reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "first\nsecond"}},
		{name: "code on the last line only", code: 452, msg: "Mailbox full\n4.2.2 Try later", want: reply.Reply{Code: 452, Enhanced: [3]int{4, 2, 2}, Text: "Mailbox full\nTry later"}},
		{name: "not a code", code: 250, msg: "2.0 Ok", want: reply.Reply{Code: 250, Enhanced: [3]int{}, Text: "2.0 Ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseReply(tc.code, tc.msg); *got != tc.want {
				t.Errorf("parseReply(%d, %q) = %+v, want %+v", tc.code, tc.msg, *got, tc.want)
			}
		})
	}
}

// TestReplyError checks the error of a refusing downstream: it says who
// replied, and carries the reply itself for backend to pass on.
func TestReplyError(t *testing.T) {
	r := &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "User unknown"}
	err := fmt.Errorf("rcpt: %w", refused(r))
	if got, want := err.Error(), "rcpt: downstream replied 550 5.1.1 User unknown"; got != want {
		t.Errorf("Error %q, want %q", got, want)
	}
	var re *ReplyError
	if !errors.As(err, &re) || re.Reply != r {
		t.Errorf("errors.As = %v, %+v; want the reply itself", re != nil, re)
	}
}

func TestFromSMTPError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *reply.Reply
	}{
		{name: "go-smtp error", err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}, want: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no"}},
		{name: "textproto error", err: &textproto.Error{Code: 421, Msg: "4.4.2 bye"}, want: &reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Text: "bye"}},
		{name: "network error", err: errors.New("connection reset"), want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fromSMTPError(tc.err)
			if ok != (tc.want != nil) || ok && *got != *tc.want {
				t.Errorf("fromSMTPError = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}

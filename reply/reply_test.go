package reply

import "testing"

func TestReplyRendering(t *testing.T) {
	tests := []struct {
		name      string
		r         Reply
		str       string
		enhanced  string
		wire      string
		temporary bool
	}{
		{name: "enhanced", r: Reply{Code: C550MailboxUnavailable, Enhanced: Enhanced{5, 1, 1}, Text: "User unknown"},
			str: "550 5.1.1 User unknown", enhanced: "5.1.1", wire: "550 5.1.1 User unknown\r\n"},
		{name: "plain multi-line", r: Reply{Code: C451LocalError, Text: "a\nb"},
			str: "451 a / b", enhanced: "", wire: "451-a\r\n451 b\r\n", temporary: true},
		{name: "enhanced multi-line", r: Reply{Code: C421ServiceNotAvailable, Enhanced: E470Security, Text: "mx: detail; try again later\nToo many connections"},
			str: "421 4.7.0 mx: detail; try again later / Too many connections", enhanced: "4.7.0",
			wire: "421-4.7.0 mx: detail; try again later\r\n421 4.7.0 Too many connections\r\n", temporary: true},
		{name: "two-digit detail", r: Reply{Code: C550MailboxUnavailable, Enhanced: E5725ReverseDNS, Text: "no PTR"},
			str: "550 5.7.25 no PTR", enhanced: "5.7.25", wire: "550 5.7.25 no PTR\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.String(); got != tc.str {
				t.Errorf("String %q, want %q", got, tc.str)
			}
			if got := tc.r.EnhancedString(); got != tc.enhanced {
				t.Errorf("EnhancedString %q, want %q", got, tc.enhanced)
			}
			if got := tc.r.HasEnhanced(); got != (tc.enhanced != "") {
				t.Errorf("HasEnhanced %v", got)
			}
			if got := tc.r.Wire(); got != tc.wire {
				t.Errorf("Wire %q, want %q", got, tc.wire)
			}
			if tc.r.Temporary() != tc.temporary {
				t.Errorf("Temporary %v, want %v", tc.r.Temporary(), tc.temporary)
			}
		})
	}
}

// TestEnhancedNames checks that each named enhanced code reads back from
// its name, E<class><subject><detail>: the scheme of doc.go.
func TestEnhancedNames(t *testing.T) {
	named := map[string]Enhanced{
		"E200": E200Success, "E430": E430MailSystem, "E432": E432NotAcceptingMessages,
		"E441": E441NoAnswer, "E442": E442BadConnection, "E443": E443DirectoryServerFailure,
		"E453": E453TooManyRecipients, "E470": E470Security, "E471": E471NotAuthorized,
		"E513": E513BadDestinationSyntax, "E517": E517BadSenderSyntax, "E534": E534MessageTooBig,
		"E551": E551InvalidCommand, "E552": E552SyntaxError, "E554": E554InvalidArguments,
		"E560": E560MediaError, "E567": E567NonASCIIAddress, "E570": E570Security,
		"E571": E571NotAuthorized, "E578": E578BadCredentials, "E5711": E5711EncryptionRequired,
		"E5725": E5725ReverseDNS, "E5730": E5730RequireTLSNotSupported,
	}
	for name, e := range named {
		d := name[1:]
		if want := d[:1] + "." + d[1:2] + "." + d[2:]; e.String() != want {
			t.Errorf("%s is %s, want %s", name, e, want)
		}
	}
}

// TestRender checks the go-smtp rendering the refusal log line and the
// check-helo report show: the enhanced code on the last line only, after
// EHLO only, X.0.0 when the reply has none.
func TestRender(t *testing.T) {
	multi := &Reply{Code: C550MailboxUnavailable, Enhanced: E571NotAuthorized, Text: "why (check: fqdn)\nAccess denied"}
	plain := &Reply{Code: C554TransactionFailed, Text: "No such user here"}
	tests := []struct {
		name     string
		r        *Reply
		enhanced bool
		want     string
	}{
		{name: "EHLO multi-line", r: multi, enhanced: true, want: "550-why (check: fqdn)\n550 5.7.1 Access denied"},
		{name: "HELO multi-line", r: multi, enhanced: false, want: "550-why (check: fqdn)\n550 Access denied"},
		{name: "EHLO without enhanced code", r: plain, enhanced: true, want: "554 5.0.0 No such user here"},
		{name: "HELO without enhanced code", r: plain, enhanced: false, want: "554 No such user here"},
		{name: "3xx gets no default", r: &Reply{Code: 354, Text: "Go ahead"}, enhanced: true, want: "354 Go ahead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Render(tc.enhanced); got != tc.want {
				t.Errorf("Render(%v) = %q, want %q", tc.enhanced, got, tc.want)
			}
		})
	}
}

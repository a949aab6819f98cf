package relay

import (
	"strings"
	"testing"
)

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"2.0.0 Ok: queued as X", "Mailbox full\n4.2.2 Try later", "5.7.1 a\n5.7.1 b", "", "2.0", "OK id=1x-2"} {
		f.Add(250, s)
	}
	f.Fuzz(func(t *testing.T, code int, msg string) {
		r := parseReply(code, msg)
		if r.Code != code {
			t.Fatalf("code %d, want %d", r.Code, code)
		}
		if r.Enhanced != [3]int{} && r.Enhanced[0] != code/100 {
			t.Fatalf("enhanced %v does not match code %d", r.Enhanced, code)
		}
		if strings.Count(r.Text, "\n") != strings.Count(msg, "\n") {
			t.Fatalf("lines changed: %q -> %q", msg, r.Text)
		}
		if id := QueueID(r); strings.ContainsAny(id, " \r\n") {
			t.Fatalf("queue id %q holds white space", id)
		}
	})
}

func FuzzParseDownstream(f *testing.F) {
	for _, s := range []string{"smtp://10.0.0.5:25", "smtps://[::1]:465", "maildir:/x", "smtp://h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scheme, rest, err := ParseDownstream(s)
		if err != nil {
			return
		}
		if rest == "" || scheme+"://"+rest != s && scheme+":"+rest != s {
			t.Fatalf("ParseDownstream(%q) = %q, %q", s, scheme, rest)
		}
		switch scheme {
		case "smtp", "smtps":
			if _, err := NewSMTP(SMTPConfig{Address: rest}); err != nil {
				t.Fatalf("accepted %q but NewSMTP refuses it: %v", s, err)
			}
		case "maildir":
		default:
			t.Fatalf("scheme %q", scheme)
		}
	})
}

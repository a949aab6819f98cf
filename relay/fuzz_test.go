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

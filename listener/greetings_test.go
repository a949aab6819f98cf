package listener_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/listener"
)

// Issue 12, bug 4: each HELO/EHLO may start DNS checks, so a connection
// gets a bounded number of them. Pipelined or not, the greeting after the
// last allowed one gets 421 and the connection is closed.
func TestTooManyGreetings(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.MaxGreetings = 3 })
	c := dial(t, f.addr, "")
	c.reply()
	c.cmd("EHLO a.example.org")
	c.cmd("HELO b.example.org")
	// The third and the fourth pipelined: the third is answered, the
	// fourth refused.
	c.send("EHLO c.example.org\r\nEHLO d.example.org\r\n")
	if got := c.reply(); !strings.HasPrefix(got[0], "250") {
		t.Fatalf("third greeting: %q", got)
	}
	if got := c.reply(); len(got) != 1 || got[0] != "421 4.7.0 mx.test.example Error: too many HELO/EHLO commands" {
		t.Errorf("fourth greeting: %q", got)
	}
	if !c.closed() {
		t.Error("connection left open after 421")
	}
	if !strings.Contains(f.logs.String(), "reason=too_many_greetings") {
		t.Errorf("no log line for the refusal:\n%s", f.logs.String())
	}
}

// 0 is no limit.
func TestGreetingsUnlimited(t *testing.T) {
	f := start(t, nil)
	c := dial(t, f.addr, "")
	c.reply()
	for i := range 30 {
		if got := c.cmd(fmt.Sprintf("EHLO n%d.example.org", i)); !strings.HasPrefix(got[0], "250") {
			t.Fatalf("greeting %d: %q", i, got)
		}
	}
}

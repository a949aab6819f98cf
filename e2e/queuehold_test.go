package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestQueueRouteHold: with the downstream down, the runner's first failed
// attempt holds the route (logged once) and the other spooled messages
// wait untried instead of each failing on its own; when the downstream is
// back and a new session's RCPT check reaches it, the waiting messages
// go at once, not at the end of the hold (retry_min is 10m here): only
// the one message that failed waits for its own retry.
func TestQueueRouteHold(t *testing.T) {
	e := spoolWhileDown(t, "held")
	cfg := e.gw.ConfigPath()
	for end := time.Now().Add(20 * time.Second); !strings.Contains(e.gw.Logs(), "queue route held"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no \"queue route held\" in the log after 20s; spool: %v", queueList(t, cfg))
		}
	}
	time.Sleep(2 * time.Second) // the runner had time to try the others, were they not held
	tried := 0
	for _, m := range queueList(t, cfg) {
		if m["attempts"].(float64) > 0 {
			tried++
		}
	}
	if tried != 1 {
		t.Errorf("%d of 3 spooled messages tried while the downstream is down, want 1 (the route is held after the first failure)", tried)
	}
	if n := strings.Count(e.gw.Logs(), "queue route held"); n != 1 {
		t.Errorf("%d \"queue route held\" log lines, want 1", n)
	}

	e.postfix.Start(t)
	// A new message: its RCPT check reaches the downstream, which ends the hold.
	if out, code := e.swaks(t, "--to", "erin@example.com", "--header", "Subject: after"); code != 0 {
		t.Fatalf("message after the downstream's return: exit %d\n%s", code, out)
	}
	e.postfix.WaitMessages(t, 4, 30*time.Second) // verify, the two held ones, the new one
	time.Sleep(time.Second)
	if msgs := e.postfix.Messages(t); len(msgs) != 4 {
		t.Errorf("%d messages delivered, want 4 (the one that failed waits for its retry in 10m)", len(msgs))
	}
	if l := queueList(t, cfg); len(l) != 1 || l[0]["attempts"].(float64) != 1 {
		t.Errorf("spool after the return: %v, want the one message that failed", l)
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// queueList runs `gateway queue list -json` on the running gateway's
// configuration.
func queueList(t *testing.T, config string) []map[string]any {
	t.Helper()
	out, errOut, code := e2etest.RunGateway(t, "queue", "list", "-config", config, "-json")
	if code != 0 {
		t.Fatalf("queue list: exit %d: %s", code, errOut)
	}
	var list []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("queue list -json: %v in %q", err, out)
		}
		list = append(list, m)
	}
	return list
}

// spoolWhileDown starts a gateway in queue mode (retry_min 10m, so only
// something the test does explains an early delivery), delivers one
// message so that erin@example.com is a verified recipient, stops
// Postfix, and spools three more to erin, subjects "<prefix>-0" to
// "<prefix>-2", all accepted with the downstream down.
func spoolWhileDown(t *testing.T, prefix string) *env {
	t.Helper()
	o := opts{extra: fmt.Sprintf("mode = \"queue\"\n[queue]\ndir = %q\nretry_min = \"10m\"\nretry_max = \"1h\"\nmin_free_bytes = 0\n", t.TempDir())}
	e := setup(t, &e2etest.PostfixOptions{}, o)
	if out, code := e.swaks(t, "--to", "erin@example.com", "--header", "Subject: verify"); code != 0 {
		t.Fatalf("first message: exit %d\n%s", code, out)
	}
	e.postfix.WaitMessages(t, 1, 30*time.Second)
	e.postfix.Stop(t)
	for i := range 3 {
		if out, code := e.swaks(t, "--to", "erin@example.com", "--header", fmt.Sprintf("Subject: %s-%d", prefix, i)); code != 0 {
			t.Fatalf("message %d with the downstream down: exit %d\n%s", i, code, out)
		}
	}
	return e
}

// TestQueueAdminWhileRunning: `gateway queue list/show/delete/flush`
// through the binary, on the spool of a running gateway whose runner is
// retrying: delete removes a message for good, flush makes the rest due at
// once (retry_min is 10m, so only flush explains a delivery within the
// test).
func TestQueueAdminWhileRunning(t *testing.T) {
	e := spoolWhileDown(t, "admin")
	cfg := e.gw.ConfigPath()
	var list []map[string]any
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// wait until the runner tried one (attempts 1, last error set):
		// that failure holds the route, so the others wait untried
		list = queueList(t, cfg)
		tried := 0
		for _, m := range list {
			if m["attempts"].(float64) >= 1 && m["last_error"] != "" {
				tried++
			}
		}
		if len(list) == 3 && tried >= 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("queue list after 3 spooled messages and a failed attempt: %v", list)
		}
	}
	for _, k := range []string{"id", "sender", "recipients", "size", "age", "attempts", "last_error"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("queue list -json lacks %q: %v", k, list[0])
		}
	}
	if list[0]["sender"] != sender || fmt.Sprint(list[0]["recipients"]) != "[erin@example.com]" {
		t.Errorf("queue list entry: %v", list[0])
	}
	deleted := list[0]["id"].(string)
	out, errOut, code := e2etest.RunGateway(t, "queue", "show", "-config", cfg, list[1]["id"].(string))
	if code != 0 || !strings.Contains(out, "erin@example.com") {
		t.Errorf("queue show: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := e2etest.RunGateway(t, "queue", "delete", "-config", cfg, deleted); code != 0 {
		t.Fatalf("queue delete: exit %d: %s", code, errOut)
	}
	if l := queueList(t, cfg); len(l) != 2 {
		t.Fatalf("queue list after delete: %d messages, want 2", len(l))
	}

	e.postfix.Start(t)
	if _, errOut, code := e2etest.RunGateway(t, "queue", "flush", "-config", cfg); code != 0 {
		t.Fatalf("queue flush: exit %d: %s", code, errOut)
	}
	e.postfix.WaitMessages(t, 3, 60*time.Second) // the first one and the two left
	for end := time.Now().Add(20 * time.Second); len(queueList(t, cfg)) != 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("spool not empty after flush and delivery: %v", queueList(t, cfg))
		}
	}
	time.Sleep(time.Second)
	if msgs := e.postfix.Messages(t); len(msgs) != 3 {
		t.Errorf("%d messages delivered, want 3 (the deleted one never)", len(msgs))
	}
}

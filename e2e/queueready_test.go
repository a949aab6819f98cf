package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// TestQueueReadyzAndFull: in queue mode /readyz stays ready while the
// downstream is down (mail is spooled); once one more message of
// limits.max_message_bytes would take the spool past queue.max_bytes, MAIL
// gets 452 4.3.1 and /readyz turns unready (the headroom), and ready again
// when the spool drained; the metrics show the spool.
// A spool whose file system is under min_free_bytes makes /readyz
// unready and MAIL get 452 4.3.1.
func TestQueueReadyzAndFull(t *testing.T) {
	met := e2etest.FreeAddr(t, "127.0.0.1")
	o := opts{extra: fmt.Sprintf("mode = \"queue\"\n[queue]\ndir = %q\nretry_min = \"1s\"\nretry_max = \"2s\"\nmin_free_bytes = 0\nmax_bytes = 20000\n"+
		"[limits]\nmax_message_bytes = 10000\n[metrics]\naddress = %q\n", t.TempDir(), met)}
	e := setup(t, &e2etest.PostfixOptions{}, o)
	status := func() int {
		t.Helper()
		out, code := e2etest.Curl(t, "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+met+"/readyz")
		if code != 0 {
			t.Fatalf("curl /readyz: exit %d %s", code, out)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	waitStatus := func(want int) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); status() != want; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("/readyz = %d after 20s, want %d", status(), want)
			}
		}
	}
	if out, code := e.swaks(t, "--to", "fay@example.com", "--header", "Subject: verify"); code != 0 {
		t.Fatalf("first message: exit %d\n%s", code, out)
	}
	e.postfix.WaitMessages(t, 1, 30*time.Second)
	waitStatus(200)
	e.postfix.Stop(t)
	body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n", 120) // ~8 KB
	if out, code := e.swaks(t, "--to", "fay@example.com", "--header", "Subject: fill-0", "--body", body); code != 0 {
		t.Fatalf("first message with the downstream down: exit %d\n%s", code, out)
	}
	waitStatus(200) // the downstream's outage does not make the gateway unready
	accepted, refused := 1, ""
	for i := 1; i < 4 && refused == ""; i++ {
		out, code := e.swaks(t, "--to", "fay@example.com", "--header", fmt.Sprintf("Subject: fill-%d", i), "--body", body)
		if code == 0 {
			accepted++
			continue
		}
		refused = out
	}
	if accepted == 0 || !strings.Contains(refused, "452 4.3.1 ") {
		t.Fatalf("filling a 20000-byte spool with 8 KB messages: %d accepted, then want 452 4.3.1:\n%s", accepted, refused)
	}
	// 2 × 8 KB spooled: less than max_message_bytes (10000) left under
	// max_bytes, so MAIL is refused before a message could run out of room.
	if accepted != 2 || strings.Contains(refused, "> DATA") {
		t.Errorf("want 2 messages accepted and the third refused at MAIL (headroom of one max_message_bytes), got %d accepted:\n%s", accepted, refused)
	}
	waitStatus(503) // full: unready
	if out, _ := e2etest.Curl(t, "-s", "http://"+met+"/metrics"); !strings.Contains(out, fmt.Sprintf("gateway_queue_messages %d", accepted)) {
		t.Errorf("/metrics lacks gateway_queue_messages %d:\n%s", accepted, grepLines(out, "gateway_queue_"))
	}

	e.postfix.Start(t)
	e.postfix.WaitMessages(t, 1+accepted, 60*time.Second)
	waitStatus(200)

	// A file system under min_free_bytes: unready, and MAIL gets 452 4.3.1.
	met2 := e2etest.FreeAddr(t, "127.0.0.1")
	o2 := opts{mx: e2etest.FreeAddr(t, "127.0.0.1"), dns: e.dns.Addr(), downstream: "smtp://" + e.postfix.Addr(),
		extra: fmt.Sprintf("mode = \"queue\"\n[queue]\ndir = %q\nmin_free_bytes = %d\n[metrics]\naddress = %q\n", t.TempDir(), int64(1)<<62, met2)}
	e2etest.StartGateway(t, o2.toml(), o2.mx, met2)
	out, _ := e2etest.Curl(t, "-s", "-w", " %{http_code}", "http://"+met2+"/readyz")
	if !strings.HasSuffix(out, " 503") || !strings.Contains(out, "spool") {
		t.Errorf("/readyz with the spool's file system under min_free_bytes: %q, want 503 naming the spool", out)
	}
	r := e2etest.DialRaw(t, o2.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); !strings.HasPrefix(rep.Raw, "452 4.3.1 ") {
		t.Errorf("MAIL with the spool full: %s, want 452 4.3.1", rep)
	}
	r.Cmd(t, "QUIT")
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

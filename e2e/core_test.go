package e2e

// Core: the gateway relays into a real Postfix without losing, duplicating
// or half-delivering anything. Setup: an in-process DNS server, a private
// Postfix on a loopback port, the gateway binary in front of it. Proof: the
// bytes Postfix stored, the replies the clients saw, and Postfix's queue.

import (
	"bytes"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// The message a client sends; the gateway may only add header fields on top.
const testMessage = "From: Alice <alice@sender-e2e.net>\r\n" +
	"To: Bob <bob@example.com>\r\n" +
	"Subject: relay test\r\n" +
	"Message-ID: <relay-test-1@sender-e2e.net>\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	".leading dot survives dot-stuffing\r\n" +
	"..two dots too\r\n" +
	"\r\n" +
	"-- \r\nAlice\r\n"

// gatewayHeaders splits what the gateway added from the rest.
func gatewayHeaders(t *testing.T, relayed []byte) (added string, rest []byte) {
	t.Helper()
	i := bytes.Index(relayed, []byte("Received: from "+clientHELO))
	if i < 0 {
		t.Fatalf("no Received header from the gateway in:\n%s", relayed)
	}
	// The Received field ends at the first line that is not a continuation.
	j := i
	for {
		k := bytes.Index(relayed[j:], []byte("\r\n"))
		if k < 0 {
			t.Fatalf("unterminated header in:\n%s", relayed)
		}
		j += k + 2
		if j >= len(relayed) || (relayed[j] != ' ' && relayed[j] != '\t') {
			break
		}
	}
	return string(relayed[:j]), relayed[j:]
}

func TestRelayToPostfixByteExact(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	python := `
import smtplib, sys
s = smtplib.SMTP(sys.argv[1].split(':')[0], int(sys.argv[1].split(':')[1]), local_hostname=sys.argv[2])
s.ehlo(sys.argv[2])
s.mail(sys.argv[3])
code, resp = s.rcpt('bob@example.com')
print("RCPT", code, resp.decode())
code, resp = s.data(sys.stdin.buffer.read() if False else open(sys.argv[4], 'rb').read())
print("DATA", code, resp.decode())
s.quit()
`
	msgFile := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(msgFile, []byte(testMessage), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := e2etest.Python(t, python, e.mx, clientHELO, sender, msgFile)
	if code != 0 || !strings.Contains(out, "DATA 250") {
		t.Fatalf("smtplib: exit %d\n%s", code, out)
	}
	// The final reply carries the downstream's queue id and our id.
	if !regexp.MustCompile(`DATA 250 2\.0\.0 Ok: queued as [0-9A-Za-z]+ \(gateway id [0-9a-f]{12}\.1\)`).MatchString(out) {
		t.Errorf("final reply lacks queue id and gateway id:\n%s", out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	added, rest := gatewayHeaders(t, msgs[0].Relayed())
	if string(rest) != testMessage {
		t.Errorf("message changed on the way:\n got %q\nwant %q", rest, testMessage)
	}
	for _, want := range []string{
		"Authentication-Results: " + gwHost + "; iprev=",
		"X-HELO-Check: " + gwHost + ";",
		"Received: from " + clientHELO + " (",
		"[127.0.0.1])",
		"by " + gwHost + " (gateway) with ESMTP id ",
		"for <bob@example.com>;",
	} {
		if !strings.Contains(added, want) {
			t.Errorf("gateway headers lack %q:\n%s", want, added)
		}
	}
	// The id in the Received header is the one in the logs.
	id := regexp.MustCompile(`with ESMTP id ([0-9a-f]{12}\.1)`).FindStringSubmatch(added)
	if id == nil {
		t.Fatalf("no id in %q", added)
	}
	line := e.gw.WaitLog(t, "tx="+id[1], 5*time.Second)
	if !strings.Contains(line, "msg=relayed") || !strings.Contains(line, "queue_id=") {
		t.Errorf("relay log line: %s", line)
	}
	e.postfix.WaitQueueEmpty(t, 10*time.Second)
}

func TestRelayWithSwaks(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	out, code := e.swaks(t, "--to", "bob@example.com", "--header", "Subject: swaks test", "--body", "hello from swaks")
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	if msgs[0].Recipient != "bob@example.com" || msgs[0].Sender != sender {
		t.Errorf("envelope %q -> %q", msgs[0].Sender, msgs[0].Recipient)
	}
	if !bytes.Contains(msgs[0].Body, []byte("hello from swaks")) {
		t.Errorf("body: %q", msgs[0].Body)
	}
}

// Downstream down: 451 so that the sender retries; back up: the retry works
// and the message is there once.
func TestDownstreamDownThenUp(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	e.postfix.Stop(t)
	r := e2etest.DialRaw(t, e.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
		t.Fatalf("MAIL: %s", rep)
	}
	rep := r.Cmd(t, "RCPT TO:<bob@example.com>")
	if rep.Code != 451 || !strings.HasPrefix(rep.Raw, "451 4.4.1 ") {
		t.Fatalf("RCPT with the downstream down: %s", rep)
	}
	r.Cmd(t, "QUIT")
	e.gw.WaitLog(t, "check=downstream_unavailable", 5*time.Second)

	e.postfix.Start(t)
	out, code := e.swaks(t, "--to", "bob@example.com", "--header", "Subject: retry")
	if code != 0 {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	if msgs := e.postfix.WaitMessages(t, 1, 20*time.Second); len(msgs) != 1 {
		t.Errorf("%d messages after the retry", len(msgs))
	}
}

// The downstream's refusal reaches the client at RCPT, byte for byte.
func TestDownstreamRefusalAtRCPT(t *testing.T) {
	refusal := "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
	temp := "450 4.2.0 <busy@example.com>: Recipient address rejected: try later"
	e := setup(t, &e2etest.PostfixOptions{
		RejectRecipients:     map[string]string{"nobody@example.com": refusal},
		TempRejectRecipients: map[string]string{"busy@example.com": temp},
	}, opts{})
	r := e2etest.DialRaw(t, e.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	if rep := r.Cmd(t, "RCPT TO:<nobody@example.com>"); strings.TrimRight(rep.Raw, "\r\n") != refusal {
		t.Errorf("RCPT refused downstream:\n got %q\nwant %q", rep.Raw, refusal)
	}
	if rep := r.Cmd(t, "RCPT TO:<busy@example.com>"); strings.TrimRight(rep.Raw, "\r\n") != temp {
		t.Errorf("RCPT deferred downstream:\n got %q\nwant %q", rep.Raw, temp)
	}
	if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
		t.Errorf("good RCPT after refusals: %s", rep)
	}
	r.Cmd(t, "DATA")
	if rep := r.Cmd(t, "Subject: one of three\r\n\r\nhi\r\n."); rep.Code != 250 {
		t.Fatalf("DATA: %s", rep)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if got := e.postfix.Messages(t); len(got) != 1 || msgs[0].Recipient != "bob@example.com" {
		t.Errorf("delivered to %d recipients", len(got))
	}
}

// A client that disconnects mid-DATA leaves nothing behind downstream.
func TestClientDropsMidDATA(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	r := e2etest.DialRaw(t, e.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	r.Cmd(t, "RCPT TO:<bob@example.com>")
	if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %s", rep)
	}
	r.Send(t, []byte("Subject: half a message\r\n\r\n"+strings.Repeat("line of text\r\n", 2000)))
	r.Close()
	e.gw.WaitLog(t, "client gone mid-DATA", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if msgs := e.postfix.Messages(t); len(msgs) != 0 {
		t.Errorf("Postfix delivered %d messages from an aborted DATA", len(msgs))
	}
	if !e.postfix.QueueIsEmpty(t) {
		t.Errorf("Postfix queued a half message")
	}
	// The gateway still works afterwards.
	if out, code := e.swaks(t, "--to", "bob@example.com"); code != 0 {
		t.Fatalf("after the drop: %s", out)
	}
	e.postfix.WaitMessages(t, 1, 20*time.Second)
}

// 20 clients at once: every message delivered exactly once.
func TestConcurrentClientsExactlyOnce(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- sendOne(e.mx, fmt.Sprintf("concurrent-%02d", i))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	e.postfix.WaitMessages(t, n, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	msgs := e.postfix.Messages(t)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.Header.Get("Subject")]++
	}
	for i := 0; i < n; i++ {
		if s := fmt.Sprintf("concurrent-%02d", i); seen[s] != 1 {
			t.Errorf("%s delivered %d times", s, seen[s])
		}
	}
	if len(msgs) != n {
		t.Errorf("%d messages, want %d", len(msgs), n)
	}
}

// sendOne sends a message with Go's net/smtp (a third client besides swaks
// and smtplib).
func sendOne(addr, subject string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(clientHELO); err != nil {
		return err
	}
	if err := c.Mail(sender); err != nil {
		return fmt.Errorf("%s: MAIL: %w", subject, err)
	}
	if err := c.Rcpt("bob@example.com"); err != nil {
		return fmt.Errorf("%s: RCPT: %w", subject, err)
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Subject: %s\r\n\r\nbody of %s\r\n", subject, subject)
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: end of data: %w", subject, err)
	}
	return c.Quit()
}

func TestSizeAndRecipientLimits(t *testing.T) {
	e := setup(t, &e2etest.PostfixOptions{}, opts{extra: "[limits]\nmax_message_bytes = 10000\nmax_recipients = 2\n"})
	r := e2etest.DialRaw(t, e.mx, "")
	if ehlo := r.Cmd(t, "EHLO "+clientHELO); !strings.Contains(ehlo.Raw, "SIZE 10000") {
		t.Errorf("SIZE not advertised: %s", ehlo.Raw)
	}
	if rep := r.Cmd(t, "MAIL FROM:<"+sender+"> SIZE=20000"); !strings.HasPrefix(rep.Raw, "552 5.3.4") {
		t.Errorf("MAIL with SIZE over the limit: %s", rep)
	}
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	r.Cmd(t, "RCPT TO:<a@example.com>")
	r.Cmd(t, "RCPT TO:<b@example.com>")
	if rep := r.Cmd(t, "RCPT TO:<c@example.com>"); !strings.HasPrefix(rep.Raw, "452 4.5.3") {
		t.Errorf("third RCPT: %s", rep)
	}
	r.Cmd(t, "DATA")
	r.Send(t, []byte("Subject: big\r\n\r\n"+strings.Repeat("0123456789012345678901234567890123456789\r\n", 500)+".\r\n"))
	if rep := r.ReadReply(t); !strings.HasPrefix(rep.Raw, "552 5.3.4") {
		t.Errorf("body over the limit: %s", rep)
	}
	time.Sleep(300 * time.Millisecond)
	if msgs := e.postfix.Messages(t); len(msgs) != 0 {
		t.Errorf("an oversized message was delivered")
	}
	if !e.postfix.QueueIsEmpty(t) {
		t.Errorf("an oversized message was queued")
	}
}

// Recipients that route to different downstreams go in separate
// transactions: 452 4.5.3 for the second route.
func TestRouteSplit(t *testing.T) {
	e2etest.Require(t, "postfix", "swaks")
	other := e2etest.StartPostfix(t, e2etest.PostfixOptions{})
	e := setup(t, &e2etest.PostfixOptions{}, opts{extra: fmt.Sprintf("[[relay.route]]\ndomain = \"example.org\"\ndownstream = \"smtp://%s\"\n", other.Addr())})
	r := e2etest.DialRaw(t, e.mx, "")
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	if rep := r.Cmd(t, "RCPT TO:<bob@example.com>"); rep.Code != 250 {
		t.Fatalf("first RCPT: %s", rep)
	}
	if rep := r.Cmd(t, "RCPT TO:<carol@example.org>"); !strings.HasPrefix(rep.Raw, "452 4.5.3") {
		t.Errorf("RCPT for another downstream: %s", rep)
	}
	r.Cmd(t, "DATA")
	r.Cmd(t, "Subject: to com\r\n\r\nx\r\n.")
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	if rep := r.Cmd(t, "RCPT TO:<carol@example.org>"); rep.Code != 250 {
		t.Fatalf("RCPT in its own transaction: %s", rep)
	}
	r.Cmd(t, "DATA")
	r.Cmd(t, "Subject: to org\r\n\r\ny\r\n.")
	if m := e.postfix.WaitMessages(t, 1, 20*time.Second); m[0].Recipient != "bob@example.com" {
		t.Errorf("default downstream got %q", m[0].Recipient)
	}
	if m := other.WaitMessages(t, 1, 20*time.Second); m[0].Recipient != "carol@example.org" {
		t.Errorf("routed downstream got %q", m[0].Recipient)
	}
}

// The embedded default: no config file, loopback only, mail into ./maildir.
func TestEmbeddedDefault(t *testing.T) {
	e2etest.Require(t, "swaks")
	g := e2etest.StartGatewayArgs(t, []string{"serve", "-dns", startDNS(t)}, "127.0.0.1:2525", "127.0.0.1:2587")
	dir := g.Dir()
	g.WaitLog(t, "--auth-password", 10*time.Second) // the banner's last line
	for _, want := range []string{"127.0.0.1:2525", "127.0.0.1:2587", "maildir", "swaks --server 127.0.0.1:2525"} {
		if !strings.Contains(g.Logs(), want) {
			t.Errorf("start-up text lacks %q:\n%s", want, g.Logs())
		}
	}
	o, code := e2etest.Swaks(t, "--server", "127.0.0.1:2525", "--ehlo", "mail.client-lab.net",
		"--from", "alice@client-lab.net", "--to", "anyone@anywhere-lab.net", "--header", "Subject: lab")
	if code != 0 {
		t.Fatalf("swaks: exit %d\n%s\n%s", code, o, g.Logs())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("%d files in maildir/new", len(files))
	}
	data, _ := os.ReadFile(files[0])
	if !bytes.Contains(data, []byte("Subject: lab")) || !bytes.Contains(data, []byte("Received: from mail.client-lab.net")) {
		t.Errorf("maildir file:\n%s", data)
	}
	// A bad HELO is refused even on loopback: the policy is on.
	o, _ = e2etest.Swaks(t, "--server", "127.0.0.1:2525", "--ehlo", "mailserver", "--from", "a@client-lab.net", "--to", "b@x-lab.net")
	if !strings.Contains(o, "550 5.7.1") || !strings.Contains(o, "Access denied - Invalid HELO name (See RFC2821 4.1.1.1)") {
		t.Errorf("single-label HELO on the embedded default:\n%s", o)
	}
	// The submission line printed at start works as printed (generated
	// password, STARTTLS on a self-signed certificate, AUTH PLAIN).
	var subLine []string
	for _, l := range strings.Split(g.Logs(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "swaks" && strings.Contains(l, "--auth-password") {
			subLine = f[1:]
		}
	}
	if subLine == nil {
		t.Fatalf("no submission swaks line in:\n%s", g.Logs())
	}
	if o, code := e2etest.Swaks(t, subLine...); code != 0 || !strings.Contains(o, "235 2.0.0") {
		t.Fatalf("printed submission line: exit %d\n%s", code, o)
	}
	files, _ = filepath.Glob(filepath.Join(dir, "maildir", "new", "*"))
	if len(files) != 2 {
		t.Errorf("%d files in maildir/new after the submission, want 2", len(files))
	}
}

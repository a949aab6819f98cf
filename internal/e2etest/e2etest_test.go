package e2etest

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deliveryTimeout bounds waiting for Postfix to deliver; delivery takes
// milliseconds, the bound only stops a broken instance from hanging a test.
const deliveryTimeout = 30 * time.Second

// sendPython is a Python smtplib client: argv is ADDR SENDER RCPT MESSAGE.
// smtplib dot-stuffs and terminates DATA itself (RFC 5321 §4.5.2).
const sendPython = `
import smtplib, sys
addr, sender, rcpt, msg = sys.argv[1:5]
host, port = addr.rsplit(":", 1)
with smtplib.SMTP(host, int(port), local_hostname="python.test", timeout=30) as s:
    s.sendmail(sender, [rcpt], msg.encode())
print("sent")
`

// TestPostfixDelivers starts two private Postfix instances in parallel and
// sends each a message with swaks and one with Python's smtplib. It proves
// the instances are independent, deliver every accepted message into their
// maildir with the body bytes the client sent (dot-stuffing undone), expose
// envelope sender and recipient, and end with an empty queue.
func TestPostfixDelivers(t *testing.T) {
	Require(t, "postfix", "swaks", "python3")
	tests := []struct {
		name   string
		opts   PostfixOptions
		domain string
	}{
		{name: "default domains", opts: PostfixOptions{}, domain: "example.org"},
		{name: "own domain", opts: PostfixOptions{Domains: []string{"one.test"}}, domain: "one.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := StartPostfix(t, tc.opts)

			swaksRcpt := "bob@" + tc.domain
			out, code := Swaks(t, "--server", p.Addr(), "--helo", "swaks.test",
				"--from", "alice@example.net", "--to", swaksRcpt,
				"--data", "Subject: swaks "+tc.name+"\n\nswaks body\n.dot line")
			if code != 0 {
				t.Fatalf("swaks exit %d:\n%s", code, out)
			}

			pyRcpt := "dave@" + tc.domain
			pyMsg := "From: <carol@example.net>\r\nTo: <" + pyRcpt + ">\r\nSubject: python " + tc.name +
				"\r\n\r\nfirst line\r\n.leading dot\r\n\r\nlast line\r\n"
			out, code = Python(t, sendPython, p.Addr(), "carol@example.net", pyRcpt, pyMsg)
			if code != 0 || strings.TrimSpace(out) != "sent" {
				t.Fatalf("python exit %d:\n%s", code, out)
			}

			msgs := p.WaitMessages(t, 2, deliveryTimeout)
			if len(msgs) != 2 {
				t.Fatalf("%d messages delivered, want 2", len(msgs))
			}
			byRcpt := map[string]Message{}
			for _, m := range msgs {
				byRcpt[m.Recipient] = m
			}
			sw, py := byRcpt[swaksRcpt], byRcpt[pyRcpt]
			checks := []struct {
				name, got, want string
			}{
				{"swaks sender", sw.Sender, "alice@example.net"},
				{"swaks subject", sw.Header.Get("Subject"), "swaks " + tc.name},
				{"swaks body", string(sw.Body), "swaks body\r\n.dot line\r\n"},
				{"python sender", py.Sender, "carol@example.net"},
				{"python message byte-exact", string(py.Relayed()), pyMsg},
				{"python recipient as given", py.OriginalRecipient, pyRcpt},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if rcv := py.Header.Get("Received"); !strings.Contains(rcv, "by "+p.Hostname()+" (Postfix)") {
				t.Errorf("Postfix's Received %q does not name %s", rcv, p.Hostname())
			}
			p.WaitQueueEmpty(t, deliveryTimeout)
			if !p.QueueIsEmpty(t) {
				t.Error("QueueIsEmpty = false after delivery")
			}
			if log := p.Log(t); strings.Count(log, "status=sent (delivered to maildir)") != 2 {
				t.Errorf("maildir deliveries in log != 2:\n%s", log)
			}
		})
	}
}

// TestPostfixRecipientReplies configures refused recipients and proves
// Postfix answers RCPT with exactly the configured reply, accepts any other
// address of its domains and refuses foreign domains, as seen by Raw (from
// 127.0.0.2) and by swaks.
func TestPostfixRecipientReplies(t *testing.T) {
	Require(t, "postfix", "swaks")
	const (
		unknown = "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown"
		busy    = "450 4.2.1 <busy@example.com>: Recipient address rejected: Mailbox busy, try later"
	)
	p := StartPostfix(t, PostfixOptions{
		RejectRecipients:     map[string]string{"nobody@example.com": unknown},
		TempRejectRecipients: map[string]string{"busy@example.com": busy},
	})
	r := DialRaw(t, p.Addr(), "127.0.0.2")
	if rep := r.Cmd(t, "EHLO client.test"); rep.Code != 250 {
		t.Fatalf("EHLO: %q", rep.Raw)
	}
	if rep := r.Cmd(t, "MAIL FROM:<alice@example.net>"); rep.Code != 250 {
		t.Fatalf("MAIL: %q", rep.Raw)
	}
	tests := []struct {
		name, rcpt, want string
	}{
		{"permanent refusal as configured", "nobody@example.com", unknown},
		{"temporary refusal as configured", "busy@example.com", busy},
		{"catch-all accepts any other address", "anyone@example.org", "250 2.1.5 Ok"},
		{"foreign domain refused, nothing is relayed", "someone@example.net", "554 5.7.1 <someone@example.net>: Relay access denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rep := r.Cmd(t, "RCPT TO:<"+tc.rcpt+">"); rep.Raw != tc.want+"\r\n" {
				t.Errorf("RCPT TO:<%s> = %q, want %q", tc.rcpt, rep.Raw, tc.want+"\r\n")
			}
		})
	}
	if !strings.Contains(p.Log(t), "client=unknown[127.0.0.2]") && !strings.Contains(p.Log(t), "from unknown[127.0.0.2]") {
		t.Errorf("log does not show the client at 127.0.0.2:\n%s", p.Log(t))
	}

	out, code := Swaks(t, "--server", p.Addr(), "--from", "alice@example.net", "--to", "nobody@example.com")
	if code != 24 || !strings.Contains(out, "<** "+unknown+"\n") {
		t.Errorf("swaks to a refused recipient: exit %d (want 24: no RCPT accepted), output:\n%s", code, out)
	}
}

// TestPostfixStopStart proves Stop leaves no process and a refused port,
// and Start brings the instance back on the same address with its maildir.
func TestPostfixStopStart(t *testing.T) {
	Require(t, "postfix")
	p := StartPostfix(t, PostfixOptions{})
	addr := p.Addr()
	send(t, p.Addr(), "before@example.com", "Subject: before\r\n\r\nbefore stop\r\n")
	p.WaitMessages(t, 1, deliveryTimeout)

	pid := p.master.Process.Pid
	p.Stop(t)
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Stop: %v, want connection refused", err)
	}
	if pids, err := sessionMembers(pid); err != nil || len(pids) != 0 {
		t.Fatalf("processes of master %d after Stop: %v (%v)", pid, pids, err)
	}
	p.Stop(t) // a second Stop does nothing
	if !p.QueueIsEmpty(t) {
		t.Error("QueueIsEmpty = false on a stopped instance with nothing queued")
	}

	p.Start(t)
	if p.Addr() != addr {
		t.Fatalf("Addr after Start = %s, want %s", p.Addr(), addr)
	}
	send(t, p.Addr(), "after@example.com", "Subject: after\r\n\r\nafter start\r\n")
	msgs := p.WaitMessages(t, 2, deliveryTimeout)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Recipient)
	}
	if strings.Join(got, " ") != "before@example.com after@example.com" {
		t.Errorf("recipients in delivery order = %q, want before then after", got)
	}
}

// TestPostfixOptionsInEHLO proves options reach smtpd: each row starts an
// instance and finds its effect in the EHLO reply (RFC 5321 §4.1.1.1).
func TestPostfixOptionsInEHLO(t *testing.T) {
	Require(t, "postfix")
	tests := []struct {
		name    string
		opts    PostfixOptions
		want    string // a line of the EHLO reply
		notWant string
	}{
		{name: "default hostname first", opts: PostfixOptions{}, want: DefaultPostfixHostname, notWant: "STARTTLS"},
		{name: "own hostname", opts: PostfixOptions{Hostname: "legacy.example.com"}, want: "legacy.example.com"},
		{name: "size limit announced", opts: PostfixOptions{MessageSizeLimit: 4096}, want: "SIZE 4096"},
		{name: "TLS offered", opts: PostfixOptions{TLS: true}, want: "STARTTLS"},
		{name: "SMTPUTF8 on", opts: PostfixOptions{SMTPUTF8: "yes"}, want: "SMTPUTF8"},
		{name: "SMTPUTF8 off", opts: PostfixOptions{SMTPUTF8: "no"}, notWant: "SMTPUTF8"},
		{name: "extra main.cf reaches smtpd", opts: PostfixOptions{ExtraMainCF: map[string]string{"smtpd_discard_ehlo_keywords": "chunking"}}, notWant: "CHUNKING"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := StartPostfix(t, tc.opts)
			rep := DialRaw(t, p.Addr(), "").Cmd(t, "EHLO client.test")
			lines := strings.Join(rep.Lines, "\n") + "\n"
			if tc.want != "" && !strings.Contains(lines, tc.want+"\n") {
				t.Errorf("EHLO reply lacks %q:\n%s", tc.want, rep.Raw)
			}
			if tc.notWant != "" && strings.Contains(lines, tc.notWant) {
				t.Errorf("EHLO reply has %q:\n%s", tc.notWant, rep.Raw)
			}
		})
	}
}

// TestPostfixTLS proves a TLS instance completes STARTTLS with Raw and with
// swaks (which needs Net::SSLeay) and delivers mail sent inside TLS.
func TestPostfixTLS(t *testing.T) {
	Require(t, "postfix", "swaks")
	p := StartPostfix(t, PostfixOptions{TLS: true})

	r := DialRaw(t, p.Addr(), "")
	r.Cmd(t, "EHLO client.test")
	r.StartTLS(t)
	if st, ok := r.TLS(); !ok || !st.HandshakeComplete {
		t.Fatalf("TLS state after StartTLS: %v, %+v", ok, st)
	}
	for _, step := range []struct{ cmd, wantPrefix string }{
		{"EHLO client.test", "250-" + p.Hostname()},
		{"MAIL FROM:<tls@example.net>", "250 "},
		{"RCPT TO:<raw-tls@example.com>", "250 "},
		{"DATA", "354 "},
		{"Subject: raw tls\r\n\r\nover TLS\r\n.", "250 "},
		{"QUIT", "221 "},
	} {
		if rep := r.Cmd(t, step.cmd); !strings.HasPrefix(rep.Raw, step.wantPrefix) {
			t.Fatalf("%q: got %q, want prefix %q", step.cmd, rep.Raw, step.wantPrefix)
		}
	}

	out, code := Swaks(t, "--server", p.Addr(), "--tls", "--from", "tls@example.net", "--to", "swaks-tls@example.com")
	if code != 0 || !strings.Contains(out, "<~  250 ") {
		t.Fatalf("swaks --tls: exit %d, output:\n%s", code, out)
	}
	msgs := p.WaitMessages(t, 2, deliveryTimeout)
	for _, m := range msgs {
		// RFC 3848: "ESMTPS" is ESMTP over TLS.
		if !strings.Contains(m.Header.Get("Received"), " with ESMTPS ") {
			t.Errorf("message to %s: Received %q does not say ESMTPS", m.Recipient, m.Header.Get("Received"))
		}
	}
}

// send delivers one message to rcpt through addr with the raw client.
func send(t *testing.T, addr, rcpt, msg string) {
	t.Helper()
	r := DialRaw(t, addr, "")
	defer r.Close()
	for _, step := range []struct {
		line string
		code int
	}{
		{"EHLO client.test", 250},
		{"MAIL FROM:<sender@example.net>", 250},
		{"RCPT TO:<" + rcpt + ">", 250},
		{"DATA", 354},
		{msg + ".", 250},
		{"QUIT", 221},
	} {
		if rep := r.Cmd(t, step.line); rep.Code != step.code {
			t.Fatalf("%q: got %q, want %d", step.line, rep.Raw, step.code)
		}
	}
}

// TestPostfixStartFailures shows that a failed start says why: a busy port
// is recognised (StartPostfix then retries on another), a bad parameter
// value is named by `postfix check`.
func TestPostfixStartFailures(t *testing.T) {
	Require(t, "postfix")
	t.Run("busy port", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		id, err := lookupIDs()
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		if err := makeReachable(root); err != nil {
			t.Fatal(err)
		}
		p := &Postfix{opts: PostfixOptions{}.withDefaults(), l: newLayout(root), addr: ln.Addr().String()}
		if err := p.prepare(t, id); err != nil {
			t.Fatal(err)
		}
		if err := writeConfig(filepath.Join(p.l.conf, "master.cf"), masterCF(p.addr), 0o644); err != nil {
			t.Fatal(err)
		}
		err = p.start(t)
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("start on a busy port: %v, want EADDRINUSE", err)
		}
		if p.master != nil {
			t.Errorf("master still recorded as running after a failed start")
		}
	})
	t.Run("bad parameter value", func(t *testing.T) {
		t.Parallel()
		r := newRecorder(t)
		r.run(func() {
			StartPostfix(r, PostfixOptions{ExtraMainCF: map[string]string{"message_size_limit": "lots"}})
		})
		r.runCleanups()
		if f := strings.Join(r.failures(), "\n"); !strings.Contains(f, "bad numerical configuration: message_size_limit = lots") {
			t.Errorf("failure does not name the bad parameter:\n%s", f)
		}
	})
}

// TestPostfixQueueIsEmptySeesDeferred holds mail in the queue
// (defer_transports = virtual) and proves QueueIsEmpty reports it, running
// and stopped, and that nothing reaches the maildir.
func TestPostfixQueueIsEmptySeesDeferred(t *testing.T) {
	Require(t, "postfix")
	p := StartPostfix(t, PostfixOptions{ExtraMainCF: map[string]string{"defer_transports": "virtual"}})
	send(t, p.Addr(), "held@example.com", "Subject: held\r\n\r\nheld\r\n")
	if p.QueueIsEmpty(t) {
		t.Error("QueueIsEmpty = true with a deferred message")
	}
	p.Stop(t)
	if p.QueueIsEmpty(t) {
		t.Error("QueueIsEmpty = true on a stopped instance with a deferred message")
	}
	if msgs := p.Messages(t); len(msgs) != 0 {
		t.Errorf("%d messages delivered, want 0 with virtual deferred", len(msgs))
	}
}

// BenchmarkStartPostfix measures starting a private instance (until smtpd
// answers 220) and stopping it again.
func BenchmarkStartPostfix(b *testing.B) {
	Require(b, "postfix")
	for b.Loop() {
		p := StartPostfix(b, PostfixOptions{})
		p.Stop(b)
	}
}

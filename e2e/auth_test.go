package e2e

// Submission and AUTH through the real binary. Setup: DNS, Postfix, the
// gateway with mx, submission (587-style, STARTTLS) and submissions
// (465-style, implicit TLS) listeners and one local user. Proof: what real
// clients (swaks, smtplib, curl) are offered and answered, what Postfix
// received, and the log lines.

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

const (
	user     = "alice@example.com"
	password = "correct horse battery staple"
)

type authEnv struct {
	*env
	sub, subs string
}

// setupAuth runs a gateway with all three listener kinds. extra is more
// TOML appended at the end.
func setupAuth(t *testing.T, extra string) *authEnv {
	t.Helper()
	e2etest.Require(t, "postfix", "swaks")
	hash := hashPassword(t, password)
	sub := e2etest.FreeAddr(t, "127.0.0.1")
	subs := e2etest.FreeAddr(t, "127.0.0.1")
	listeners := fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n"+
		"[[listener]]\nname = \"submissions\"\naddress = %q\nkind = \"submissions\"\n", sub, subs)
	users := fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\naddresses = [%q, \"sales@example.com\"]\n", user, hash, user)
	// The downstream stands for the organization's outbound smarthost
	// too: it accepts remote-e2e.net, a domain that is not local to the
	// gateway, so relaying for authenticated users can be observed.
	pf := &e2etest.PostfixOptions{Domains: []string{"example.com", "example.org", "remote-e2e.net"}}
	e := setup(t, pf, opts{listeners: listeners, extra: users + extra})
	return &authEnv{env: e, sub: sub, subs: subs}
}

// hashPassword runs `gateway hash-password` (and so tests it).
func hashPassword(t *testing.T, pw string) string {
	t.Helper()
	out, errOut, code := e2etest.RunGatewayStdin(t, pw+"\n", "hash-password", "-algorithm", "bcrypt")
	if code != 0 || !strings.HasPrefix(out, "$2") {
		t.Fatalf("hash-password: exit %d: %s %s", code, out, errOut)
	}
	return strings.TrimSpace(out)
}

func TestSwaksAuthOnSubmission(t *testing.T) {
	e := setupAuth(t, "")
	cases := []struct {
		name string
		args []string
	}{
		{"STARTTLS + PLAIN", []string{"--server", e.sub, "-tls", "--auth", "PLAIN"}},
		{"STARTTLS + LOGIN", []string{"--server", e.sub, "-tls", "--auth", "LOGIN"}},
		{"implicit TLS + PLAIN", []string{"--server", e.subs, "--tls-on-connect", "--auth", "PLAIN"}},
		{"implicit TLS + LOGIN", []string{"--server", e.subs, "--tls-on-connect", "--auth", "LOGIN"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--ehlo", "DESKTOP-4F2K1", "--auth-user", user, "--auth-password", password,
				"--from", user, "--to", "carol@remote-e2e.net", "--header", "Subject: swaks "+tc.name)
			out, code := e2etest.Swaks(t, args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if !strings.Contains(out, "235 2.0.0 Authentication succeeded") {
				t.Errorf("no 235:\n%s", out)
			}
			_ = i
		})
	}
	// The four messages for a remote domain reached the downstream
	// (authenticated users may send anywhere); so does a local one.
	out, code := e2etest.Swaks(t, "--server", e.sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
		"--ehlo", "DESKTOP-4F2K1", "--from", user, "--to", "bob@example.com", "--header", "Subject: via submission")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
	if !strings.Contains(string(msgs[0].Relayed()), "with ESMTPSA id") {
		t.Errorf("Received header does not say ESMTPSA:\n%s", msgs[0].Relayed())
	}
}

func TestPythonAndCurlAuth(t *testing.T) {
	e := setupAuth(t, "")
	starttls := `
import smtplib, ssl, sys
host, port = sys.argv[1].rsplit(':', 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, int(port), local_hostname='laptop.local')
s.ehlo(); s.starttls(context=ctx); s.ehlo()
s.login(sys.argv[2], sys.argv[3])
s.sendmail(sys.argv[2], ['bob@example.com'], b'Subject: smtplib starttls\r\n\r\nhi\r\n')
s.quit(); print('SENT')
`
	implicit := `
import smtplib, ssl, sys
host, port = sys.argv[1].rsplit(':', 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL(host, int(port), local_hostname='laptop.local', context=ctx)
s.login(sys.argv[2], sys.argv[3])
s.sendmail(sys.argv[2], ['bob@example.com'], b'Subject: smtplib implicit\r\n\r\nhi\r\n')
s.quit(); print('SENT')
`
	if out, code := e2etest.Python(t, starttls, e.sub, user, password); code != 0 || !strings.Contains(out, "SENT") {
		t.Errorf("smtplib starttls+login: exit %d\n%s", code, out)
	}
	if out, code := e2etest.Python(t, implicit, e.subs, user, password); code != 0 || !strings.Contains(out, "SENT") {
		t.Errorf("smtplib SMTP_SSL: exit %d\n%s", code, out)
	}
	if _, err := os.Stat("/usr/bin/curl"); err == nil {
		mail := filepath.Join(t.TempDir(), "mail.txt")
		os.WriteFile(mail, []byte("Subject: curl\r\n\r\nhi from curl\r\n"), 0o600)
		for _, url := range []string{"smtp://" + e.sub, "smtps://" + e.subs} {
			out, code := e2etest.Curl(t, "-sS", "--ssl-reqd", "-k", url, "--user", user+":"+password,
				"--mail-from", user, "--mail-rcpt", "bob@example.com", "--upload-file", mail)
			if code != 0 {
				t.Errorf("curl %s: exit %d\n%s", url, code, out)
			}
		}
	}
	e.postfix.WaitMessages(t, 4, 30*time.Second)
}

func TestNoAuthInPlaintext(t *testing.T) {
	e := setupAuth(t, "")
	r := e2etest.DialRaw(t, e.sub, "")
	ehlo := r.Cmd(t, "EHLO laptop.example.net")
	if strings.Contains(ehlo.Raw, "AUTH") {
		t.Errorf("AUTH advertised before STARTTLS:\n%s", ehlo.Raw)
	}
	if !strings.Contains(ehlo.Raw, "STARTTLS") {
		t.Errorf("STARTTLS not advertised on submission:\n%s", ehlo.Raw)
	}
	if rep := r.Cmd(t, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n"); rep.Code != 538 {
		t.Errorf("AUTH in plaintext: %s", rep)
	}
	if rep := r.Cmd(t, "MAIL FROM:<"+user+">"); !strings.HasPrefix(rep.Raw, "530 5.7.0 Authentication required") {
		t.Errorf("MAIL before AUTH: %s", rep)
	}
	r.StartTLS(t)
	ehlo = r.Cmd(t, "EHLO laptop.example.net")
	if !strings.Contains(ehlo.Raw, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not advertised after STARTTLS:\n%s", ehlo.Raw)
	}
	if strings.Contains(e.gw.Logs(), "wrong") {
		t.Errorf("a password reached the log")
	}
	// The mx listener offers no AUTH by default.
	m := e2etest.DialRaw(t, e.mx, "")
	if ehlo := m.Cmd(t, "EHLO laptop.example.net"); strings.Contains(ehlo.Raw, "AUTH") {
		t.Errorf("AUTH offered on mx:\n%s", ehlo.Raw)
	}
}

func TestAuthFailuresAndBruteForce(t *testing.T) {
	e := setupAuth(t, "[auth]\ndelay_after = 2\nmax_delay = \"1s\"\nblock_after = 4\nblock_time = \"10m\"\n")
	try := func(u, p string) string {
		out, _ := e2etest.Swaks(t, "--server", e.sub, "-tls", "--auth", "PLAIN", "--auth-user", u, "--auth-password", p,
			"--ehlo", "laptop.example.net", "--from", user, "--to", "bob@example.com", "--local-interface", "127.0.0.9",
			"--quit-after", "AUTH")
		return out
	}
	if out := try(user, "wrong"); !strings.Contains(out, "535 5.7.8") {
		t.Errorf("wrong password:\n%s", out)
	}
	if out := try("nobody@example.com", "wrong"); !strings.Contains(out, "535 5.7.8") {
		t.Errorf("unknown user:\n%s", out)
	}
	start := time.Now()
	if out := try(user, "wrong"); !strings.Contains(out, "535 5.7.8") {
		t.Errorf("third failure:\n%s", out)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("no delay after %d failures", 2)
	}
	if out := try(user, "wrong"); !strings.Contains(out, "421 4.7.0") {
		t.Errorf("fourth failure should block:\n%s", out)
	}
	if out := try(user, password); !strings.Contains(out, "421 4.7.0") {
		t.Errorf("blocked address got in with the right password:\n%s", out)
	}
	// Another address is not blocked.
	out, _ := e2etest.Swaks(t, "--server", e.sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
		"--ehlo", "laptop.example.net", "--from", user, "--to", "bob@example.com", "--local-interface", "127.0.0.10")
	if !strings.Contains(out, "235") {
		t.Errorf("another address:\n%s", out)
	}
	logs := e.gw.Logs()
	// A known user's name is logged as typed; an unknown one only as a
	// keyed hash and a length: it may be a password typed into the user
	// field (issue 12).
	if !strings.Contains(logs, `msg="auth failed"`) || !strings.Contains(logs, "client_ip=127.0.0.9") ||
		!strings.Contains(logs, "client_ip=127.0.0.9 user="+user+" mechanism=PLAIN reason=invalid_credentials") ||
		!regexp.MustCompile(`client_ip=127\.0\.0\.9 user_hash=[0-9a-f]{8} user_len=18 mechanism=PLAIN reason=invalid_credentials`).MatchString(logs) {
		t.Errorf("auth failure lines missing:\n%s", logs)
	}
	if strings.Contains(logs, "nobody") {
		t.Errorf("an unknown user name reached the log:\n%s", logs)
	}
	if strings.Contains(logs, "wrong") || strings.Contains(logs, "battery") {
		t.Errorf("a password reached the log")
	}
}

func TestMalformedAuth(t *testing.T) {
	e := setupAuth(t, "")
	raw := e2etest.DialRaw(t, e.sub, "")
	raw.Cmd(t, "EHLO laptop.example.net")
	raw.StartTLS(t)
	raw.Cmd(t, "EHLO laptop.example.net")
	// Undecodable base64 is the client's syntax error: 501 5.5.2 (RFC 4954
	// §4), in the initial response and in a response to a challenge
	// (go-smtp alone answered 454 4.7.0, "try again later").
	const badBase64 = "501 5.5.2 Error: invalid base64 data in the AUTH exchange; encode each response in base64 (RFC 4954)"
	if rep := raw.Cmd(t, "AUTH PLAIN !!!notbase64"); rep.String() != badBase64 {
		t.Errorf("malformed base64: %s", rep)
	}
	if rep := raw.Cmd(t, "AUTH LOGIN"); rep.Code != 334 {
		t.Fatalf("AUTH LOGIN: %s", rep)
	}
	if rep := raw.Cmd(t, "alice@example.com"); rep.String() != badBase64 {
		t.Errorf("malformed base64 after a challenge: %s", rep)
	}
	// A mechanism the gateway does not offer: 504 5.5.4 (RFC 4954 §4).
	for _, line := range []string{"AUTH CRAM-MD5", "AUTH XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user=x\x01\x01"))} {
		if rep := raw.Cmd(t, line); !strings.HasPrefix(rep.Raw, "504 5.5.4 ") {
			t.Errorf("%s: %s, want 504 5.5.4", line, rep)
		}
	}
	// A PLAIN response without its NUL separators is malformed, not a
	// wrong password: 501, and it does not count as a failed guess.
	if rep := raw.Cmd(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("no-separators"))); rep.Code != 501 {
		t.Errorf("PLAIN without separators: %s", rep)
	}
	// The right credentials still work after malformed attempts.
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if rep := raw.Cmd(t, "AUTH PLAIN "+cred); rep.Code != 235 {
		t.Errorf("AUTH after malformed attempts: %s", rep)
	}
	// An overlong line is refused and the connection closed (the rest of
	// the line cannot be trusted to be anything but garbage). AUTH lines
	// may be 12288 bytes (RFC 4954 §4): this one is 16011.
	raw = e2etest.DialRaw(t, e.sub, "")
	raw.Cmd(t, "EHLO laptop.example.net")
	raw.StartTLS(t)
	raw.Cmd(t, "EHLO laptop.example.net")
	if rep := raw.Cmd(t, "AUTH PLAIN "+strings.Repeat("QUFB", 4000)); rep.Code != 500 || !strings.Contains(rep.Raw, "Line too long") {
		t.Errorf("overlong AUTH line: %s", rep)
	}
	raw.WaitClosed(t, 5*time.Second)
	if strings.Contains(e.gw.Logs(), "battery") {
		t.Errorf("a password reached the log")
	}
}

// The seed articles' case: an Outlook-like client saying EHLO DESKTOP-4F2K1
// is refused on the MX without AUTH, and accepted on submission after AUTH.
func TestDesktopHELORefusedOnMXAcceptedAfterAuth(t *testing.T) {
	e := setupAuth(t, "")
	out, _ := e2etest.Swaks(t, "--server", e.mx, "--ehlo", "DESKTOP-4F2K1", "--from", user, "--to", "bob@example.com")
	if !strings.Contains(out, "550 5.7.1 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)") {
		t.Errorf("MX without AUTH:\n%s", out)
	}
	out, code := e2etest.Swaks(t, "--server", e.sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
		"--ehlo", "DESKTOP-4F2K1", "--from", user, "--to", "bob@example.com")
	if code != 0 {
		t.Errorf("submission after AUTH: exit %d\n%s", code, out)
	}
	e.postfix.WaitMessages(t, 1, 20*time.Second)
}

func TestSenderIdentity(t *testing.T) {
	e := setupAuth(t, "")
	send := func(from string) string {
		out, _ := e2etest.Swaks(t, "--server", e.sub, "-tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
			"--ehlo", "laptop.example.net", "--from", from, "--to", "bob@example.com")
		return out
	}
	if out := send("sales@example.com"); !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("an address the user owns:\n%s", out)
	}
	want := "553 5.7.1 <ceo@example.com>: Sender address rejected: not owned by user " + user
	if out := send("ceo@example.com"); !strings.Contains(out, want) {
		t.Errorf("someone else's address:\n%s", out)
	}
	// Case does not matter, in the local part either (issue 12: ALICE@
	// got 553 for alice@).
	for _, from := range []string{"ALICE@EXAMPLE.COM", "Sales@Example.Com"} {
		if out := send(from); !strings.Contains(out, "250 2.0.0 Ok: queued") {
			t.Errorf("%s, an address the user owns in other case:\n%s", from, out)
		}
	}
}

// nullSenderSession authenticates on submission and sends MAIL FROM:<>
// for a remote recipient; it returns the MAIL reply and, when that was
// 250, the end-of-data reply.
func nullSenderSession(t *testing.T, e *authEnv, subject string) (mail, data e2etest.Reply) {
	t.Helper()
	r := e2etest.DialRaw(t, e.sub, "")
	r.Cmd(t, "EHLO laptop.example.net")
	r.StartTLS(t)
	r.Cmd(t, "EHLO laptop.example.net")
	if rep := r.Cmd(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password))); rep.Code != 235 {
		t.Fatalf("AUTH: %s", rep)
	}
	if mail = r.Cmd(t, "MAIL FROM:<>"); mail.Code != 250 {
		return mail, data
	}
	if rep := r.Cmd(t, "RCPT TO:<carol@remote-e2e.net>"); rep.Code != 250 {
		t.Fatalf("RCPT: %s", rep)
	}
	if rep := r.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("DATA: %s", rep)
	}
	return mail, r.Cmd(t, "Subject: "+subject+"\r\nDisposition-Notification: x\r\n\r\nread receipt\r\n.")
}

// The null sender after AUTH (issue 12): refused by default with
// enforce_sender (nobody answers for such a message), relayed with
// allow_null_sender = true. Proof: the reply, and what Postfix got.
func TestAuthNullSender(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		e := setupAuth(t, "")
		mail, _ := nullSenderSession(t, e, "null default")
		want := "553 5.7.1 <>: Sender address rejected: the null sender is not allowed for authenticated users; use your own address"
		if mail.String() != want {
			t.Errorf("MAIL FROM:<> after AUTH: %s\nwant %s", mail, want)
		}
		e.gw.WaitLog(t, "check=null_sender", 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		if got := e.postfix.Log(t); strings.Contains(got, "carol@remote-e2e.net") {
			t.Errorf("the message reached the downstream:\n%s", got)
		}
	})
	t.Run("allow_null_sender", func(t *testing.T) {
		e := setupAuth(t, "[auth]\nallow_null_sender = true\n")
		mail, data := nullSenderSession(t, e, "null allowed")
		if mail.Code != 250 || !strings.HasPrefix(data.Raw, "250 2.0.0 Ok: queued") {
			t.Fatalf("MAIL FROM:<> with allow_null_sender: %s / %s", mail, data)
		}
		msgs := e.postfix.WaitMessages(t, 1, 20*time.Second)
		if !strings.Contains(string(msgs[0].Raw), "Return-Path: <>") {
			t.Errorf("the downstream did not get the null sender:\n%s", msgs[0].Raw)
		}
	})
}

// No relay trick gets a message out from an untrusted client address.
func TestOpenRelayTricks(t *testing.T) {
	e := setupAuth(t, "")
	rcpts := []string{
		"<victim@remote-e2e.net>",
		"<victim%remote-e2e.net@example.com>",
		"<remote-e2e.net!victim@example.com>",
		"<@example.com:victim@remote-e2e.net>",
		`<"victim@remote-e2e.net"@example.com>`,
		"<victim@remote-e2e.net.>",
		"<victim@[192.0.2.1]>",
		"<victim@example.com.>",
	}
	r := e2etest.DialRaw(t, e.mx, "127.0.0.2")
	r.Cmd(t, "EHLO "+clientHELO)
	r.Cmd(t, "MAIL FROM:<"+sender+">")
	for _, rc := range rcpts {
		rep := r.Cmd(t, "RCPT TO:"+rc)
		if rep.Code < 500 {
			t.Errorf("RCPT TO:%s accepted: %s", rc, rep)
		}
	}
	if rep := r.Cmd(t, "RCPT TO:<victim@remote-e2e.net>"); !strings.Contains(rep.Raw, "554 5.7.1 <victim@remote-e2e.net>: Relay access denied") {
		t.Errorf("relay reply: %s", rep)
	}
	time.Sleep(300 * time.Millisecond)
	if got := e.postfix.Log(t); strings.Contains(got, "victim") {
		t.Errorf("a relay attempt reached the downstream:\n%s", got)
	}
}

// Issue 12, bug 2, through the real binary. Setup: submission listener,
// block_after = 10, delays from the 9th check (max 1s). Attack 1 (from
// 127.0.0.21): park 3 connections at the AUTH LOGIN password prompt, fire
// 12 wrong AUTH PLAIN at once on fresh connections, then send the right
// password on a parked connection. Attack 2 (from 127.0.0.22): 45 wrong
// AUTH PLAIN at once. Proof: no 235 after the burst, and the log shows at
// most block_after checked passwords ("auth failed" lines) per address.
// Before the fix the limiter admitted at the AUTH command: the parked
// connection got 235 and 44 of 45 passwords were checked.
func TestAuthParallelBruteForce(t *testing.T) {
	const blockAfter = 10
	e := setupAuth(t, fmt.Sprintf("[auth]\ndelay_after = 9\nmax_delay = \"1s\"\nblock_after = %d\nblock_time = \"10m\"\n", blockAfter))
	ready := func(ip string) *e2etest.Raw {
		r := e2etest.DialRaw(t, e.sub, ip)
		r.Cmd(t, "EHLO laptop.example.net")
		r.StartTLS(t)
		r.Cmd(t, "EHLO laptop.example.net")
		return r
	}
	// burst sends one wrong AUTH PLAIN on each connection at once and
	// returns the replies.
	burst := func(conns []*e2etest.Raw) []string {
		wrong := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00wrong")) + "\r\n"
		replies := make([]string, len(conns))
		var wg sync.WaitGroup
		for i, r := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.Write([]byte(wrong)); err != nil {
					replies[i] = "write: " + err.Error()
					return
				}
				rep, err := r.TryReadReply()
				if err != nil {
					replies[i] = "read: " + err.Error()
					return
				}
				replies[i] = rep.String()
			}()
		}
		wg.Wait()
		return replies
	}
	checked := func(ip string) int {
		n := 0
		for _, l := range strings.Split(e.gw.Logs(), "\n") {
			if strings.Contains(l, `msg="auth failed"`) && strings.Contains(l, "client_ip="+ip+" ") {
				n++
			}
		}
		return n
	}

	t.Run("parked connections", func(t *testing.T) {
		const ip = "127.0.0.21"
		var parked []*e2etest.Raw
		for range 3 {
			r := ready(ip)
			if rep := r.Cmd(t, "AUTH LOGIN"); rep.Code != 334 {
				t.Fatalf("AUTH LOGIN: %s", rep)
			}
			if rep := r.Cmd(t, base64.StdEncoding.EncodeToString([]byte(user))); rep.Code != 334 {
				t.Fatalf("user name: %s", rep)
			}
			parked = append(parked, r)
		}
		var fresh []*e2etest.Raw
		for range 12 {
			fresh = append(fresh, ready(ip))
		}
		replies := burst(fresh)
		t.Logf("burst: %q", replies)
		for i, r := range parked {
			rep := r.Cmd(t, base64.StdEncoding.EncodeToString([]byte(password)))
			if rep.Code == 235 {
				t.Errorf("parked connection %d: the right password was accepted after the burst: %s", i, rep)
			} else if !strings.HasPrefix(rep.Raw, "421 4.7.0 ") {
				t.Errorf("parked connection %d: %s, want 421 4.7.0 (blocked)", i, rep)
			}
		}
		// The log is one ordered stream: once the parked connections'
		// refusals are in, so is every check before them.
		e.gw.WaitLog(t, "client_ip="+ip+" command=AUTH", 5*time.Second)
		if n := checked(ip); n > blockAfter {
			t.Errorf("%d passwords checked from %s, want at most block_after %d", n, ip, blockAfter)
		}
		if logs := e.gw.Logs(); strings.Contains(logs, "msg=auth ") && strings.Contains(logs, "client_ip="+ip+" user="+user+" mechanism=LOGIN") {
			t.Errorf("a parked connection authenticated:\n%s", logs)
		}
	})

	t.Run("45 in parallel", func(t *testing.T) {
		const ip = "127.0.0.22"
		var conns []*e2etest.Raw
		for range 45 {
			conns = append(conns, ready(ip))
		}
		replies := burst(conns)
		codes := map[int]int{}
		for _, r := range replies {
			code := 0
			fmt.Sscanf(r, "%d", &code)
			codes[code]++
		}
		t.Logf("replies by code: %v", codes)
		if codes[535]+codes[421]+codes[454] != len(conns) {
			t.Errorf("unexpected replies: %q", replies)
		}
		// The address is blocked now, the right password included.
		r := ready(ip)
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
		if rep := r.Cmd(t, "AUTH PLAIN "+cred); !strings.HasPrefix(rep.Raw, "421 4.7.0 ") {
			t.Errorf("right password after the burst: %s, want 421 4.7.0", rep)
		}
		r.WaitClosed(t, 5*time.Second)
		e.gw.WaitLog(t, "client_ip="+ip+" user="+user+" mechanism=PLAIN reason=invalid_credentials", 5*time.Second)
		if n := checked(ip); n > blockAfter || n == 0 {
			t.Errorf("%d passwords checked from %s, want 1..block_after %d", n, ip, blockAfter)
		}
	})
}

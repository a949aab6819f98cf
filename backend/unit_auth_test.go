package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/auth"
)

const (
	// RFC 4954 §4: undecodable base64 is the client's syntax error.
	invalidBase64 = "501 5.5.2 Error: invalid base64 data in the AUTH exchange; encode each response in base64 (RFC 4954)"
	authOK        = "235 2.0.0 Authentication succeeded"
	authFailed    = "535 5.7.8 Error: authentication failed: wrong user name or password"
)

// AUTH is never offered over plaintext; trying it there is refused with
// 538, and the credentials are not even looked at.
func TestAuthNotInPlaintext(t *testing.T) {
	env := withAuth(t, newEnv(t, newTarget("down")))
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	ext := c.ehlo(clientHELO)
	for _, l := range ext {
		if strings.Contains(l, "AUTH") {
			t.Fatalf("AUTH offered before TLS: %q", ext)
		}
	}
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass),
		"538 5.7.11 Encryption required for requested authentication mechanism; issue STARTTLS first")
	c.expect("AUTH LOGIN", "538 5.7.11 Encryption required for requested authentication mechanism; issue STARTTLS first")
	c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
	_, _, auths := h.metrics.snapshot()
	if len(auths) != 0 {
		t.Fatalf("credentials were checked in plaintext: %q", auths)
	}
}

// allow_insecure_auth (lab only) offers AUTH without TLS.
func TestAuthInsecureAllowed(t *testing.T) {
	tg := newTarget("down")
	env := withAuth(t, newEnv(t, tg))
	c := start(t, env, opts{kind: "submission", authEnabled: true, insecureAuth: true}).dial()
	if ext := c.ehlo(clientHELO); !contains(ext, "250-AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO: %q", ext)
	}
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), authOK)
	c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
	if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if d := tg.tx(t, 0).Data; !strings.Contains(d, " with ESMTPA id ") {
		t.Fatalf("Received without ESMTPA:\n%s", d)
	}
}

// AUTH where it is not enabled.
func TestAuthDisabled(t *testing.T) {
	t.Run("listener", func(t *testing.T) {
		env := withAuth(t, newEnv(t, newTarget("down")))
		c := start(t, env, opts{tls: true}).dial()
		c.ehlo(clientHELO)
		c.startTLS()
		if ext := c.ehlo(clientHELO); strings.Contains(strings.Join(ext, "\n"), "AUTH") {
			t.Fatalf("AUTH offered: %q", ext)
		}
		c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), "503 5.5.1 Error: authentication not enabled on this port")
	})
	t.Run("no_verifier", func(t *testing.T) {
		c := start(t, newEnv(t, newTarget("down")), opts{authEnabled: true, tls: true}).dial()
		c.ehlo(clientHELO)
		c.startTLS()
		if ext := c.ehlo(clientHELO); strings.Contains(strings.Join(ext, "\n"), "AUTH") {
			t.Fatalf("AUTH offered: %q", ext)
		}
		c.expect("AUTH LOGIN", "503 5.5.1 Error: authentication not enabled on this port")
	})
}

// PLAIN and LOGIN over TLS, right and wrong.
func TestAuthOverTLS(t *testing.T) {
	env := withAuth(t, newEnv(t, newTarget("down")))
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})

	t.Run("plain", func(t *testing.T) {
		c := h.dial()
		c.ehlo(clientHELO)
		c.startTLS()
		if ext := c.ehlo(clientHELO); !contains(ext, "250-AUTH PLAIN LOGIN") {
			t.Fatalf("EHLO: %q", ext)
		}
		c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"), authFailed)
		c.expect("AUTH PLAIN "+b64("\x00mallory\x00"+userPass), authFailed)
		c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
		// Without an initial response: an empty challenge first.
		c.expect("AUTH PLAIN", "334 ")
		c.expect(b64("\x00"+userName+"\x00"+userPass), authOK)
		c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), "503 5.5.1 Already authenticated")
		c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	})
	t.Run("login", func(t *testing.T) {
		c := h.dial()
		c.ehlo(clientHELO)
		c.startTLS()
		c.ehlo(clientHELO)
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect(b64(userName), "334 "+b64("Password:"))
		c.expect(b64("wrong"), authFailed)
		c.expect("AUTH LOGIN "+b64(userName), "334 "+b64("Password:"))
		c.expect(b64(userPass), authOK)
		c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	})
	t.Run("malformed", func(t *testing.T) {
		c := h.dial()
		c.ehlo(clientHELO)
		c.startTLS()
		c.ehlo(clientHELO)
		c.expect("AUTH PLAIN "+b64("no NULs here"), "501 5.5.2 Error: malformed authentication response")
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect("=", "501 5.5.2 Error: malformed authentication response") // empty user name
		c.expect("AUTH PLAIN !!!", invalidBase64)
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect("not base64!", invalidBase64)
		c.expect("AUTH PLAIN", "334 ")
		c.expect("QUFB=QUFB", invalidBase64)
		c.expect("AUTH XOAUTH2 "+b64("user=x\x01auth=Bearer y\x01\x01"), `504 5.5.4 Error: unsupported authentication mechanism "XOAUTH2"; use PLAIN or LOGIN`)
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect("*", "501 5.0.0 Negotiation cancelled") // go-smtp's
		c.expect("AUTH CRAM-MD5", `504 5.5.4 Error: unsupported authentication mechanism "CRAM-MD5"; use PLAIN or LOGIN`)
		c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
	})
	_, _, auths := h.metrics.snapshot()
	want := []string{"PLAIN failure", "PLAIN failure", "PLAIN success", "LOGIN failure", "LOGIN success"}
	if !equal(auths, want) {
		t.Fatalf("auth metrics %q, want %q", auths, want)
	}
	if !strings.Contains(h.logs.String(), `msg="auth failed" conn=`) ||
		!strings.Contains(h.logs.String(), `client_ip=127.0.0.1 user=alice mechanism=PLAIN reason=invalid_credentials`) {
		t.Fatalf("no fail2ban line in the log:\n%s", h.logs.String())
	}
}

// An authorization identity other than the user is refused unless
// allowed.
func TestAuthzid(t *testing.T) {
	for _, allow := range []bool{false, true} {
		env := withAuth(t, newEnv(t, newTarget("down")))
		env.Auth.AllowAuthzid = allow
		c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
		c.ehlo(clientHELO)
		c.startTLS()
		c.ehlo(clientHELO)
		c.expect("AUTH PLAIN "+b64(userName+"\x00"+userName+"\x00"+userPass), authOK) // its own name is fine
		c2 := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
		c2.ehlo(clientHELO)
		c2.startTLS()
		c2.ehlo(clientHELO)
		want := authFailed
		if allow {
			want = authOK
		}
		c2.expect("AUTH PLAIN "+b64("shared@local-one.net\x00"+userName+"\x00"+userPass), want)
	}
}

// A verifier that cannot tell now answers 454 (try later), not 535.
func TestAuthTemporaryFailure(t *testing.T) {
	env := withAuth(t, newEnv(t, newTarget("down")))
	env.Auth.Verifier = verifierFunc(func(context.Context, string, string) error {
		return errors.New("users file unreadable")
	})
	c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c.ehlo(clientHELO)
	c.startTLS()
	c.ehlo(clientHELO)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), "454 4.7.0 Temporary authentication failure, try again later")
	c.expect("MAIL FROM:<"+userAddr+">", "530 5.7.0 Authentication required")
}

// The limiter blocks an address that failed too often, with 421, which
// closes the connection; the block holds for the next connection too.
func TestAuthBlocked(t *testing.T) {
	env := withAuth(t, newEnv(t, newTarget("down")))
	env.Auth.Limiter = auth.NewLimiter(auth.LimiterConfig{DelayAfter: 100, BlockAfter: 2})
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	c.ehlo(clientHELO)
	c.startTLS()
	c.ehlo(clientHELO)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"), authFailed)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"),
		"421 4.7.0 "+gwHost+" Error: too many authentication failures from 127.0.0.1, try again in 30 minutes")
	if !c.closed() {
		t.Fatal("connection still open after 421")
	}
	c2 := h.dial()
	c2.ehlo(clientHELO)
	c2.startTLS()
	c2.ehlo(clientHELO)
	// Even the right password: the block holds.
	c2.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass),
		"421 4.7.0 "+gwHost+" Error: too many authentication failures from 127.0.0.1, try again in 30 minutes")
}

// AUTH exempts from the HELO policy and from relay restrictions, and the
// Received field says ESMTPSA.
func TestAuthProtocolInReceived(t *testing.T) {
	tg := newTarget("down")
	env := withAuth(t, newEnv(t, tg))
	c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c.login()
	c.expect("MAIL FROM:<"+userAddr+">", "250 2.0.0 Roger, accepting mail from <"+userAddr+">")
	c.expect("RCPT TO:<x@remote.example>", "250 2.0.0 I'll make sure <x@remote.example> gets this")
	if got := c.data(msg); !strings.HasPrefix(got[0], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	d := tg.tx(t, 0).Data
	if !strings.Contains(d, " with ESMTPSA id ") || !strings.Contains(d, "\r\n\t(TLS 1.3 TLS_") {
		t.Fatalf("Received does not show TLS and AUTH:\n%s", d)
	}
}

type verifierFunc func(ctx context.Context, user, pass string) error

func (f verifierFunc) Verify(ctx context.Context, user, pass string) error { return f(ctx, user, pass) }

// After DelayAfter failures each attempt waits before the password is
// checked; a success clears the count.
func TestAuthDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	env := withAuth(t, newEnv(t, newTarget("down")))
	env.Auth.Limiter = auth.NewLimiter(auth.LimiterConfig{DelayAfter: 1, MaxDelay: delay, BlockAfter: 100})
	c := start(t, env, opts{kind: "submission", authEnabled: true, tls: true}).dial()
	c.ehlo(clientHELO)
	c.startTLS()
	c.ehlo(clientHELO)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"), authFailed)
	start := time.Now()
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00"+userPass), authOK)
	if d := time.Since(start); d < delay {
		t.Fatalf("the attempt after a failure took %v, want at least %v", d, delay)
	}
}

// countingVerifier counts the passwords checked.
type countingVerifier struct {
	auth.Verifier
	mu sync.Mutex
	n  int
}

func (v *countingVerifier) Verify(ctx context.Context, user, pass string) error {
	v.mu.Lock()
	v.n++
	v.mu.Unlock()
	return v.Verifier.Verify(ctx, user, pass)
}

func (v *countingVerifier) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n
}

// tryCmd sends a line and returns the first reply line or the error:
// for goroutines, which must not call t.Fatal.
func (c *client) tryCmd(line string) string {
	c.conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return "write: " + err.Error()
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return "read: " + err.Error()
	}
	return strings.TrimSuffix(got, "\r\n")
}

// Issue 12's attack: connections parked at the LOGIN password prompt, a
// burst of wrong passwords in parallel from the same address, then the
// right password on a parked connection. The limiter reserves a slot when
// the password is checked, not when AUTH arrives: never more than
// block_after checks, and no 235 once the address is blocked.
func TestAuthParallelBruteForce(t *testing.T) {
	const blockAfter = 10
	env := withAuth(t, newEnv(t, newTarget("down")))
	verifier := &countingVerifier{Verifier: env.Auth.Verifier}
	env.Auth.Verifier = verifier
	env.Auth.Limiter = auth.NewLimiter(auth.LimiterConfig{DelayAfter: 1000, BlockAfter: blockAfter})
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})
	ready := func() *client {
		c := h.dial()
		c.ehlo(clientHELO)
		c.startTLS()
		c.ehlo(clientHELO)
		return c
	}
	var parked []*client
	for range 3 {
		c := ready()
		c.expect("AUTH LOGIN", "334 "+b64("Username:"))
		c.expect(b64(userName), "334 "+b64("Password:"))
		parked = append(parked, c)
	}
	var burst []*client
	for range 45 {
		burst = append(burst, ready())
	}
	replies := make([]string, len(burst))
	var wg sync.WaitGroup
	for i, c := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = c.tryCmd("AUTH PLAIN " + b64("\x00"+userName+"\x00wrong"))
		}()
	}
	wg.Wait()
	codes := map[string]int{}
	for _, r := range replies {
		codes[r[:min(3, len(r))]]++
	}
	if codes["535"]+codes["421"]+codes["454"] != len(burst) {
		t.Errorf("burst replies: %v", replies)
	}
	if n := verifier.count(); n > blockAfter {
		t.Errorf("%d passwords checked in the burst, want at most block_after %d", n, blockAfter)
	}
	for i, c := range parked {
		if got := c.tryCmd(b64(userPass)); !strings.HasPrefix(got, "421 4.7.0 ") {
			t.Errorf("parked connection %d, right password after the burst: %q, want 421 4.7.0 (blocked)", i, got)
		}
	}
	if n := verifier.count(); n > blockAfter {
		t.Errorf("%d passwords checked in all, want at most block_after %d", n, blockAfter)
	}
	t.Logf("burst replies by code: %v; passwords checked: %d", codes, verifier.count())
}

// The delay applies to each check, counting the checks in flight: two
// parallel attempts after delay_after failures both wait.
func TestAuthDelayEachCheck(t *testing.T) {
	const delay = 100 * time.Millisecond
	env := withAuth(t, newEnv(t, newTarget("down")))
	env.Auth.Limiter = auth.NewLimiter(auth.LimiterConfig{DelayAfter: 1, MaxDelay: delay, BlockAfter: 100})
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	c.ehlo(clientHELO)
	c.startTLS()
	c.ehlo(clientHELO)
	// Park at the password prompt before any failure: the check, not the
	// AUTH command, takes the delay.
	c.expect("AUTH LOGIN", "334 "+b64("Username:"))
	c.expect(b64(userName), "334 "+b64("Password:"))
	c2 := h.dial()
	c2.ehlo(clientHELO)
	c2.startTLS()
	c2.ehlo(clientHELO)
	c2.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"), authFailed)
	start := time.Now()
	c.expect(b64(userPass), authOK)
	if d := time.Since(start); d < delay {
		t.Fatalf("the check after a failure took %v, want at least the delay %v", d, delay)
	}
}

// A failed AUTH logs a known user's name, but an unknown "user name" only
// as user_hash and user_len: clients do get the fields mixed up, and a
// password typed as the user name must not land in the log (issue 12).
func TestAuthUnknownUserNotLogged(t *testing.T) {
	const secret = "Tr0ub4dor&3-typed-as-user"
	env := withAuth(t, newEnv(t, newTarget("down")))
	h := start(t, env, opts{kind: "submission", authEnabled: true, tls: true})
	c := h.dial()
	c.ehlo(clientHELO)
	c.startTLS()
	c.ehlo(clientHELO)
	c.expect("AUTH PLAIN "+b64("\x00"+secret+"\x00"+userPass), authFailed)
	c.expect("AUTH LOGIN", "334 "+b64("Username:"))
	c.expect(b64(secret), "334 "+b64("Password:"))
	c.expect(b64("whatever"), authFailed)
	c.expect("AUTH PLAIN "+b64("\x00"+userName+"\x00wrong"), authFailed)
	logs := h.logs.String()
	if strings.Contains(logs, "Tr0ub4dor") {
		t.Fatalf("the unknown user name reached the log:\n%s", logs)
	}
	hash, n := auth.UserHash(secret)
	want := fmt.Sprintf("user_hash=%s user_len=%d mechanism=", hash, n)
	if strings.Count(logs, want) != 2 {
		t.Errorf("want two failures logged with %q:\n%s", want, logs)
	}
	if !strings.Contains(logs, "user="+userName+" mechanism=PLAIN reason=invalid_credentials") {
		t.Errorf("a known user's failure is logged with its name:\n%s", logs)
	}
}

package e2e

// SIGHUP reloads certificates and users (issue: submission/AUTH): a new
// certificate is served to new TLS sessions, a user added to users_file can
// log in, a removed one cannot, and a session opened before the reload
// carries on undisturbed.

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"

	"github.com/smtpgateway/gateway/internal/testcert"

	"github.com/miekg/dns"
)

// peerCN connects to an implicit-TLS listener and returns the
// certificate's organization.
func peerCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestReloadCertificatesAndUsers(t *testing.T) {
	e2etest.Require(t, "postfix", "swaks")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.New(t, "first-cert", gwHost).WriteFiles(t, certFile, keyFile)
	usersFile := filepath.Join(dir, "users")
	hash := hashPassword(t, password)
	if err := os.WriteFile(usersFile, []byte("alice@example.com:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	subs := e2etest.FreeAddr(t, "127.0.0.1")
	e := setup(t, &e2etest.PostfixOptions{}, opts{
		listeners: fmt.Sprintf("[[listener]]\nname = \"submissions\"\naddress = %q\nkind = \"submissions\"\n", subs),
		extra:     fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n[auth]\nusers_file = %q\n", certFile, keyFile, usersFile),
	})
	if cn := peerCN(t, subs); cn != "first-cert" {
		t.Fatalf("certificate before reload: %q", cn)
	}
	login := func(user string) (string, int) {
		return e2etest.Swaks(t, "--server", subs, "--tls-on-connect", "--auth", "PLAIN", "--auth-user", user,
			"--auth-password", password, "--ehlo", "laptop.sender-e2e.net", "--from", user, "--to", "bob@example.com")
	}
	if out, code := login("bob@example.com"); code == 0 || !strings.Contains(out, "535 5.7.8") {
		t.Fatalf("bob before he is added: exit %d\n%s", code, out)
	}

	// A session opened before the reload, authenticated, mid-way.
	old, err := tls.Dial("tcp", subs, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldR := e2etest.WrapRaw(t, old)
	oldR.Cmd(t, "EHLO laptop.sender-e2e.net")
	cred := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00" + password))
	if rep := oldR.Cmd(t, "AUTH PLAIN "+cred); rep.Code != 235 {
		t.Fatalf("AUTH in the old session: %s", rep)
	}

	testcert.New(t, "second-cert", gwHost).WriteFiles(t, certFile, keyFile)
	users := "bob@example.com:" + hash + "\n" // alice removed, bob added
	if err := os.WriteFile(usersFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.gw.WaitLog(t, "msg=reloaded", 10*time.Second)

	if cn := peerCN(t, subs); cn != "second-cert" {
		t.Errorf("certificate after reload: %q, want second-cert", cn)
	}
	if out, code := login("bob@example.com"); code != 0 {
		t.Errorf("bob after he was added: exit %d\n%s", code, out)
	}
	if out, code := login("alice@example.com"); code == 0 || !strings.Contains(out, "535 5.7.8") {
		t.Errorf("alice after she was removed: exit %d\n%s", code, out)
	}
	// The old session was not dropped and still sends.
	for _, c := range []string{"MAIL FROM:<alice@example.com>", "RCPT TO:<bob@example.com>"} {
		if rep := oldR.Cmd(t, c); rep.Code != 250 {
			t.Fatalf("old session %s: %s", c, rep)
		}
	}
	if rep := oldR.Cmd(t, "DATA"); rep.Code != 354 {
		t.Fatalf("old session DATA: %s", rep)
	}
	oldR.Send(t, []byte("Subject: from before the reload\r\n\r\nstill here\r\n.\r\n"))
	if rep := oldR.ReadReply(t); rep.Code != 250 {
		t.Fatalf("old session end of data: %s", rep)
	}
	msgs := e.postfix.WaitMessages(t, 2, 20*time.Second)
	found := false
	for _, m := range msgs {
		found = found || strings.Contains(string(m.Raw), "from before the reload")
	}
	if !found {
		t.Errorf("the old session's message did not arrive")
	}
}

// Issue 16: a reload compares the restart-only settings with what runs,
// not with the file loaded last. Changing a listener warns; reverting it
// is silent (the old code warned again, as if the revert were a change);
// a change of hostname warns on every reload until the restart.
func TestReloadComparesWithRunning(t *testing.T) {
	dns := startDNS(t)
	mx, extra := e2etest.FreeAddr(t, "127.0.0.1"), e2etest.FreeAddr(t, "127.0.0.1")
	maildir := filepath.Join(t.TempDir(), "maildir")
	file := func(hostname, listeners string) string {
		return fmt.Sprintf("hostname = %q\nlocal_domains = [\"example.com\"]\n[dns]\nservers = [%q]\n"+
			"[[listener]]\nname = \"mx\"\naddress = %q\n%s[relay]\ndownstream = \"maildir:%s\"\n",
			hostname, dns, mx, listeners, maildir)
	}
	original := file(gwHost, "")
	g := e2etest.StartGateway(t, original, mx)
	const warning = "that takes effect at the next restart"
	reload := func(text string, n int) string {
		t.Helper()
		if err := os.WriteFile(g.ConfigPath(), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := g.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLogCount(t, g, "msg=reloaded", n)
		// The warnings of reload n are logged before its "reloaded" line.
		logs := g.Logs()
		return logs[:nthIndex(logs, "msg=reloaded", n)]
	}

	logs := reload(file(gwHost, fmt.Sprintf("[[listener]]\nname = \"extra\"\naddress = %q\n", extra)), 1)
	if c := strings.Count(logs, warning); c != 1 || !strings.Contains(logs, "[[listener]] changed") {
		t.Fatalf("adding a listener: %d restart warnings, want 1 naming [[listener]]:\n%s", c, logs)
	}
	logs = reload(original, 2)
	if c := strings.Count(logs, warning); c != 1 {
		t.Errorf("reverting to what runs: %d restart warnings in all, want still 1:\n%s", c, logs)
	}
	logs = reload(file("mx2.example.com", ""), 3)
	if c := strings.Count(logs, "hostname changed; "+warning); c != 1 {
		t.Errorf("changing hostname: %d hostname warnings, want 1:\n%s", c, logs)
	}
	logs = reload(file("mx2.example.com", "")+"[limits]\nmax_errors = 5\n", 4)
	if c := strings.Count(logs, "hostname changed; "+warning); c != 2 {
		t.Errorf("a reload while hostname still differs from what runs: %d hostname warnings, want 2:\n%s", c, logs)
	}
	if r := e2etest.DialRaw(t, mx, ""); !strings.Contains(r.Greeting.String(), gwHost) {
		t.Errorf("greeting after the reloads %q, want the hostname it started with", r.Greeting)
	}
}

// waitLogCount polls the gateway's output until substr occurs n times.
func waitLogCount(t *testing.T, g *e2etest.Gateway, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(g.Logs(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q does not occur %d times after 10s:\n%s", substr, n, g.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nthIndex returns the index of the n-th (from 1) occurrence of substr.
func nthIndex(s, substr string, n int) int {
	at := -1
	for i := 0; i < n; i++ {
		j := strings.Index(s[at+1:], substr)
		if j < 0 {
			return -1
		}
		at += j + 1
	}
	return at
}

// serve -dns SERVERS overrides [dns] servers, on every reload too: the old
// code re-read the file alone and went back to its servers after SIGHUP.
func TestReloadKeepsDNSFlag(t *testing.T) {
	flagDNS, fileDNS := dnstest.Start(t), dnstest.Start(t)
	mx := e2etest.FreeAddr(t, "127.0.0.1")
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	text := fmt.Sprintf("hostname = %q\nlocal_domains = [\"example.com\"]\n[dns]\nservers = [%q]\ntimeout = \"1s\"\n"+
		"[[listener]]\nname = \"mx\"\naddress = %q\n[relay]\ndownstream = \"maildir:%s\"\n",
		gwHost, fileDNS.Addr(), mx, filepath.Join(dir, "maildir"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	g := e2etest.StartGatewayArgs(t, []string{"serve", "-config", path, "-dns", flagDNS.Addr()}, mx)
	if err := g.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.WaitLog(t, "msg=reloaded", 10*time.Second)
	const name = "probe-after-reload.sender-e2e.net"
	r := e2etest.DialRaw(t, mx, "")
	r.Cmd(t, "EHLO "+name)
	r.Cmd(t, "MAIL FROM:<a@sender-e2e.net>") // the HELO checks run by here
	if n := fileDNS.Queries(name, dns.TypeA) + fileDNS.Queries(name, dns.TypeAAAA); n != 0 {
		t.Errorf("after SIGHUP the file's DNS server got %d queries for %s; -dns was dropped", n, name)
	}
	if n := flagDNS.Queries(name, dns.TypeA) + flagDNS.Queries(name, dns.TypeAAAA); n == 0 {
		t.Errorf("after SIGHUP the -dns server got no query for %s", name)
	}
}

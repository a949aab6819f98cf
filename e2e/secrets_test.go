package e2e

// Secrets where they do not belong (issue 12), through the real binary.
// Setup: configuration files written by the test, a maildir downstream.
// Proof: check-config's and serve's output never repeats a downstream URL's
// password, and both warn about a TLS key or users file that group or
// others may read.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestSecretsDownstreamPasswordMasked(t *testing.T) {
	const secret = "S3cretPw"
	base := "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:2525\"\nkind = \"mx\"\n"
	cases := []struct{ name, text, want string }{
		{"validation", base + "[relay]\ndownstream = \"smtp://relayuser:" + secret + "@10.0.0.5:25\"\n",
			`relay.downstream: "smtp://relayuser:xxxxx@10.0.0.5:25": a user name or password in the URL is not supported`},
		{"syntax error on the line", base + "[relay]\ndownstream = \"smtp://relayuser:" + secret + "@10.0.0.5:25\n",
			":8: relay.downstream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			for _, verb := range []string{"check-config", "serve"} {
				out, errOut, code := e2etest.RunGateway(t, verb, "-config", path)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1\n%s%s", verb, code, out, errOut)
				}
				if strings.Contains(out+errOut, secret) {
					t.Errorf("%s repeats the password:\n%s%s", verb, out, errOut)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: message lacks %q:\n%s", verb, tc.want, errOut)
				}
			}
		})
	}
}

func TestSecretsFileModeWarnings(t *testing.T) {
	hash := hashPassword(t, "a secret of some length")
	for _, mode := range []os.FileMode{0o644, 0o600} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := writeRSACert(t, dir, mode)
			users := filepath.Join(dir, "users")
			if err := os.WriteFile(users, []byte("alice@example.com:"+hash+"\n"), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(users, mode); err != nil {
				t.Fatal(err)
			}
			mx := e2etest.FreeAddr(t, "127.0.0.1")
			sub := e2etest.FreeAddr(t, "127.0.0.1")
			text := fmt.Sprintf("hostname = %q\nlocal_domains = [\"example.com\"]\n"+
				"[[listener]]\nname = \"mx\"\naddress = %q\nkind = \"mx\"\n"+
				"[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n"+
				"[relay]\ndownstream = \"maildir:%s\"\n[tls]\ncert_file = %q\nkey_file = %q\n[auth]\nusers_file = %q\n",
				gwHost, mx, sub, filepath.Join(dir, "mail"), certFile, keyFile, users)
			wants := []string{
				fmt.Sprintf("tls.key_file %s is readable by group or others (mode 0644); it holds secrets: make it private with chmod 600 %s", keyFile, keyFile),
				fmt.Sprintf("auth.users_file %s is readable by group or others (mode 0644); it holds secrets: make it private with chmod 600 %s", users, users),
			}

			out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", writeConfig(t, text))
			if code != 0 {
				t.Fatalf("check-config: exit %d\n%s%s", code, out, errOut)
			}
			gw := e2etest.StartGateway(t, text, mx, sub)
			if mode == 0o600 {
				if strings.Contains(errOut, "readable by group or others") {
					t.Errorf("check-config warns about private files:\n%s", errOut)
				}
				time.Sleep(200 * time.Millisecond)
				if strings.Contains(gw.Logs(), "readable by group or others") {
					t.Errorf("serve warns about private files:\n%s", gw.Logs())
				}
				return
			}
			for _, w := range wants {
				if !strings.Contains(errOut, "warning: "+w) {
					t.Errorf("check-config lacks the warning %q:\n%s", w, errOut)
				}
				if line := gw.WaitLog(t, w, 5*time.Second); !strings.Contains(line, "level=WARN") {
					t.Errorf("serve: not a WARN line: %s", line)
				}
			}
		})
	}
}

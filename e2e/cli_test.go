package e2e

// The command line: check-config (valid file: effective configuration with
// secrets masked; invalid: the key, the line and what to write, exit 1),
// hash-password with argon2id, version, and an unknown verb.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gateway/internal/e2etest"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLICheckConfig(t *testing.T) {
	hash := hashPassword(t, "a secret of some length")
	good := writeConfig(t, `hostname = "mx.example.com"
local_domains = ["example.com"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"
[relay]
downstream = "smtp://127.0.0.1:25"
[[auth.user]]
name = "alice@example.com"
password_hash = "`+hash+`"
`)
	out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", good)
	if code != 0 {
		t.Fatalf("valid file: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"is valid", `hostname = "mx.example.com"`, `downstream = "smtp://127.0.0.1:25"`,
		"max_recipients = 100", `profile = "cpanel"`, `password_hash = "********"`} {
		if !strings.Contains(out, want) {
			t.Errorf("effective configuration lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, hash) {
		t.Errorf("the password hash was printed")
	}

	cases := []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[relay]\ndownstream = \"smtp://127.0.0.1:25\"\nmax_recipient = 5\n",
			[]string{":5:", "relay.max_recipient"}},
		{"wrong type", "hostname = \"mx.example.com\"\n[limits]\nmax_recipients = \"ten\"\n",
			[]string{":3:", "limits.max_recipients", "whole number"}},
		{"duration without unit", "hostname = \"mx.example.com\"\n[limits]\ncommand_timeout = \"300\"\n",
			[]string{"limits.command_timeout", `"5m"`}},
		{"plain-text password", "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:2525\"\nkind = \"mx\"\n[relay]\ndownstream = \"smtp://127.0.0.1:25\"\n[[auth.user]]\nname = \"bob@example.com\"\npassword_hash = \"hunter2hunter2\"\n",
			[]string{"password_hash", "hash-password"}},
		{"bad downstream", "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[relay]\ndownstream = \"http://10.0.0.5\"\n",
			[]string{"relay.downstream", "smtp://"}},
		{"bad CIDR", "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[relay]\ndownstream = \"smtp://127.0.0.1:25\"\n[helo]\ntrusted_networks = [\"10.0.0.0/33\"]\n",
			[]string{"helo.trusted_networks", "10.0.0.0/33"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", writeConfig(t, tc.text))
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			all := out + errOut
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "hunter2") {
				t.Errorf("the plain-text password was echoed:\n%s", all)
			}
		})
	}
}

func TestCLIVersionHashAndUsage(t *testing.T) {
	out, _, code := e2etest.RunGateway(t, "version")
	if code != 0 || !strings.HasPrefix(out, "gateway ") {
		t.Errorf("version: exit %d: %q", code, out)
	}
	out, errOut, code := e2etest.RunGatewayStdin(t, "another secret\n", "hash-password", "-algorithm", "argon2id")
	if code != 0 || !strings.HasPrefix(out, "$argon2id$") {
		t.Errorf("hash-password argon2id: exit %d: %q %q", code, out, errOut)
	}
	if strings.Contains(out+errOut, "another secret") {
		t.Errorf("the password was echoed")
	}
	_, errOut, code = e2etest.RunGateway(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "check-config") {
		t.Errorf("unknown verb: exit %d\n%s", code, errOut)
	}
}

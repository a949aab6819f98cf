package e2e

// The command line: check-config (valid file: effective configuration with
// secrets masked; invalid: the key, the line and what to write, exit 1;
// every problem in one run; without -config the embedded default as a
// file that passes check-config itself), serve's -mx and -submission,
// hash-password with argon2id, version, help and an unknown verb.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
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

// Issue 16: a file with a wrong type, an unknown key and a bad value took
// three runs of check-config. One run names all three, each with its line,
// and the typo gets its suggestion.
func TestCLICheckConfigEveryProblemAtOnce(t *testing.T) {
	file := writeConfig(t, `hostname = "mx.example.com"
local_domains = ["example.com"]

[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"

[relay]
downstream = "127.0.0.1:3825"

[limits]
max_mesage_bytes = 10485760

[helo]
explain = "yes"
`)
	out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		file + `:10: relay.downstream: "127.0.0.1:3825": unknown scheme`,
		file + `:13: unknown key limits.max_mesage_bytes; did you mean max_message_bytes?`,
		file + `:16: helo.explain: wrong type: write true or false (without quotes) here, not a string`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check-config output lacks %q:\n%s%s", want, out, errOut)
		}
	}
}

// check-config without -config prints the embedded default as a file to
// start from, which passes check-config itself; -mx and -submission move
// its listeners, on loopback only, and do not go with -config.
func TestCLICheckConfigPrintsEmbeddedDefault(t *testing.T) {
	out, errOut, code := e2etest.RunGateway(t, "check-config")
	if code != 0 {
		t.Fatalf("check-config without -config: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{`local_domains = ["*"]`, `address = "127.0.0.1:2525"`, `address = "127.0.0.1:2587"`, `downstream = "maildir:./maildir"`, `password_hash = "$2a$`} {
		if !strings.Contains(out, want) {
			t.Errorf("printed default lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, `password "`) {
		t.Errorf("the lab password is not on stderr:\n%s", errOut)
	}
	checked, errOut, code := e2etest.RunGateway(t, "check-config", "-config", writeConfig(t, out))
	if code != 0 || !strings.Contains(checked, "is valid") {
		t.Fatalf("check-config on the printed default: exit %d\n%s%s", code, checked, errOut)
	}

	out, errOut, code = e2etest.RunGateway(t, "check-config", "-mx", "127.0.0.1:25", "-submission", "[::1]:587")
	if code != 0 || !strings.Contains(out, `address = "127.0.0.1:25"`) || !strings.Contains(out, `address = "[::1]:587"`) {
		t.Fatalf("check-config -mx -submission: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := e2etest.RunGateway(t, "check-config", "-config", writeConfig(t, out)); code != 0 {
		t.Errorf("the printed default with -mx does not pass check-config: exit %d\n%s", code, errOut)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"public address", []string{"check-config", "-mx", "0.0.0.0:25"}, "loopback addresses only"},
		{"host name", []string{"serve", "-submission", "localhost:2587"}, "loopback addresses only"},
		{"with -config", []string{"serve", "-config", writeConfig(t, out), "-mx", "127.0.0.1:2526"}, "does not go with -config"},
		{"check-config with -config", []string{"check-config", "-config", writeConfig(t, out), "-submission", "127.0.0.1:2526"}, "does not go with -config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := e2etest.RunGateway(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s: exit %d, want 2 and %q:\n%s", strings.Join(tc.args, " "), code, tc.want, errOut)
			}
		})
	}
}

// serve -mx ADDRESS -submission ADDRESS runs the embedded default on
// those addresses (so two labs, or a lab and a test, can run at once).
func TestServeEmbeddedDefaultAddresses(t *testing.T) {
	e2etest.Require(t, "swaks")
	mx, sub := e2etest.FreeAddr(t, "127.0.0.1"), e2etest.FreeAddr(t, "127.0.0.1")
	g := e2etest.StartGatewayArgs(t, []string{"serve", "-mx", mx, "-submission", sub, "-dns", startDNS(t)}, mx, sub)
	g.WaitLog(t, "--auth-password", 10*time.Second) // the banner's last line
	for _, want := range []string{"swaks --server " + mx + " ", "swaks --server " + sub + " "} {
		if !strings.Contains(g.Logs(), want) {
			t.Errorf("start-up text lacks %q:\n%s", want, g.Logs())
		}
	}
	if strings.Contains(g.Logs(), "127.0.0.1:2525") {
		t.Errorf("the default address is still in use:\n%s", g.Logs())
	}
	if o, code := e2etest.Swaks(t, "--server", mx, "--ehlo", "mail.client-lab.net", "--from", "alice@client-lab.net", "--to", "bob@anywhere-lab.net"); code != 0 {
		t.Fatalf("swaks to -mx %s: exit %d\n%s", mx, code, o)
	}
	files, _ := filepath.Glob(filepath.Join(g.Dir(), "maildir", "new", "*"))
	if len(files) != 1 {
		t.Errorf("%d files in maildir/new, want 1", len(files))
	}
	if r := e2etest.DialRaw(t, sub, ""); r.Greeting.Code != 220 {
		t.Errorf("submission on %s greets %s", sub, r.Greeting)
	}
}

// gateway -h lists the commands, as gateway help does; gateway serve -h
// lists serve's flags.
func TestCLIHelp(t *testing.T) {
	help, _, code := e2etest.RunGateway(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, verb := range []string{"gateway [serve]", "gateway check-config", "gateway check-helo", "gateway hash-password", "gateway version", "gateway help", "-mx ADDRESS"} {
		if !strings.Contains(help, verb) {
			t.Errorf("help lacks %q:\n%s", verb, help)
		}
	}
	for _, flag := range []string{"-h", "--help", "-help"} {
		out, errOut, code := e2etest.RunGateway(t, flag)
		if code != 0 || out != help {
			t.Errorf("gateway %s: exit %d, want 0 and the output of gateway help:\n%s%s", flag, code, out, errOut)
		}
	}
	_, errOut, _ := e2etest.RunGateway(t, "serve", "-h")
	for _, want := range []string{"-config", "-mx", "-submission", "-dns", "gateway help"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, errOut)
		}
	}
}

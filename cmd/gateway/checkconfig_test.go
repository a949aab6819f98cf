package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The file's own problems and what only building finds (here a plain-text
// password) come in one run, each with its line.
func TestCheckConfigBuildProblemsInTheSameRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.toml")
	doc := `hostname = "mx.example.com"
local_domains = ["example.com"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
[relay]
downstream = "127.0.0.1:3825"
[helo]
explain = "yes"
[helo.checks]
fqdnn = "tag"
[[auth.user]]
name = "a"
password_hash = "hunter2hunter2"
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := checkConfig([]string{"-config", path}, &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		path + ":7: relay.downstream:",
		path + ":9: helo.explain: wrong type",
		path + ":11: helo.checks.fqdnn: unknown check",
		path + ":14: auth.user[0].password_hash: not a bcrypt or argon2id hash",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errOut.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), "hunter2") {
		t.Errorf("the plain-text password was echoed")
	}
}

// Building what could be read of a broken file never panics.
func TestCheckConfigBrokenFilesDoNotPanic(t *testing.T) {
	for i, doc := range []string{
		"",
		"[[listener]]\n[[listener]]\nkind = \"bogus\"\naddress = \"x\"\n",
		"local_domains = 5\nlistener = 3\nrelay = \"x\"\nauth = 1\nhelo = []\n",
		"[helo]\nprofile = \"exim\"\nstage = \"x\"\ntrusted_networks = [\"x\"]\n[auth]\nbackend = \"ldap\"\nusers_file = \"/nonexistent\"\n",
		"[tls]\ncert_file = \"/x\"\n[relay]\ndownstream = \"smtps://\"\ntls = \"x\"\nca_file = \"/x\"\n[[relay.route]]\ndomain = \"\"\n",
		"[dns]\nservers = [\"\", \"::\"]\ntimeout = \"-1s\"\ncache_size = -5\n[limits]\nmax_connections = -1\nmax_line_length = 1\n",
	} {
		path := filepath.Join(t.TempDir(), "g.toml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		if code := checkConfig([]string{"-config", path}, &out, &errOut); code != 1 {
			t.Errorf("file %d: exit %d, want 1:\n%s", i, code, errOut.String())
		}
	}
}

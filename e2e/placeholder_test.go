package e2e

// config.toml.example copied and not edited (issue 16): it is valid, so
// the gateway would start with mx.example.com and a downstream at
// 10.0.0.5. check-config and serve warn for every placeholder still in
// place, naming the key and what to put there; an edited file has no
// such warning.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestPlaceholderWarnings(t *testing.T) {
	example, err := os.ReadFile("../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", "../config.toml.example")
	if code != 0 {
		t.Fatalf("the example: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`warning: hostname = "mx.example.com" is a placeholder from config.toml.example: put this gateway's public host name`,
		`warning: local_domains = [... "example.com" ...] is a placeholder from config.toml.example: put the domains this gateway accepts mail for`,
		`warning: local_domains = [... "example.net" ...] is a placeholder from config.toml.example: put the domains this gateway accepts mail for`,
		`warning: relay.downstream = "smtp://10.0.0.5:25" is a placeholder from config.toml.example: put the address of your mail server behind the gateway`,
		`warning: auth.user[0].password_hash = (the example's hash) is a placeholder from config.toml.example: put a hash from ` + "`gateway hash-password`",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check-config of the example lacks\n  %s\nin:\n%s", want, errOut)
		}
	}

	// The same file with the placeholders edited, as the install steps say.
	edited := string(example)
	for _, r := range [][2]string{
		{`hostname = "mx.example.com"`, `hostname = "mx.edited-e2e.net"`},
		{`local_domains = ["example.com", "example.net"]`, `local_domains = ["edited-e2e.net"]`},
		{`downstream = "smtp://10.0.0.5:25"`, `downstream = "smtp://192.0.2.25:25"`},
		{`password_hash = "$2a$12$IUsJWnII65P8SnBc1a3EWOqGnoR1FuW3anV5nQAqAUFRgh1E.Vd32"`, `password_hash = "` + hashPassword(t, password) + `"`},
	} {
		if !strings.Contains(edited, r[0]) {
			t.Fatalf("config.toml.example no longer has %s", r[0])
		}
		edited = strings.Replace(edited, r[0], r[1], 1)
	}
	_, errOut, code = e2etest.RunGateway(t, "check-config", "-config", writeConfig(t, edited))
	if code != 0 || strings.Contains(errOut, "placeholder") {
		t.Errorf("the edited example: exit %d, stderr:\n%s", code, errOut)
	}

	// serve: one WARN line per placeholder, with the key.
	mx := e2etest.FreeAddr(t, "127.0.0.1")
	g := e2etest.StartGateway(t, `hostname = "mx.example.com"
local_domains = ["edited-e2e.net"]
[[listener]]
name = "mx"
address = "`+mx+`"
kind = "mx"
[relay]
downstream = "maildir:`+filepath.Join(t.TempDir(), "maildir")+`"
`, mx)
	line := g.WaitLog(t, "placeholder from config.toml.example", 5*time.Second)
	r, err := parseTextLine(line)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "placeholder WARN", r, "level", "WARN", "key", "hostname", "value", `"mx.example.com"`)
	if !strings.HasPrefix(r["put"], "this gateway's public host name") {
		t.Errorf("put = %q", r["put"])
	}
	if n := strings.Count(g.Logs(), "placeholder from config.toml.example"); n != 1 {
		t.Errorf("%d placeholder lines, want 1 (hostname only):\n%s", n, g.Logs())
	}
}

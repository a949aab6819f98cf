package e2e

import (
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// TestCLICheckConfigLocalDomainEmptyLabel runs check-config on a file whose
// local_domains entry ends in three dots. Proof: the gateway refuses it,
// naming the key, where it used to accept it and keep "example.com.", a
// local domain no recipient ever matched (the config cut one dot,
// Normalize another; issue 13, package domain). One trailing dot, the
// absolute form, stays valid, and so do two as before.
func TestCLICheckConfigLocalDomainEmptyLabel(t *testing.T) {
	config := func(d string) string {
		return writeConfig(t, `hostname = "mx.example.com"
local_domains = ["`+d+`"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"
[relay]
downstream = "smtp://127.0.0.1:25"
`)
	}
	for _, d := range []string{"example.com.", "example.com.."} {
		out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", config(d))
		if code != 0 {
			t.Fatalf("local_domains = [%q]: exit %d, want 0\n%s%s", d, code, out, errOut)
		}
	}
	out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", config("example.com..."))
	if code == 0 {
		t.Fatalf(`local_domains = ["example.com..."]: exit 0, want a config error`+"\n%s%s", out, errOut)
	}
	for _, want := range []string{"local_domains[0]", "is not a domain name"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("check-config output lacks %q:\n%s%s", want, out, errOut)
		}
	}
}

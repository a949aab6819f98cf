package e2e

// README.md's tour, run as written (issue 16): the swaks line of the
// misconfigured script and check-helo are read from README.md itself, run
// against the embedded default, and the quoted output (the swaks reply
// lines, the log line, the check-helo report) is compared with what the
// binary prints. One change to the commands: both get -dns pointing at the
// in-process test DNS server, so that "no PTR" does not depend on the
// machine's resolver.

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// readmeBlock returns the indented lines of README.md after the first line
// containing marker, up to the next unindented text line.
func readmeBlock(t *testing.T, marker string) (command string, quoted []string) {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if !strings.Contains(l, marker) {
			continue
		}
		command = strings.TrimSpace(l)
		for _, q := range lines[i+1:] {
			if q != "" && !strings.HasPrefix(q, "    ") {
				break
			}
			if q != "" {
				quoted = append(quoted, strings.TrimPrefix(q, "    "))
			}
		}
		return command, quoted
	}
	t.Fatalf("README.md has no line with %q", marker)
	return "", nil
}

// inOrder checks that every quoted line but "..." is a line of out, in
// order; a quoted line ending in "..." matches a line it starts.
func inOrder(t *testing.T, what string, quoted []string, out string) {
	t.Helper()
	got := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	j := 0
	for _, q := range quoted {
		if q == "..." {
			continue
		}
		prefix, cut := strings.CutSuffix(q, "...")
		for ; j < len(got); j++ {
			if got[j] == q || cut && strings.HasPrefix(got[j], prefix) {
				break
			}
		}
		if j == len(got) {
			t.Errorf("%s: README.md quotes\n  %s\nwhich the binary did not print (in this order):\n%s", what, q, out)
			return
		}
		j++
	}
}

func TestReadmeTour(t *testing.T) {
	e2etest.Require(t, "swaks")
	dns := startDNS(t)
	g := e2etest.StartGatewayArgs(t, []string{"serve", "-dns", dns}, "127.0.0.1:2525", "127.0.0.1:2587")

	cmd, quoted := readmeBlock(t, "swaks --server 127.0.0.1:2525 --ehlo mailserver")
	var replies []string
	for _, q := range quoted {
		if strings.HasPrefix(q, "<** ") {
			replies = append(replies, q)
		}
	}
	if len(replies) != 2 {
		t.Fatalf("README's swaks block: %q", quoted)
	}
	out, _ := e2etest.Swaks(t, strings.Fields(cmd)[1:]...)
	inOrder(t, "swaks", replies, out)

	// The log line: every key but the session id and the time.
	_, logQuoted := readmeBlock(t, "and the log line that tells the operator why")
	wantRec, err := parseTextLine(logQuoted[0])
	if err != nil {
		t.Fatalf("README's log line: %v", err)
	}
	line := g.WaitLog(t, "helo=mailserver check=fqdn", 5*time.Second)
	gotRec, err := parseTextLine(line)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range wantRec {
		if k != "conn" && gotRec[k] != v {
			t.Errorf("log line %s:\n README %q\n binary %q", k, v, gotRec[k])
		}
	}

	cmd, quoted = readmeBlock(t, "go run ./cmd/gateway check-helo")
	args := append(strings.Fields(strings.TrimPrefix(cmd, "go run ./cmd/gateway "))[:1], "-dns", dns)
	args = append(args, strings.Fields(cmd)[4:]...)
	stdout, stderr, code := e2etest.RunGateway(t, args...)
	if code != 1 {
		t.Errorf("check-helo %q: exit %d, README says 1 (refused)\n%s", args, code, stderr)
	}
	inOrder(t, "check-helo", quoted, stdout)
}

// README's RFC-conformant HELO snippet passes check-config as part of a
// configuration, and check-helo under it refuses a syntax error but only
// tags a literal that is not the client's address (cpanel refuses it).
func TestReadmeRFCProfile(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "keep the verification checks at `tag`")
	if i < 0 {
		t.Fatal("README.md lost the RFC profile paragraph")
	}
	rest := text[i:]
	start := strings.Index(rest, "```toml\n")
	end := strings.Index(rest[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no toml block after the RFC profile paragraph")
	}
	snippet := rest[start+8 : start+8+end]
	dns := startDNS(t)
	cfg := writeConfig(t, `hostname = "mx.rfc-e2e.net"
local_domains = ["rfc-e2e.net"]
[dns]
servers = ["`+dns+`"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"
[relay]
downstream = "smtp://192.0.2.25:25"
`+snippet)
	if out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", cfg); code != 0 {
		t.Fatalf("check-config of README's snippet: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := e2etest.RunGateway(t, "check-helo", "-config", cfg, "-ip", "192.0.2.7", "mail_server.rfc-e2e.net"); code != 1 {
		t.Errorf("a syntax error: check-helo exit %d, want 1 (refused)", code)
	}
	out, errOut, code := e2etest.RunGateway(t, "check-helo", "-config", cfg, "-ip", "192.0.2.7", "[192.0.2.8]")
	if code != 0 {
		t.Errorf("a literal that is not the client's: exit %d, want 0 (tagged only)\n%s%s", code, out, errOut)
	}
}

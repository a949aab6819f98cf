package e2e

// Failover downstreams (issue 14): [relay] downstream given as a list is
// tried in order. Setup: a first URL nobody listens on, a real Postfix as
// the second. Proof: Postfix's mailbox, the client's 250, the log line
// naming the downstream that took the message.

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestFailoverDownstream(t *testing.T) {
	e2etest.Require(t, "postfix", "swaks")
	dead := e2etest.FreeAddr(t, "127.0.0.1") // nothing listens there
	pf := e2etest.StartPostfix(t, e2etest.PostfixOptions{})
	e := setup(t, nil, opts{downstream: "smtp://" + dead, failover: "smtp://" + pf.Addr()})
	e.postfix = pf

	for i, subject := range []string{"failover one", "failover two"} {
		out, code := e.swaks(t, "--to", "bob@example.com", "--header", "Subject: "+subject)
		if code != 0 || !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
			t.Fatalf("message %d: exit %d, want the backup's 250:\n%s", i+1, code, out)
		}
	}
	msgs := pf.WaitMessages(t, 2, 20*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d messages in the backup's mailbox, want 2", len(msgs))
	}
	line := e.gw.WaitLog(t, "msg=relayed", 5*time.Second)
	if !strings.Contains(line, "downstream=smtp://"+pf.Addr()) {
		t.Errorf("the relayed line does not name the backup %s:\n%s", pf.Addr(), line)
	}
	if strings.Contains(line, dead) {
		t.Errorf("the relayed line names the dead primary:\n%s", line)
	}
	if !pf.QueueIsEmpty(t) {
		t.Errorf("Postfix kept a message queued")
	}
}

// check-config names each URL of a list that is wrong, and accepts a
// valid list.
func TestFailoverCheckConfig(t *testing.T) {
	base := "hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[[listener]]\naddress = \"127.0.0.1:2525\"\n[relay]\n"
	good := writeConfig(t, base+"downstream = [\"smtp://127.0.0.1:10025\", \"smtps://[::1]:465\"]\n")
	out, errOut, code := e2etest.RunGateway(t, "check-config", "-config", good)
	if code != 0 || !strings.Contains(out, `downstream = ["smtp://127.0.0.1:10025", "smtps://[::1]:465"]`) {
		t.Fatalf("valid list: exit %d, want 0 and the list in the effective configuration:\n%s%s", code, out, errOut)
	}
	bad := writeConfig(t, base+"downstream = [\"smtp://127.0.0.1:10025\", \"10.0.0.6:25\", \"smtp://127.0.0.1:10025\"]\n")
	out, errOut, code = e2etest.RunGateway(t, "check-config", "-config", bad)
	all := out + errOut
	if code == 0 {
		t.Fatalf("invalid list accepted:\n%s", all)
	}
	for _, want := range []string{
		`relay.downstream[1]: "10.0.0.6:25": unknown scheme; want smtp://host:port, smtps://host:port or maildir:PATH: did you mean "smtp://10.0.0.6:25"?`,
		`relay.downstream[2]: "smtp://127.0.0.1:10025" is relay.downstream[0] already`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("check-config does not say %q:\n%s", want, all)
		}
	}
}

// Package e2e holds the end-to-end tests: the real gateway binary between
// real clients (swaks, Python's smtplib, curl, a raw socket) and a real
// Postfix, with a real DNS server (in-process, on loopback). They need root
// (Postfix) and the tools .ci/install-deps installs; without them they skip
// with a hint, unless GATEWAY_E2E=1 (CI), where they fail.
package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }

// The names the tests use. Client names are real-looking FQDNs that are
// not reserved (RFC 2606 reserves example.com, so the HELO checks would
// refuse it as a client name); the gateway's own domains are example.com
// and example.org, which the private Postfix accepts.
const (
	gwHost     = "mx.example.com"
	clientHELO = "mail.sender-e2e.net"
	sender     = "alice@sender-e2e.net"
)

// opts shapes the configuration of one gateway run.
type opts struct {
	mx         string // mx listener address
	downstream string // e.g. "smtp://127.0.0.1:10025"
	failover   string // more downstream URLs, tried after downstream (a TOML list is written)
	dns        string // the test DNS server
	extra      string // appended TOML (tables after the top level)
	top        string // top-level keys
	listeners  string // more [[listener]] tables
	shutdown   string // shutdown_timeout; default "10s"
	domains    string // local_domains as a TOML array; default ["example.com", "example.org"]

	// zone publishes names in the test DNS server before the gateway
	// starts (its readiness probe connects from loopback, and a PTR it
	// finds missing is cached as such).
	zone []func(*dnstest.Server)
}

func (o opts) toml() string {
	var b strings.Builder
	if o.shutdown == "" {
		o.shutdown = "10s"
	}
	if o.domains == "" {
		o.domains = `["example.com", "example.org"]`
	}
	fmt.Fprintf(&b, "hostname = %q\nlocal_domains = %s\nshutdown_timeout = %q\n%s\n", gwHost, o.domains, o.shutdown, o.top)
	fmt.Fprintf(&b, "[dns]\nservers = [%q]\ntimeout = \"1s\"\n", o.dns)
	fmt.Fprintf(&b, "[[listener]]\nname = \"mx\"\naddress = %q\nkind = \"mx\"\n%s\n", o.mx, o.listeners)
	if o.failover != "" {
		fmt.Fprintf(&b, "[relay]\ndownstream = [%q, %q]\ntls = \"none\"\n", o.downstream, o.failover)
	} else {
		fmt.Fprintf(&b, "[relay]\ndownstream = %q\ntls = \"none\"\n", o.downstream)
	}
	b.WriteString(o.extra)
	return b.String()
}

// env is one test's world: DNS, Postfix, and the gateway in front of it.
type env struct {
	dns     *dnstest.Server
	postfix *e2etest.Postfix
	gw      *e2etest.Gateway
	mx      string
}

// setup starts DNS, a Postfix (unless pf is nil) and the gateway.
func setup(t *testing.T, pf *e2etest.PostfixOptions, o opts) *env {
	t.Helper()
	e2etest.Require(t, "postfix", "swaks")
	e := &env{dns: dnstest.Start(t)}
	for _, z := range o.zone {
		z(e.dns)
	}
	if pf != nil {
		e.postfix = e2etest.StartPostfix(t, *pf)
		if o.downstream == "" {
			o.downstream = "smtp://" + e.postfix.Addr()
		}
	}
	if o.mx == "" {
		o.mx = e2etest.FreeAddr(t, "127.0.0.1")
	}
	o.dns = e.dns.Addr()
	e.mx = o.mx
	e.gw = e2etest.StartGateway(t, o.toml(), o.mx)
	return e
}

// swaks sends one message to the mx listener with the usual names.
func (e *env) swaks(t *testing.T, args ...string) (string, int) {
	t.Helper()
	base := []string{"--server", e.mx, "--ehlo", clientHELO, "--from", sender}
	return e2etest.Swaks(t, append(base, args...)...)
}

// startDNS starts a test DNS server and returns its address.
func startDNS(t *testing.T) string {
	t.Helper()
	return dnstest.Start(t).Addr()
}

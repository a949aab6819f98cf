package e2e

// Issue 12: nothing bounded the DNS queries the gateway had out at once
// (1000 sessions with random HELO names: 4000 queries in 4.3 s). With
// [dns] max_in_flight reached, a check's lookup is not sent: it comes back
// temperror. Setup: the real binary with max_in_flight = 1, the strict
// profile (every check refuses), the in-process DNS server answering the
// client's names only after 800 ms (the [dns] timeout is 1 s). Proof: the
// client reads Exim's 4xx defer with the reason "busy", never a 5xx; the
// operator reads "dns saturated" in the log and gateway_dns_saturated_total
// in the metrics.

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

func TestDNSMaxInFlight(t *testing.T) {
	const (
		ip   = "127.0.0.11"
		name = "busy.sender-e2e.net"
	)
	e := &env{dns: dnstest.Start(t)}
	e.dns.AddA(name, ip)
	e.dns.AddPTR(ip, name)
	e.dns.Delay(name, 800*time.Millisecond)
	e.dns.Delay("11.0.0.127.in-addr.arpa", 800*time.Millisecond)
	metricsAddr := e2etest.FreeAddr(t, "127.0.0.1")
	o := opts{
		mx:         e2etest.FreeAddr(t, "127.0.0.1"),
		downstream: "smtp://127.0.0.1:1", // never reached: the test ends at MAIL
		dns:        e.dns.Addr(),
		extra:      "[helo]\nprofile = \"strict\"\n[metrics]\naddress = \"" + metricsAddr + "\"\n",
	}
	conf := strings.Replace(o.toml(), "[dns]\n", "[dns]\nmax_in_flight = 1\n", 1)
	e.mx = o.mx
	e.gw = e2etest.StartGateway(t, conf, o.mx)

	c := heloTalk(t, e.mx, ip, "EHLO", name)
	stage, reply := c.refusal()
	// The reply names the first check that failed; which lookup got the
	// one slot (and then timed out) and which was refused for want of one
	// (busy) is a race, so the reply says busy or timeout. What matters: a
	// 4xx, never a 5xx, and the saturation is seen below (log, metric).
	if stage != "mail" || !strings.HasPrefix(reply, "451-DNS lookup of ") ||
		!(strings.Contains(reply, "failed temporarily (busy)") || strings.Contains(reply, "failed temporarily (timeout)")) ||
		!strings.HasSuffix(reply, "\n451 4.4.3 "+eximTemp) {
		t.Errorf("refused at %q with\n%s\nwant at MAIL with a 451 whose reason is busy or timeout", stage, reply)
	}
	if v := e.gw.WaitLog(t, "helo verdict", 10*time.Second); !strings.Contains(v, "temperror") || strings.Contains(v, "=fail/") {
		t.Errorf("helo verdict under saturation: %s", v)
	}
	line := e.gw.WaitLog(t, "dns saturated", 10*time.Second)
	if !strings.Contains(line, "max_in_flight=1") {
		t.Errorf("saturation log line: %s", line)
	}
	samples, _ := scrape(t, metricsAddr)
	if n := value(samples, "gateway_dns_saturated_total"); n < 1 {
		t.Errorf("gateway_dns_saturated_total = %v, want at least 1", n)
	}
	if n := value(samples, "gateway_dns_queries_in_flight"); n > 1 {
		t.Errorf("gateway_dns_queries_in_flight = %v, more than max_in_flight", n)
	}
}

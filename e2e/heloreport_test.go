package e2e

// The dry run of a profile switch (issue 16): the real gateway binary runs
// the monitor profile in front of a real Postfix, with the in-process DNS
// as its resolver; raw clients and swaks greet it with bad HELO names from
// different loopback addresses. Proof: nothing is refused, each helo
// verdict line says what every profile would do, the would-refuse counter
// counts it, `gateway helo-report` run on the gateway's own log file (text
// and JSON) finds the sessions, the checks, the top clients and HELO names
// and check-helo's fix; and `gateway check-helo` under monitor says it
// refuses nothing and what the other profiles would do.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

// heloReportJSON mirrors the JSON of `gateway helo-report -json`.
type heloReportJSON struct {
	Sessions int `json:"sessions"`
	Verdicts int `json:"verdicts"`
	Profiles []struct {
		Profile string `json:"profile"`
		Refused int    `json:"refused"`
		ByCheck []struct {
			Check    string `json:"check"`
			Sessions int    `json:"sessions"`
		} `json:"by_check"`
		Clients   []heloReportEntry `json:"clients"`
		HELONames []heloReportEntry `json:"helo_names"`
	} `json:"profiles"`
	From string `json:"from"`
	To   string `json:"to"`
}

type heloReportEntry struct {
	Name     string   `json:"name"`
	Sessions int      `json:"sessions"`
	Checks   []string `json:"checks"`
	Seen     []string `json:"seen"`
	Fixes    []struct {
		Check string `json:"check"`
		Fix   string `json:"fix"`
	} `json:"fixes"`
}

func TestHELOReportMonitor(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			met := e2etest.FreeAddr(t, "127.0.0.1")
			helo := fmt.Sprintf("[helo]\nprofile = \"monitor\"\n[log]\nformat = %q\n[metrics]\naddress = %q\n", format, met)
			e := heloSetup(t, helo, opts{})

			// Five sessions: two bare words and a foreign literal from the
			// address without PTR, localhost and a good name (swaks) from
			// the forward-confirmed one. Monitor accepts every one.
			for _, name := range []string{"mon-serveur", "mon-serveur", "[192.168.1.1]"} {
				if stage, reply := heloTalk(t, e.mx, ipNoPTR, "EHLO", name).refusal(); stage != "" {
					t.Fatalf("monitor refused EHLO %s at %s: %s", name, stage, reply)
				}
			}
			for _, name := range []string{"localhost", clientHELO} {
				out, code := e2etest.Swaks(t, "--server", e.mx, "--ehlo", name, "--from", sender, "--to", "bob@example.com",
					"--local-interface", ipGood)
				if code != 0 {
					t.Fatalf("swaks --ehlo %s: exit %d\n%s", name, code, out)
				}
			}
			logs := waitVerdicts(t, e.gw, 5)

			// The log line itself.
			var line string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, `"helo verdict"`) && strings.Contains(l, "mon-serveur") {
					line = l
					break
				}
			}
			for _, want := range []string{"would_refuse", "cpanel:fqdn postfix:fqdn,rdns strict:fqdn,rdns", "fix_fqdn"} {
				if !strings.Contains(line, want) {
					t.Errorf("helo verdict lacks %s:\n%s", want, line)
				}
			}
			if strings.Contains(line, "monitor:") {
				t.Errorf("monitor would refuse:\n%s", line)
			}

			// The counter, in every profile but monitor.
			samples, _ := scrape(t, met)
			count := func(profile, check string) float64 {
				for _, s := range samples {
					if s.name == "gateway_helo_would_refuse_total" && s.labels["profile"] == profile && s.labels["check"] == check {
						return s.value
					}
				}
				return 0
			}
			if got := count("cpanel", "fqdn"); got != 3 {
				t.Errorf("gateway_helo_would_refuse_total{profile=cpanel,check=fqdn} = %v, want 3", got)
			}
			if got := count("cpanel", "literal"); got != 1 {
				t.Errorf("gateway_helo_would_refuse_total{profile=cpanel,check=literal} = %v, want 1", got)
			}
			if got := count("postfix", "rdns"); got != 3 {
				t.Errorf("gateway_helo_would_refuse_total{profile=postfix,check=rdns} = %v, want 3", got)
			}
			for _, s := range samples {
				if s.name == "gateway_helo_would_refuse_total" && s.labels["profile"] == "monitor" {
					t.Errorf("monitor counted: %v", s)
				}
			}

			// The fix as check-helo words it, from the same configuration.
			rep := checkHeloJSON(t, e.gw.ConfigPath(), ipNoPTR, "mon-serveur", 0)
			_, _, _, fqdnFix := rep.check("fqdn")
			if fqdnFix == "" || !rep.RefusesNothing {
				t.Fatalf("check-helo under monitor: fix %q, refuses_nothing %v", fqdnFix, rep.RefusesNothing)
			}

			path := filepath.Join(t.TempDir(), "gateway.log")
			if err := os.WriteFile(path, []byte(logs), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := e2etest.RunGateway(t, "helo-report", "-json", path)
			if code != 0 {
				t.Fatalf("helo-report -json: exit %d\n%s\n%s", code, stdout, stderr)
			}
			var r heloReportJSON
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("helo-report -json: %v\n%s", err, stdout)
			}
			if r.Sessions != 5 || r.Verdicts != 5 || len(r.Profiles) != 4 {
				t.Fatalf("sessions %d, verdicts %d, profiles %d\n%s", r.Sessions, r.Verdicts, len(r.Profiles), stdout)
			}
			refused := map[string]int{}
			for _, p := range r.Profiles {
				refused[p.Profile] = p.Refused
			}
			if refused["cpanel"] != 4 || refused["postfix"] != 4 || refused["strict"] != 4 || refused["monitor"] != 0 {
				t.Errorf("refused per profile: %v", refused)
			}
			cp := r.Profiles[0]
			if cp.Profile != "cpanel" || len(cp.ByCheck) < 2 || cp.ByCheck[0].Check != "fqdn" || cp.ByCheck[0].Sessions != 3 {
				t.Errorf("cpanel by check: %+v", cp.ByCheck)
			}
			if c := cp.Clients[0]; c.Name != ipNoPTR || c.Sessions != 3 || strings.Join(c.Seen, ",") != "mon-serveur,[192.168.1.1]" {
				t.Errorf("cpanel top client: %+v", c)
			}
			h := cp.HELONames[0]
			if h.Name != "mon-serveur" || h.Sessions != 2 || len(h.Fixes) != 1 || h.Fixes[0].Check != "fqdn" || h.Fixes[0].Fix != fqdnFix {
				t.Errorf("cpanel top HELO name: %+v (want the fix %q)", h, fqdnFix)
			}

			// The text form of the same, from standard input.
			stdout, stderr, code = e2etest.RunGatewayStdin(t, logs, "helo-report", "-profile", "cpanel")
			if code != 0 {
				t.Fatalf("helo-report -profile cpanel: exit %d\n%s\n%s", code, stdout, stderr)
			}
			for _, want := range []string{
				"5 sessions with a helo verdict (5 verdict lines)",
				"profile cpanel: 4 of 5 sessions would have been refused",
				"    " + ipNoPTR + "  3 sessions  HELO: mon-serveur, [192.168.1.1]  checks: fqdn,literal\n",
				"    mon-serveur  2 sessions  from: " + ipNoPTR + "  checks: fqdn\n",
				"      fix fqdn: " + fqdnFix + "\n",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("helo-report text lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "profile strict") {
				t.Errorf("-profile cpanel prints other profiles:\n%s", stdout)
			}
		})
	}
}

// waitVerdicts waits (bounded) until the log holds n helo verdict lines.
func waitVerdicts(t *testing.T, gw *e2etest.Gateway, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := gw.Logs()
		got := strings.Count(logs, `"helo verdict"`)
		if got >= n {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d helo verdict lines after 10s, want %d:\n%s", got, n, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check-helo under monitor: "accept (monitor: refuses nothing)", and what
// each other profile would do; no "refusing at".
func TestCheckHeloMonitor(t *testing.T) {
	d := dnstest.Start(t)
	heloZone(d)
	cfg := checkHeloConfig(t, d.Addr(), "[helo]\nprofile = \"monitor\"\n")
	stdout, stderr, code := e2etest.RunGateway(t, "check-helo", "-config", cfg, "-ip", ipNoPTR, "mon-serveur")
	if code != 0 {
		t.Errorf("exit %d, want 0 (monitor accepts)\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"profile:  monitor (refuses nothing)\n",
		"verdict:  accept (monitor: refuses nothing)\n",
		"  cpanel    refuse at MAIL: fqdn\n",
		"  postfix   refuse at RCPT: fqdn, rdns\n",
		"  strict    refuse at MAIL: fqdn, rdns",
		"MAIL  250 2.1.0 Ok",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-helo lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "refusing at") {
		t.Errorf("check-helo under monitor says it refuses:\n%s", stdout)
	}
}

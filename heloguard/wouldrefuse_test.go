package heloguard

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
)

// The dry run: one evaluation, mapped through every profile with the
// operator's overrides.
func TestWouldRefuse(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		helo string
		ip   string
		auth bool
		want string // FormatWouldRefuse of Verdict.WouldRefuse
	}{
		{name: "monitor, bare word from an address without PTR", cfg: Config{Profile: ProfileMonitor},
			helo: "python-email-server", ip: "203.0.113.50",
			want: "cpanel:fqdn postfix:fqdn,rdns strict:fqdn,rdns,fcrdns,rdns_match"},
		{name: "monitor, good sender", cfg: Config{Profile: ProfileMonitor},
			helo: "mail.sender-lab.net", ip: "192.0.2.7", want: ""},
		{name: "cpanel runs: its own entry is what it refuses", cfg: Config{},
			helo: "mailserver", ip: "192.0.2.7",
			want: "cpanel:fqdn postfix:fqdn strict:fqdn,rdns_match"},
		{name: "postfix runs: literal is off, so no profile refuses for it", cfg: Config{Profile: ProfilePostfix},
			helo: "[192.0.2.99]", ip: "192.0.2.7", want: ""},
		{name: "monitor runs: the literal mismatch is seen", cfg: Config{Profile: ProfileMonitor},
			helo: "[192.0.2.99]", ip: "192.0.2.7", want: "cpanel:literal strict:literal"},
		{name: "overrides apply to every profile", cfg: Config{Profile: ProfileMonitor,
			Checks: map[string]Action{CheckFQDN: ActionTag, CheckRDNS: ActionOff}},
			helo: "python-email-server", ip: "203.0.113.50", want: "strict:fcrdns,rdns_match"},
		{name: "an override can make monitor refuse", cfg: Config{Profile: ProfileMonitor,
			Checks: map[string]Action{CheckBareIP: ActionReject}},
			helo: "192.0.2.7", ip: "192.0.2.7", want: "cpanel:bare_ip postfix:bare_ip strict:bare_ip monitor:bare_ip"},
		{name: "deny_names refuses under every profile", cfg: Config{Profile: ProfileMonitor, DenyNames: []string{"*.sender-lab.net"}},
			helo: "mail.sender-lab.net", ip: "192.0.2.7",
			want: "cpanel:deny_names postfix:deny_names strict:deny_names monitor:deny_names"},
		{name: "a temperror is not a refusal", cfg: Config{Profile: ProfileMonitor},
			helo: "mail.sender-lab.net", ip: "192.0.2.66", want: "strict:forward_match"},
		{name: "allow_clients exempts under every profile", cfg: Config{Profile: ProfileMonitor,
			AllowClients: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
			helo: "python-email-server", ip: "203.0.113.50", want: ""},
		{name: "authenticated", cfg: Config{Profile: ProfileMonitor},
			helo: "python-email-server", ip: "203.0.113.50", auth: true, want: ""},
		{name: "stage override", cfg: Config{Profile: ProfileMonitor, Stage: StageRcpt},
			helo: "mailserver", ip: "192.0.2.7", want: "cpanel:fqdn postfix:fqdn strict:fqdn,rdns_match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: true, EHLO: true, Authenticated: tc.auth}, newFake(testZone()))
			if got := FormatWouldRefuse(v.WouldRefuse); got != tc.want {
				t.Fatalf("would_refuse = %q, want %q\nresults: %+v", got, tc.want, v.Results)
			}
			// The running profile's entry agrees with what it does.
			var own *ProfileRefusal
			for i := range v.WouldRefuse {
				if v.WouldRefuse[i].Profile == p.Profile() {
					own = &v.WouldRefuse[i]
				}
			}
			if (own != nil) != (v.Action == ActionReject || v.Action == ActionTempfail) {
				t.Errorf("running profile %s: entry %v, action %s", p.Profile(), own, v.Action)
			}
			if own != nil && own.Checks[0] != v.Decisive.Check {
				t.Errorf("running profile's first check %s, decisive %s", own.Checks[0], v.Decisive.Check)
			}
			for _, pr := range v.WouldRefuse {
				if want := tc.cfg.Stage; want != "" && pr.Stage != want {
					t.Errorf("%s: stage %s, want the configured %s", pr.Profile, pr.Stage, want)
				}
			}
			if a := v.Authenticated(); a.WouldRefuse != nil {
				t.Errorf("Authenticated() keeps would_refuse %v", a.WouldRefuse)
			}
		})
	}
}

func TestWouldRefuseStages(t *testing.T) {
	p := mustPolicy(t, Config{Profile: ProfileMonitor})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mailserver", Sent: true}, newFake(testZone()))
	got := map[string]Stage{}
	for _, pr := range v.WouldRefuse {
		got[pr.Profile] = pr.Stage
	}
	want := map[string]Stage{ProfileCPanel: StageMail, ProfilePostfix: StageRcpt, ProfileStrict: StageMail}
	for k, s := range want {
		if got[k] != s {
			t.Errorf("%s: stage %q, want %q", k, got[k], s)
		}
	}
}

func TestFormatParseWouldRefuse(t *testing.T) {
	for _, s := range []string{"", "cpanel:fqdn", "cpanel:fqdn postfix:fqdn strict:fqdn,rdns", "future_profile:new_check"} {
		list, err := ParseWouldRefuse(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := FormatWouldRefuse(list); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	for _, bad := range []string{"cpanel", "cpanel:", ":fqdn", "cpanel:fqdn,", "cpanel:FQDN", "cp anel:fqdn x", "cpanel:fq\"dn"} {
		if _, err := ParseWouldRefuse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// check-helo under monitor: accept, refuses nothing, and what every other
// profile would do.
func TestReportMonitor(t *testing.T) {
	p := mustPolicy(t, Config{Profile: ProfileMonitor})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: "python-email-server", Sent: true, EHLO: true}, newFake(testZone()))
	r := p.Report(v)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"profile:  monitor (refuses nothing)\n",
		"verdict:  accept (monitor: refuses nothing)\n",
		"other profiles (same [helo.checks]):\n",
		"  cpanel    refuse at MAIL: fqdn\n",
		"  postfix   refuse at RCPT: fqdn, rdns\n",
		"  strict    refuse at MAIL: fqdn, rdns, fcrdns, rdns_match\n",
		"MAIL  250 2.1.0 Ok",
		"fqdn (tag): HELO 'python-email-server' is not a fully-qualified domain name",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "refusing at") {
		t.Errorf("monitor says it refuses:\n%s", text)
	}
	if !r.Accepted || !r.RefusesNothing || len(r.WouldRefuse) != 3 {
		t.Errorf("report: accepted %v, refuses_nothing %v, would_refuse %v", r.Accepted, r.RefusesNothing, r.WouldRefuse)
	}

	// A good sender: every other profile accepts.
	v = p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true, EHLO: true}, newFake(testZone()))
	b.Reset()
	if err := p.Report(v).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  cpanel    accept\n  postfix   accept\n  strict    accept\n") {
		t.Errorf("good sender:\n%s", b.String())
	}

	// monitor with an override that refuses is not "refuses nothing".
	p = mustPolicy(t, Config{Profile: ProfileMonitor, Checks: map[string]Action{CheckFQDN: ActionReject}})
	v = p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: "python-email-server", Sent: true, EHLO: true}, newFake(testZone()))
	b.Reset()
	if err := p.Report(v).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "profile:  monitor, refusing at MAIL\nverdict:  reject (decided by fqdn)\n") {
		t.Errorf("monitor with fqdn = reject:\n%s", b.String())
	}
}

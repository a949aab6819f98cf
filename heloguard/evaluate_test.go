package heloguard

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestExemptions(t *testing.T) {
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	allowed := netip.MustParsePrefix("192.0.2.0/28")
	cfg := Config{
		TrustedNetworks: []netip.Prefix{trusted},
		AllowClients:    []netip.Prefix{allowed},
		AllowNames:      []string{".partner-lab.net", "/^ylmf/"},
		DenyNames:       []string{"ylmf-pc", "*.spam-lab.net"},
	}
	tests := []struct {
		name       string
		helo       string
		ip         string
		auth       bool
		exempt     string
		action     Action
		computed   bool   // results were computed (fqdn not skipped)
		denyResult Result // the deny_names result
	}{
		{name: "authenticated", helo: "DESKTOP-4F2K1", ip: "203.0.113.50", auth: true, exempt: ExemptAuthenticated, action: ActionAccept, computed: true, denyResult: Pass},
		{name: "trusted", helo: "DESKTOP-4F2K1", ip: "10.1.2.3", exempt: ExemptTrusted, action: ActionAccept, computed: true, denyResult: Pass},
		{name: "allow_clients", helo: "DESKTOP-4F2K1", ip: "192.0.2.9", exempt: ExemptAllowClients, action: ActionAccept, denyResult: Skipped},
		{name: "allow_names", helo: "pc12.partner-lab.net", ip: "203.0.113.50", exempt: ExemptAllowNames, action: ActionAccept, denyResult: Pass},
		{name: "deny_names", helo: "bot.spam-lab.net", ip: "203.0.113.50", exempt: "", action: ActionReject, computed: true, denyResult: Fail},
		{name: "deny beats allow_names", helo: "ylmf-pc", ip: "203.0.113.50", exempt: "", action: ActionReject, computed: true, denyResult: Fail},
		{name: "allow_clients beats deny", helo: "ylmf-pc", ip: "192.0.2.9", exempt: ExemptAllowClients, action: ActionAccept, denyResult: Skipped},
		{name: "authenticated beats deny", helo: "ylmf-pc", ip: "203.0.113.50", auth: true, exempt: ExemptAuthenticated, action: ActionAccept, computed: true, denyResult: Fail},
		{name: "nobody", helo: "DESKTOP-4F2K1", ip: "203.0.113.50", exempt: "", action: ActionReject, computed: true, denyResult: Pass},
	}
	p := mustPolicy(t, cfg)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(testZone())
			c := Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: true, EHLO: true, Authenticated: tc.auth}
			v := p.Evaluate(context.Background(), c, f)
			if v.Exempt != tc.exempt || v.Action != tc.action {
				t.Errorf("exempt %q action %s, want %q %s", v.Exempt, v.Action, tc.exempt, tc.action)
			}
			if v.Exempt != "" && (v.Refusal != nil || v.Decisive != nil) {
				t.Errorf("exempt verdict has refusal %v decisive %v", v.Refusal, v.Decisive)
			}
			if got := result(v, CheckFQDN).Result != Skipped; got != tc.computed {
				t.Errorf("fqdn computed = %v, want %v", got, tc.computed)
			}
			if !tc.computed && f.count("") != 0 {
				t.Errorf("%d DNS queries for an allow-listed client", f.count(""))
			}
			if v.Results[0].Check != CheckDenyNames || v.Results[0].Result != tc.denyResult {
				t.Errorf("first result %s=%s, want deny_names=%s", v.Results[0].Check, v.Results[0].Result, tc.denyResult)
			}
			if len(v.Results) != len(Checks())+1 {
				t.Errorf("%d results", len(v.Results))
			}
			if tc.denyResult == Fail && v.Exempt == "" && (v.Refusal == nil || v.Refusal.Check != CheckDenyNames || v.Refusal.Code != 550) {
				t.Errorf("deny refusal %+v", v.Refusal)
			}
		})
	}
}

// Authenticated turns a verdict computed before AUTH into the one
// Evaluate gives an authenticated client.
func TestVerdictAuthenticated(t *testing.T) {
	p := mustPolicy(t, Config{DenyNames: []string{"ylmf-pc"}})
	for _, helo := range []string{"DESKTOP-4F2K1", "ylmf-pc", "mail.sender-lab.net"} {
		c := Client{IP: netip.MustParseAddr("203.0.113.50"), HELO: helo, Sent: true, EHLO: true}
		before := p.Evaluate(context.Background(), c, newFake(testZone()))
		got := before.Authenticated()
		c.Authenticated = true
		want := p.Evaluate(context.Background(), c, newFake(testZone()))
		if got.Exempt != want.Exempt || got.Action != want.Action || got.Refusal != nil || got.Decisive != nil || !got.Client.Authenticated {
			t.Errorf("%s: Authenticated() = exempt %q action %s refusal %v; Evaluate gives exempt %q action %s",
				helo, got.Exempt, got.Action, got.Refusal, want.Exempt, want.Action)
		}
		if got.HeaderValue("mx") != want.HeaderValue("mx") {
			t.Errorf("%s: header\n%s\nwant\n%s", helo, got.HeaderValue("mx"), want.HeaderValue("mx"))
		}
		if before.Action == ActionAccept && helo != "mail.sender-lab.net" {
			t.Errorf("%s: the unauthenticated verdict should refuse", helo)
		}
	}
}

// A check that is off costs no query; a name is looked up once even when
// two checks need it.
func TestDNSQueries(t *testing.T) {
	off := map[string]Action{}
	for _, c := range []string{CheckForwardDNS, CheckForwardMatch, CheckRDNS, CheckFCrDNS, CheckRDNSMatch, CheckGeneric, CheckBigCompany} {
		off[c] = ActionOff
	}
	tests := []struct {
		name             string
		cfg              Config
		helo             string
		ip               string
		a, ptr, mx, want int
	}{
		{name: "every DNS check off", cfg: Config{Checks: off}, helo: "mail.sender-lab.net", ip: "192.0.2.7"},
		{name: "monitor: HELO name is the PTR name, looked up once", cfg: Config{Profile: ProfileMonitor}, helo: "mail.sender-lab.net", ip: "192.0.2.7", a: 1, ptr: 1, mx: 1},
		{name: "monitor: HELO and PTR differ", cfg: Config{Profile: ProfileMonitor}, helo: "other.sender-lab.net", ip: "192.0.2.7", a: 2, ptr: 1, mx: 1},
		{name: "literal: no name lookups", cfg: Config{Profile: ProfileMonitor}, helo: "[192.0.2.7]", ip: "192.0.2.7", a: 1, ptr: 1},
		{name: "single label: no name lookups", cfg: Config{Profile: ProfileMonitor}, helo: "mailserver", ip: "192.0.2.7", a: 1, ptr: 1},
		{name: "only rdns: no forward lookups", cfg: Config{Profile: ProfileMonitor, Checks: map[string]Action{
			CheckForwardDNS: ActionOff, CheckForwardMatch: ActionOff, CheckFCrDNS: ActionOff}}, helo: "mail.sender-lab.net", ip: "192.0.2.7", ptr: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(testZone())
			p := mustPolicy(t, tc.cfg)
			p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr(tc.ip), HELO: tc.helo, Sent: true}, f)
			if a, ptr, mx := f.count("A"), f.count("PTR"), f.count("MX"); a != tc.a || ptr != tc.ptr || mx != tc.mx {
				t.Errorf("queries A=%d PTR=%d MX=%d, want %d %d %d (%v)", a, ptr, mx, tc.a, tc.ptr, tc.mx, f.seen())
			}
			if n := f.active(); n != 0 {
				t.Errorf("%d lookups still in flight after Evaluate returned", n)
			}
		})
	}
}

func TestPTRLimit(t *testing.T) {
	zone := testZone()
	var names []string
	for i := range 30 {
		names = append(names, "h"+string(rune('a'+i%26))+string(rune('a'+i/26))+".sender-lab.net.")
	}
	names = append(names, "bad_name.sender-lab.net.", names[0])
	zone["PTR 192.0.2.99"] = names
	f := newFake(zone)
	p := mustPolicy(t, Config{Profile: ProfileMonitor})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.99"), HELO: "haa.sender-lab.net", Sent: true}, f)
	if len(v.PTR) != maxPTRNames {
		t.Errorf("%d PTR names kept, want %d", len(v.PTR), maxPTRNames)
	}
	// The HELO name is also the first PTR name: one lookup for both.
	if got := f.count("A"); got != maxPTRNames {
		t.Errorf("%d A lookups, want %d", got, maxPTRNames)
	}
}

func TestIPRev(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		ip      string
		want    Result
		ptrName string
	}{
		{name: "confirmed", profile: ProfileCPanel, ip: "192.0.2.7", want: Pass, ptrName: "mail.sender-lab.net"},
		{name: "not confirmed", profile: ProfileCPanel, ip: "192.0.2.20", want: Fail},
		{name: "no PTR", profile: ProfileCPanel, ip: "203.0.113.50", want: Fail},
		{name: "servfail", profile: ProfileCPanel, ip: "192.0.2.66", want: TempError},
		{name: "postfix: fcrdns tagged", profile: ProfilePostfix, ip: "192.0.2.7", want: Pass, ptrName: "mail.sender-lab.net"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, Config{Profile: tc.profile})
			v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr(tc.ip), HELO: "mail.sender-lab.net", Sent: true}, newFake(testZone()))
			if v.IPRev != tc.want || v.IPRevName != tc.ptrName {
				t.Errorf("iprev %s %q, want %s %q", v.IPRev, v.IPRevName, tc.want, tc.ptrName)
			}
		})
	}
	p := mustPolicy(t, Config{Checks: map[string]Action{CheckFCrDNS: ActionOff}})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true}, newFake(testZone()))
	if v.IPRev != Skipped {
		t.Errorf("fcrdns off: iprev %s, want skipped", v.IPRev)
	}
	if !slices.Equal(v.PTR, []string{"mail.sender-lab.net"}) {
		t.Errorf("PTR %v", v.PTR)
	}
}

// Evaluate returns once its context ends, even when DNS never answers;
// what was not answered is a temperror.
func TestContextBounds(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool // cancel instead of a deadline
		reason string
	}{
		{name: "deadline", reason: reasonTimeout},
		{name: "canceled", cancel: true, reason: reasonCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(nil)
			f.all = answerBlock
			p := mustPolicy(t, Config{Profile: ProfileStrict, Explain: true})
			var ctx context.Context
			var cancel context.CancelFunc
			if tc.cancel {
				ctx, cancel = context.WithCancel(context.Background())
			} else {
				ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
			}
			defer cancel()
			done := make(chan Verdict, 1)
			go func() {
				done <- p.Evaluate(ctx, Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true}, f)
			}()
			if tc.cancel {
				cancel()
			}
			var v Verdict
			select {
			case v = <-done:
			case <-time.After(30 * time.Second): // a hang, not a speed limit
				t.Fatal("Evaluate did not return after its context ended")
			}
			for _, check := range []string{CheckForwardDNS, CheckRDNS, CheckFCrDNS} {
				if r := result(v, check); r.Result != TempError || r.Reason != tc.reason {
					t.Errorf("%s = %s (%s), want temperror (%s)", check, r.Result, r.Reason, tc.reason)
				}
			}
			if v.Refusal == nil || v.Refusal.Code/100 != 4 {
				t.Errorf("refusal %v, want a 4xx", v.Refusal)
			}
		})
	}
}

func TestNoResolver(t *testing.T) {
	p := mustPolicy(t, Config{Profile: ProfileStrict})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "mail.sender-lab.net", Sent: true}, nil)
	if v.Action != ActionAccept {
		t.Errorf("action %s, failed %v", v.Action, failedChecks(v))
	}
	if r := result(v, CheckRDNS); r.Result != Skipped || r.Reason != reasonNoResolver {
		t.Errorf("rdns = %s (%s)", r.Result, r.Reason)
	}
}

func TestLiteralRejectAll(t *testing.T) {
	p := mustPolicy(t, Config{Checks: map[string]Action{CheckLiteral: ActionRejectAll}})
	v := p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "[192.0.2.7]", Sent: true}, nil)
	if r := result(v, CheckLiteral); r.Result != Fail || r.Action != ActionReject || r.Reason != "literal" {
		t.Errorf("literal = %s/%s (%s)", r.Result, r.Action, r.Reason)
	}
	if v.Refusal == nil || v.Refusal.Code != 550 {
		t.Errorf("refusal %v", v.Refusal)
	}
	p = mustPolicy(t, Config{Checks: map[string]Action{CheckLiteral: ActionOff}})
	v = p.Evaluate(context.Background(), Client{IP: netip.MustParseAddr("192.0.2.7"), HELO: "[192.168.1.1]", Sent: true}, nil)
	if v.Action != ActionAccept {
		t.Errorf("literal off: action %s, failed %v", v.Action, failedChecks(v))
	}
}

package heloguard

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // every line must appear in the error
	}{
		{name: "unknown profile", cfg: Config{Profile: "cpane"},
			want: []string{`helo.profile: unknown profile "cpane" (want cpanel, postfix, strict or monitor)`}},
		{name: "unknown stage", cfg: Config{Stage: "data"},
			want: []string{`helo.stage: unknown stage "data" (want helo, mail or rcpt)`}},
		{name: "unknown action", cfg: Config{Checks: map[string]Action{"fqdn": "rejct"}},
			want: []string{`helo.checks.fqdn: unknown action "rejct" (want reject, tempfail, tag or off)`}},
		{name: "reject_all outside literal", cfg: Config{Checks: map[string]Action{"fqdn": ActionRejectAll}},
			want: []string{`helo.checks.fqdn: unknown action "reject_all" (want reject, tempfail, tag or off)`}},
		{name: "unknown literal action", cfg: Config{Checks: map[string]Action{"literal": "accept"}},
			want: []string{`helo.checks.literal: unknown action "accept" (want reject, reject_all, tempfail, tag or off)`}},
		{name: "unknown check", cfg: Config{Checks: map[string]Action{"fqnd": ActionReject}},
			want: []string{`helo.checks.fqnd: unknown check (want one of required, syntax, fqdn,`}},
		{name: "deny_names is not a check", cfg: Config{Checks: map[string]Action{"deny_names": ActionReject}},
			want: []string{`helo.checks.deny_names: deny_names has no action`}},
		{name: "bad deny regexp", cfg: Config{DenyNames: []string{"ok.example.net", "*.example.net", "/(/"}},
			want: []string{`helo.deny_names[2]: invalid regexp "/(/"`}},
		{name: "bad allow name", cfg: Config{AllowNames: []string{"a b"}},
			want: []string{`helo.allow_names[0]: "a b" is not a name, a wildcard (*.example.com, .example.com) or a /regexp/`}},
		{name: "bad wildcard", cfg: Config{AllowNames: []string{"*.-x.net"}},
			want: []string{`helo.allow_names[0]: "*.-x.net": "-x.net" is not a domain name`}},
		{name: "unclosed regexp", cfg: Config{DenyNames: []string{"/ylmf"}},
			want: []string{`helo.deny_names[0]: regexp "/ylmf" lacks its closing '/'`}},
		{name: "bad reserved name", cfg: Config{ReservedTLDs: []string{"local", "lo cal"}},
			want: []string{`helo.reserved_tlds[1]: "lo cal" is not a domain name`}},
		{name: "bad big company", cfg: Config{BigCompanies: []string{"bank.example=mx..bank.example"}},
			want: []string{`helo.big_companies[0]: "bank.example=mx..bank.example": PTR domain "mx..bank.example" is not a domain name`}},
		{name: "invalid network", cfg: Config{TrustedNetworks: []netip.Prefix{{}}},
			want: []string{`helo.trusted_networks[0]: invalid network`}},
		{name: "every problem at once", cfg: Config{Profile: "x", Stage: "y", Checks: map[string]Action{"fqdn": "z", "syntax": "w"}, DenyNames: []string{"/(/"}},
			want: []string{"helo.profile:", "helo.stage:", "helo.checks.fqdn:", "helo.checks.syntax:", "helo.deny_names[0]:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPolicy(tc.cfg, testIdentity())
			if err == nil {
				t.Fatalf("no error, policy %+v", p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		profile string
		stage   Stage
		check   string
		action  Action
	}{
		{name: "default is cpanel", cfg: Config{}, profile: ProfileCPanel, stage: StageMail, check: CheckFQDN, action: ActionReject},
		{name: "cpanel tags DNS", cfg: Config{Profile: ProfileCPanel}, profile: ProfileCPanel, stage: StageMail, check: CheckFCrDNS, action: ActionTag},
		{name: "cpanel refuses foreign literals", cfg: Config{Profile: ProfileCPanel}, profile: ProfileCPanel, stage: StageMail, check: CheckLiteral, action: ActionReject},
		{name: "postfix at rcpt", cfg: Config{Profile: ProfilePostfix}, profile: ProfilePostfix, stage: StageRcpt, check: CheckFQDN, action: ActionReject},
		{name: "postfix accepts literals", cfg: Config{Profile: ProfilePostfix}, profile: ProfilePostfix, stage: StageRcpt, check: CheckLiteral, action: ActionOff},
		{name: "postfix defers unknown HELO host", cfg: Config{Profile: ProfilePostfix}, profile: ProfilePostfix, stage: StageRcpt, check: CheckForwardDNS, action: ActionTempfail},
		{name: "postfix defers unknown reverse", cfg: Config{Profile: ProfilePostfix}, profile: ProfilePostfix, stage: StageRcpt, check: CheckRDNS, action: ActionTempfail},
		{name: "strict rejects DNS", cfg: Config{Profile: ProfileStrict}, profile: ProfileStrict, stage: StageMail, check: CheckRDNSMatch, action: ActionReject},
		{name: "monitor only tags", cfg: Config{Profile: ProfileMonitor}, profile: ProfileMonitor, stage: StageMail, check: CheckSyntax, action: ActionTag},
		{name: "stage override", cfg: Config{Profile: ProfilePostfix, Stage: StageHELO}, profile: ProfilePostfix, stage: StageHELO, check: CheckFQDN, action: ActionReject},
		{name: "check override", cfg: Config{Checks: map[string]Action{CheckLiteral: ActionRejectAll}}, profile: ProfileCPanel, stage: StageMail, check: CheckLiteral, action: ActionRejectAll},
		{name: "not a check", cfg: Config{}, profile: ProfileCPanel, stage: StageMail, check: "nope", action: ActionOff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			if p.Profile() != tc.profile || p.Stage() != tc.stage || p.Action(tc.check) != tc.action {
				t.Errorf("profile %s stage %s %s=%s; want %s %s %s", p.Profile(), p.Stage(), tc.check, p.Action(tc.check), tc.profile, tc.stage, tc.action)
			}
		})
	}
}

func TestChecksList(t *testing.T) {
	got := Checks()
	want := []string{"required", "syntax", "fqdn", "bare_ip", "literal", "reserved", "self", "forward_dns",
		"forward_match", "rdns", "fcrdns", "rdns_match", "generic", "big_company", "changed"}
	if !slices.Equal(got, want) {
		t.Fatalf("Checks() = %v", got)
	}
	got[0] = "changed by caller"
	if Checks()[0] != "required" {
		t.Error("Checks returns the package's own slice")
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		helo    string
		want    bool
	}{
		{name: "exact", pattern: "ylmf-pc", helo: "YLMF-PC", want: true},
		{name: "exact with trailing dot", pattern: "mail.example.net", helo: "mail.example.net.", want: true},
		{name: "exact is not a suffix", pattern: "example.net", helo: "mail.example.net", want: false},
		{name: "star: a name under", pattern: "*.example.net", helo: "a.b.example.net", want: true},
		{name: "star: not the domain itself", pattern: "*.example.net", helo: "example.net", want: false},
		{name: "star: not a longer label", pattern: "*.example.net", helo: "badexample.net", want: false},
		{name: "dot: the domain itself", pattern: ".example.net", helo: "example.net", want: true},
		{name: "dot: a name under", pattern: ".example.net", helo: "mx.example.net", want: true},
		{name: "regexp, case-insensitive", pattern: "/^ylmf-pc$/", helo: "YLMF-PC", want: true},
		{name: "regexp on a name with bad syntax", pattern: "/_/", helo: "my_pc", want: true},
		{name: "regexp not matching", pattern: "/^ylmf/", helo: "mail.ylmf.net", want: false},
		{name: "literal", pattern: "[192.0.2.1]", helo: "[192.0.2.1]", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(tc.helo, nameKey(tc.helo)); got != tc.want {
				t.Errorf("match(%q) = %v", tc.helo, got)
			}
		})
	}
}

// TestProfileDefaults pins every profile's default action per check, as
// the profiles shipped before the checks became one table.
func TestProfileDefaults(t *testing.T) {
	want := map[string]string{
		ProfileCPanel:  "required=reject syntax=reject fqdn=reject bare_ip=reject literal=reject reserved=reject self=reject forward_dns=tag forward_match=tag rdns=tag fcrdns=tag rdns_match=tag generic=tag big_company=tag changed=tag",
		ProfilePostfix: "required=reject syntax=reject fqdn=reject bare_ip=reject literal=off reserved=reject self=reject forward_dns=tempfail forward_match=tag rdns=tempfail fcrdns=tag rdns_match=tag generic=tag big_company=tag changed=tag",
		ProfileStrict:  "required=reject syntax=reject fqdn=reject bare_ip=reject literal=reject reserved=reject self=reject forward_dns=reject forward_match=reject rdns=reject fcrdns=reject rdns_match=reject generic=reject big_company=reject changed=reject",
		ProfileMonitor: "required=tag syntax=tag fqdn=tag bare_ip=tag literal=tag reserved=tag self=tag forward_dns=tag forward_match=tag rdns=tag fcrdns=tag rdns_match=tag generic=tag big_company=tag changed=tag",
	}
	stage := map[string]Stage{ProfileCPanel: StageMail, ProfilePostfix: StageRcpt, ProfileStrict: StageMail, ProfileMonitor: StageMail}
	for _, name := range Profiles() {
		t.Run(name, func(t *testing.T) {
			p, err := NewPolicy(Config{Profile: name}, Identity{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range Checks() {
				got = append(got, c+"="+string(p.Action(c)))
			}
			if g := strings.Join(got, " "); g != want[name] {
				t.Errorf("actions\n got %s\nwant %s", g, want[name])
			}
			if p.Stage() != stage[name] {
				t.Errorf("stage = %s, want %s", p.Stage(), stage[name])
			}
		})
	}
}

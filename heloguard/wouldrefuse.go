package heloguard

import (
	"errors"
	"fmt"
	"strings"
)

// Profiles returns every profile name, in the order the would_refuse log
// field and the reports list them.
func Profiles() []string {
	return []string{ProfileCPanel, ProfilePostfix, ProfileStrict, ProfileMonitor}
}

// ProfileRefusal says which failed checks one profile would refuse a
// client for. Verdict.WouldRefuse holds one per profile that would.
type ProfileRefusal struct {
	Profile string   `json:"profile"`
	Stage   Stage    `json:"stage"`  // where that profile would refuse
	Checks  []string `json:"checks"` // in Results order
}

// profileView is one profile as the dry run sees it: its default actions
// with the operator's [helo.checks] overrides and stage applied, that is
// what the gateway would do if only helo.profile were changed.
type profileView struct {
	name    string
	stage   Stage
	actions []Action // indexed like checkTable
}

// profileViews builds the view of every profile from the validated
// overrides.
func profileViews(overrides map[check]Action, stage Stage) []profileView {
	names := Profiles()
	out := make([]profileView, 0, len(names))
	for _, n := range names {
		prof, _ := profileByName(n)
		v := profileView{name: n, stage: prof.stage, actions: prof.actions}
		if stage != "" {
			v.stage = stage
		}
		for c, a := range overrides {
			v.actions[c] = a
		}
		out = append(out, v)
	}
	return out
}

// wouldRefuse maps the results of one evaluation through every profile.
// The checks ran once, with the running policy's actions; a profile only
// maps each failure to its own action. A failure refuses under a profile
// whose action for the check is reject, reject_all or tempfail (a 4xx
// that never turns into a 2xx is a refusal too); deny_names refuses
// under every profile. A temperror is not counted: it defers, and the
// next attempt may pass. A check the running policy turns off made no
// query and has no result, so no profile is shown refusing on it.
func (p *Policy) wouldRefuse(v *Verdict) []ProfileRefusal {
	if v.Exempt != "" {
		return nil
	}
	var out []ProfileRefusal
	var buf []string // one backing array for every profile's checks
	for _, view := range p.views {
		start := len(buf)
		for _, r := range v.Results {
			if r.Result != Fail {
				continue
			}
			if r.Check == CheckDenyNames {
				buf = append(buf, r.Check)
				continue
			}
			c, ok := checkByName(r.Check)
			if !ok {
				continue
			}
			switch view.actions[c] {
			case ActionReject, ActionRejectAll, ActionTempfail:
				if buf == nil {
					buf = make([]string, 0, 4*len(v.Results))
				}
				buf = append(buf, r.Check)
			}
		}
		if len(buf) > start {
			if out == nil {
				out = make([]ProfileRefusal, 0, len(p.views))
			}
			out = append(out, ProfileRefusal{Profile: view.name, Stage: view.stage, Checks: buf[start:len(buf):len(buf)]})
		}
	}
	return out
}

// refusesNothing reports whether the policy can never refuse a HELO:
// every action is tag or off and there is no deny list (monitor as
// shipped).
func (p *Policy) refusesNothing() bool {
	if len(p.denyNames) > 0 {
		return false
	}
	for _, a := range p.actions {
		if a.strength() > 1 {
			return false
		}
	}
	return true
}

// RefusedChecks returns every check that at least one profile would
// refuse the client for, each once, in Results order: the checks whose
// fix the operator needs before switching.
func (v Verdict) RefusedChecks() []string {
	seen := map[string]bool{}
	for _, pr := range v.WouldRefuse {
		for _, c := range pr.Checks {
			seen[c] = true
		}
	}
	var out []string
	for _, r := range v.Results {
		if seen[r.Check] {
			out = append(out, r.Check)
			delete(seen, r.Check)
		}
	}
	return out
}

// FormatWouldRefuse renders the would_refuse log field:
// "cpanel:fqdn postfix:fqdn strict:fqdn,rdns", "" when no profile would
// refuse. ParseWouldRefuse reads it back.
func FormatWouldRefuse(list []ProfileRefusal) string {
	var b strings.Builder
	for i, pr := range list {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pr.Profile)
		b.WriteByte(':')
		b.WriteString(strings.Join(pr.Checks, ","))
	}
	return b.String()
}

// ParseWouldRefuse reads a would_refuse field written by
// FormatWouldRefuse. Profiles and checks it does not know are kept (a
// log written by a newer gateway); a field that is not of the form
// "profile:check,check ..." is an error. Stage is not in the field and
// stays empty.
func ParseWouldRefuse(s string) ([]ProfileRefusal, error) {
	var out []ProfileRefusal
	for _, item := range strings.Fields(s) {
		prof, checks, ok := strings.Cut(item, ":")
		if !ok || !isToken(prof) {
			return nil, fmt.Errorf("would_refuse: %q is not profile:checks", item)
		}
		pr := ProfileRefusal{Profile: prof}
		for _, c := range strings.Split(checks, ",") {
			if !isToken(c) {
				return nil, fmt.Errorf("would_refuse: %q has an empty or malformed check name", item)
			}
			pr.Checks = append(pr.Checks, c)
		}
		out = append(out, pr)
	}
	if len(out) == 0 && strings.TrimSpace(s) != "" {
		return nil, errors.New("would_refuse: malformed")
	}
	return out, nil
}

// isToken reports whether s is a profile or check name: lower-case
// letters, digits and underscores.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

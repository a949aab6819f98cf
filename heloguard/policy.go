package heloguard

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Identity is the gateway's own: its hostname, its addresses and its
// local domains. The self check refuses clients that claim them.
type Identity struct {
	Hostname string
	Addrs    []netip.Addr
	Domains  []string
}

// Config is the [helo] table of config.toml, decoded by the config
// package. NewPolicy validates it.
type Config struct {
	Profile         string            // "cpanel" (when ""), "postfix", "strict" or "monitor"
	Stage           Stage             // "" = the profile's stage
	Checks          map[string]Action // per-check overrides of the profile's actions
	TrustedNetworks []netip.Prefix    // exempt, results still computed
	Explain         bool              // put an explanatory line before the compatible reply text
	ReservedTLDs    []string          // nil = the built-in list (DefaultReservedTLDs)
	BigCompanies    []string          // nil = the built-in list (DefaultBigCompanies); "name" or "name=ptrdomain,..."
	AllowClients    []netip.Prefix    // exempt, no check evaluated
	AllowNames      []string          // patterns; exempt, no check evaluated
	DenyNames       []string          // patterns; refused outright
}

// The profiles.
const (
	ProfileCPanel  = "cpanel"
	ProfilePostfix = "postfix"
	ProfileStrict  = "strict"
	ProfileMonitor = "monitor"
)

// replyStyle says whose reply texts a profile sends.
type replyStyle uint8

const (
	repliesCPanel  replyStyle = iota // cPanel/Exim's one text for every check
	repliesPostfix                   // Postfix smtpd's text per check (checkDef.postfix)
)

// profileDef is a profile's own defaults; its action per check is the
// check's column in checkTable (checkDef.defaults).
type profileDef struct {
	name    string
	stage   Stage
	replies replyStyle
}

// profileTable is every profile, in the order Profiles lists them and
// checkDef.defaults is indexed. It is never written after
// initialization.
var profileTable = [...]profileDef{
	// cPanel/Exim: the syntax family and spoofing refused with one
	// reply at MAIL; everything that needs DNS only tagged.
	{name: ProfileCPanel, stage: StageMail, replies: repliesCPanel},
	// Postfix's smtpd_helo_restrictions as commonly deployed:
	// reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,
	// reject_unknown_helo_hostname and reject_unknown_reverse_client_hostname
	// (both 450 by default), evaluated at RCPT (smtpd_delay_reject).
	{name: ProfilePostfix, stage: StageRcpt, replies: repliesPostfix},
	// Every check refuses.
	{name: ProfileStrict, stage: StageMail, replies: repliesCPanel},
	// Every check only tags.
	{name: ProfileMonitor, stage: StageMail, replies: repliesCPanel},
}

// numProfiles is the number of profiles.
const numProfiles = len(profileTable)

// profile is a named set of defaults: the stage, an action per check and
// the replies.
type profile struct {
	name    string
	stage   Stage
	actions []Action // indexed like checkTable
	replies replyTable
}

// profileByName returns a profile's defaults, read from profileTable and
// checkTable.
func profileByName(name string) (profile, bool) {
	for i, def := range profileTable {
		if def.name != name {
			continue
		}
		p := profile{name: name, stage: def.stage, actions: make([]Action, numChecks), replies: cpanelReplies()}
		if def.replies == repliesPostfix {
			p.replies = postfixReplies()
		}
		for c := range checkTable {
			p.actions[c] = checkTable[c].defaults[i]
		}
		return p, true
	}
	return profile{}, false
}

// Policy is a validated HELO policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	profile      string
	stage        Stage
	actions      []Action // indexed like checkTable
	replies      replyTable
	explain      bool
	trusted      []netip.Prefix
	allowClients []netip.Prefix
	allowNames   []pattern
	denyNames    []pattern
	reserved     map[string]bool     // normalized names; a HELO equal to or under one is reserved
	big          map[string][]string // claimed domain -> the PTR domains its mail comes from
	hostname     string              // normalized
	domains      []string            // normalized
	addrs        []netip.Addr        // unmapped
	views        []profileView       // every profile with the overrides applied, for Verdict.WouldRefuse
}

// NewPolicy validates cfg and builds a Policy. The error joins every
// problem found, each naming its key path under helo.
func NewPolicy(cfg Config, id Identity) (*Policy, error) {
	var errs []error
	addf := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	name := cfg.Profile
	if name == "" {
		name = ProfileCPanel
	}
	prof, ok := profileByName(name)
	if !ok {
		addf("helo.profile: unknown profile %q (want cpanel, postfix, strict or monitor)", cfg.Profile)
		prof, _ = profileByName(ProfileCPanel)
	}
	p := &Policy{
		profile: prof.name,
		stage:   prof.stage,
		actions: prof.actions,
		replies: prof.replies,
		explain: cfg.Explain,
	}
	switch cfg.Stage {
	case "":
	case StageHELO, StageMail, StageRcpt:
		p.stage = cfg.Stage
	default:
		addf("helo.stage: unknown stage %q (want helo, mail or rcpt)", cfg.Stage)
	}

	keys := make([]string, 0, len(cfg.Checks))
	for k := range cfg.Checks {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same config always gives the same message
	overrides := map[check]Action{}
	for _, k := range keys {
		a := cfg.Checks[k]
		c, ok := checkByName(k)
		if !ok {
			if k == CheckDenyNames {
				addf("helo.checks.%s: deny_names has no action; list names in helo.deny_names", k)
			} else {
				addf("helo.checks.%s: unknown check (want one of %s)", k, strings.Join(Checks(), ", "))
			}
			continue
		}
		switch {
		case a == ActionReject || a == ActionTempfail || a == ActionTag || a == ActionOff:
			p.actions[c] = a
			overrides[c] = a
		case a == ActionRejectAll && checkTable[c].rejectAll:
			p.actions[c] = a
			overrides[c] = a
		case checkTable[c].rejectAll:
			addf("helo.checks.%s: unknown action %q (want reject, reject_all, tempfail, tag or off)", k, a)
		default:
			addf("helo.checks.%s: unknown action %q (want reject, tempfail, tag or off)", k, a)
		}
	}

	p.views = profileViews(overrides, cfg.Stage)

	p.trusted = validPrefixes("helo.trusted_networks", cfg.TrustedNetworks, addf)
	p.allowClients = validPrefixes("helo.allow_clients", cfg.AllowClients, addf)
	p.allowNames = compilePatterns("helo.allow_names", cfg.AllowNames, addf)
	p.denyNames = compilePatterns("helo.deny_names", cfg.DenyNames, addf)

	reserved := cfg.ReservedTLDs
	if reserved == nil {
		reserved = DefaultReservedTLDs()
	}
	p.reserved = make(map[string]bool, len(reserved))
	for i, r := range reserved {
		n, ok := normalizeDomain(strings.TrimPrefix(r, "."))
		if !ok {
			addf("helo.reserved_tlds[%d]: %q is not a domain name", i, r)
			continue
		}
		p.reserved[n] = true
	}

	big := cfg.BigCompanies
	if big == nil {
		big = DefaultBigCompanies()
	}
	p.big = make(map[string][]string, len(big))
	for i, entry := range big {
		claimed, ptrs, err := parseBigCompany(entry)
		if err != nil {
			addf("helo.big_companies[%d]: %v", i, err)
			continue
		}
		p.big[claimed] = ptrs
	}

	// The identity comes from settings the config package validated; a
	// name that is not a domain can never be claimed, so it is dropped.
	if n, ok := normalizeDomain(id.Hostname); ok {
		p.hostname = n
	}
	for _, d := range id.Domains {
		if n, ok := normalizeDomain(d); ok {
			p.domains = append(p.domains, n)
		}
	}
	for _, a := range id.Addrs {
		if a.IsValid() {
			p.addrs = append(p.addrs, a.Unmap())
		}
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func validPrefixes(key string, in []netip.Prefix, addf func(string, ...any)) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for i, pfx := range in {
		if !pfx.IsValid() {
			addf("%s[%d]: invalid network %q", key, i, pfx)
			continue
		}
		// An IPv4 client arrives unmapped; so must the prefix it is
		// compared with.
		if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		out = append(out, pfx.Masked())
	}
	return out
}

// Stage returns the SMTP command at which the policy refuses.
func (p *Policy) Stage() Stage { return p.stage }

// Profile returns the name of the profile the policy is built on.
func (p *Policy) Profile() string { return p.profile }

// Action returns the configured action of a check ("off" for a name that
// is not a check).
func (p *Policy) Action(check string) Action {
	c, ok := checkByName(check)
	if !ok {
		return ActionOff
	}
	return p.actions[c]
}

// inPrefixes reports whether a is in one of the networks.
func inPrefixes(a netip.Addr, list []netip.Prefix) bool {
	for _, pfx := range list {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// DefaultReservedTLDs returns the built-in reserved names: special-use
// names (RFC 6761: test, localhost, invalid, example; RFC 6762 local;
// RFC 7686 onion; RFC 8375 home.arpa; RFC 9476 alt), the RFC 2606 example
// second-level domains, and names private networks commonly use without
// owning them (ICANN SAC113 proposes internal for that purpose).
// localhost and localhost.localdomain are refused whatever the list says.
func DefaultReservedTLDs() []string {
	return []string{
		"localhost", "local", "test", "invalid", "example", "onion", "alt",
		"home.arpa", "example.com", "example.net", "example.org",
		"localdomain", "lan", "home", "internal", "corp", "intranet",
		"private", "localnet", "domain", "workgroup",
	}
}

package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/domain"
	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/heloguard"
)

// Validate checks every value and returns all problems at once, each
// naming its key path and what to write instead.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateTop(v)
	c.validateDNS(v)
	c.validateListeners(v)
	c.validateTLS(v)
	c.validateRelay(v)
	c.validateQueue(v)
	c.validateLimits(v)
	c.validateHELO(v)
	c.validateAuth(v)
	c.validateOps(v)
	c.validateState(v)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) addf(key, format string, args ...any) {
	v.errs = append(v.errs, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
}

// keyError is one problem with the value of key (a key path such as
// "listener[1].address"); Parse uses the key to find the line.
type keyError struct{ key, msg string }

func (e *keyError) Error() string { return e.key + ": " + e.msg }

func (c *Config) validateTop(v *validator) {
	if !IsDomain(c.Hostname) {
		v.addf("hostname", "%q is not a valid host name; write the gateway's public fully-qualified name, e.g. \"mx.example.com\"", c.Hostname)
	}
	hasMX := false
	for _, l := range c.Listeners {
		hasMX = hasMX || l.Kind == KindMX
	}
	if hasMX && len(c.LocalDomains) == 0 {
		v.addf("local_domains", "empty, but an mx listener needs the domains it accepts mail for, e.g. [\"example.com\"]")
	}
	for i, d := range c.LocalDomains {
		key := fmt.Sprintf("local_domains[%d]", i)
		if d == "*" {
			if !c.catchAllIsSafe() {
				v.addf(key, "\"*\" (accept mail for any domain) is only allowed for labs: every listener on a loopback address and relay.downstream a maildir: target; otherwise the gateway would be an open relay")
			}
			continue
		}
		// An internationalized name counts in its A-label form, the one
		// every comparison uses (domain.Normalize).
		if n, err := domain.Normalize(d); err != nil || !IsDomain(n) {
			v.addf(key, "%q is not a domain name; write it like \"example.com\" (or \"bücher.example\", or its A-label \"xn--bcher-kva.example\")", d)
		}
	}
}

// CatchAll reports whether local_domains is the lab wildcard "*".
func (c *Config) CatchAll() bool {
	for _, d := range c.LocalDomains {
		if d == "*" {
			return true
		}
	}
	return false
}

func (c *Config) catchAllIsSafe() bool {
	if !strings.HasPrefix(c.Relay.Downstream, "maildir:") || len(c.Relay.Routes) > 0 || len(c.Relay.DownstreamFallback) > 0 {
		return false
	}
	for _, l := range c.Listeners {
		host, _, err := net.SplitHostPort(l.Address)
		if err != nil {
			return false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.IsLoopback() {
			return false
		}
	}
	return true
}

func (c *Config) validateListeners(v *validator) {
	if len(c.Listeners) == 0 {
		v.addf("listener", "no [[listener]] configured; add one, e.g. name = \"mx\", address = \"0.0.0.0:25\", kind = \"mx\"")
	}
	names := map[string]int{}
	addrs := map[string]int{}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		if j, dup := names[l.Name]; dup {
			v.addf(key+".name", "%q is already the name of listener[%d]; names must be unique", l.Name, j)
		}
		names[l.Name] = i
		if err := checkHostPort(l.Address); err != nil {
			v.addf(key+".address", "%v", err)
		} else if j, dup := addrs[l.Address]; dup {
			v.addf(key+".address", "%q is already used by listener[%d]", l.Address, j)
		}
		addrs[l.Address] = i
		switch l.Kind {
		case KindMX, KindSubmission, KindSubmissions:
		default:
			v.addf(key+".kind", "%q is not a listener kind; want \"mx\", \"submission\" or \"submissions\"", l.Kind)
		}
		if l.ProxyProtocol && len(l.ProxyTrusted) == 0 {
			v.addf(key+".proxy_trusted", "empty, but proxy_protocol = true needs the load balancers' networks, e.g. [\"10.0.0.0/24\"]; PROXY headers from anyone else are refused")
		}
		if !l.ProxyProtocol && len(l.ProxyTrusted) > 0 {
			v.addf(key+".proxy_trusted", "set, but proxy_protocol is false; set proxy_protocol = true or remove proxy_trusted")
		}
		if l.AuthEnabled() && c.Auth.Backend == "local" && len(c.Auth.Users) == 0 && c.Auth.UsersFile == "" {
			v.addf(key, "offers AUTH but no users are configured; add [[auth.user]] entries, set auth.users_file, or set auth.backend = \"downstream\"")
		}
	}
}

func (c *Config) validateTLS(v *validator) {
	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.addf("tls", "cert_file and key_file go together; set both or neither")
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		v.addf("tls.min_version", "%q is not allowed; want \"1.2\" or \"1.3\"", t.MinVersion)
	}
}

func (c *Config) validateRelay(v *validator) {
	r := c.Relay
	if r.Downstream == "" {
		v.addf("relay.downstream", "empty; write where accepted mail goes, e.g. \"smtp://10.0.0.5:25\" or \"maildir:/var/mail/gateway\"")
	} else {
		checkDownstreams(v, "relay.downstream", r.Downstreams())
	}
	if !IsDomain(r.HeloName) {
		v.addf("relay.helo_name", "%q is not a valid host name", r.HeloName)
	}
	checkSource(v, "relay.source_address", r.SourceAddress)
	checkRelayTLS(v, "relay.tls", r.TLS)
	if r.MaxConnections < 1 || r.MaxIdle < 0 || r.MaxIdle > r.MaxConnections {
		v.addf("relay.max_idle", "want 0 ≤ max_idle ≤ max_connections (have %d and %d)", r.MaxIdle, r.MaxConnections)
	}
	seen := map[string]int{}
	for i, rt := range r.Routes {
		key := fmt.Sprintf("relay.route[%d]", i)
		d := strings.ToLower(strings.TrimSuffix(rt.Domain, "."))
		if !IsDomain(strings.TrimPrefix(d, ".")) {
			v.addf(key+".domain", "%q is not a domain; write \"example.org\" (or \".example.org\" for its subdomains)", rt.Domain)
		}
		if j, dup := seen[d]; dup {
			v.addf(key+".domain", "%q already has relay.route[%d]", rt.Domain, j)
		}
		seen[d] = i
		checkDownstreams(v, key+".downstream", rt.Downstreams())
		if rt.HeloName != "" && !IsDomain(rt.HeloName) {
			v.addf(key+".helo_name", "%q is not a valid host name", rt.HeloName)
		}
		checkSource(v, key+".source_address", rt.SourceAddress)
		if rt.TLS != "" {
			checkRelayTLS(v, key+".tls", rt.TLS)
		}
	}
}

// checkDownstreams validates a downstream or a failover list of them
// (named key[0], key[1] ... in errors); a URL given twice in a list is
// refused too.
func checkDownstreams(v *validator, key string, urls []string) {
	if len(urls) == 1 {
		if err := CheckDownstream(urls[0]); err != nil {
			v.addf(key, "%v", err)
		}
		return
	}
	seen := map[string]int{}
	for i, s := range urls {
		k := fmt.Sprintf("%s[%d]", key, i)
		u, err := ParseDownstream(s)
		if err != nil {
			v.addf(k, "%v", err)
			continue
		}
		if j, dup := seen[u.String()]; dup {
			v.addf(k, "%q is %s[%d] already; a failover list names each downstream once", MaskURLPasswords(s), key, j)
			continue
		}
		seen[u.String()] = i
	}
}

func checkRelayTLS(v *validator, key, s string) {
	switch downstream.TLSMode(s) {
	case downstream.TLSNone, downstream.TLSOpportunistic, downstream.TLSRequired:
	default:
		v.addf(key, "%q is not a TLS mode; want \"none\", \"opportunistic\" (STARTTLS when offered) or \"required\" (STARTTLS or fail); use smtps:// for implicit TLS", s)
	}
}

func checkSource(v *validator, key, s string) {
	if s == "" {
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		v.addf(key, "%q is not an IP address of this host", s)
	}
}

// CheckDownstream validates a downstream: smtp://host:port,
// smtps://host:port or maildir:PATH.
func CheckDownstream(s string) error {
	_, err := ParseDownstream(s)
	return err
}

// ParseDownstream parses a downstream with the configuration's rules (its
// host name rule, passwords masked in errors).
func ParseDownstream(s string) (downstream.URL, error) {
	return downstream.Parse(s, downstream.Rules{IsHost: IsDomain, Mask: MaskURLPasswords})
}

func checkHostPort(s string) error {
	_, _, err := downstream.SplitHostPort(s, IsDomain)
	return err
}

func (c *Config) validateDNS(v *validator) {
	if n := c.DNS.MaxInFlight; n < 0 {
		v.addf("dns.max_in_flight", "%d is negative; write how many DNS queries the gateway may have outstanding at once (default %d)", n, DefaultDNSMaxInFlight)
	}
}

func (c *Config) validateLimits(v *validator) {
	l := c.Limits
	switch l.BareLineEndings {
	case "reject", "normalize":
	default:
		v.addf("limits.bare_line_endings", "%q: want \"reject\" (refuse messages with bare CR or LF) or \"normalize\" (turn them into CRLF)", l.BareLineEndings)
	}
	switch l.NULBytes {
	case "reject", "strip":
	default:
		v.addf("limits.nul_bytes", "%q: want \"reject\" or \"strip\"", l.NULBytes)
	}
	pos := map[string]int64{
		"limits.max_message_bytes":      l.MaxMessageBytes,
		"limits.max_recipients":         int64(l.MaxRecipients),
		"limits.max_connections":        int64(l.MaxConnections),
		"limits.max_connections_per_ip": int64(l.MaxConnectionsPerIP),
		"limits.max_errors":             int64(l.MaxErrors),
		"limits.max_greetings":          int64(l.Greetings()),
		"limits.max_commands":           int64(l.MaxCommands),
	}
	for _, k := range sortedKeys(pos) {
		if pos[k] < 0 {
			v.addf(k, "%d is negative", pos[k])
		}
	}
	if l.ConnectionsPerMin < 0 || l.MessagesPerMin < 0 {
		v.addf("limits", "connections_per_minute and messages_per_minute must be 0 (off) or more")
	}
	if l.MaxLineLength < 512 {
		v.addf("limits.max_line_length", "%d is below 512, the command line length RFC 5321 §4.5.3.1.4 requires", l.MaxLineLength)
	}
	if n := l.DataLineLimit(); n < 0 || (n > 0 && n < 998) {
		v.addf("limits.max_data_line_length", "%d: want 0 (no limit) or at least 998, the line length RFC 5322 §2.1.1 allows every message", n)
	}
	if l.MaxConnectionsPerIP > l.MaxConnections {
		v.addf("limits.max_connections_per_ip", "%d is more than limits.max_connections (%d)", l.MaxConnectionsPerIP, l.MaxConnections)
	}
}

func (c *Config) validateHELO(v *validator) {
	h := c.HELO
	switch h.Profile {
	case heloguard.ProfileCPanel, heloguard.ProfilePostfix, heloguard.ProfileStrict, heloguard.ProfileMonitor:
	default:
		v.addf("helo.profile", "%q: want \"cpanel\", \"postfix\", \"strict\" or \"monitor\"", h.Profile)
	}
	switch h.Stage {
	case "", heloguard.StageHELO, heloguard.StageMail, heloguard.StageRcpt:
	default:
		v.addf("helo.stage", "%q: want \"helo\", \"mail\" or \"rcpt\"", h.Stage)
	}
}

func (c *Config) validateAuth(v *validator) {
	a := c.Auth
	switch a.Backend {
	case "local":
	case "downstream":
		ds := a.Downstream
		if ds == "" {
			ds = c.Relay.Downstream
		}
		if !strings.HasPrefix(ds, "smtp://") && !strings.HasPrefix(ds, "smtps://") {
			v.addf("auth.downstream", "auth.backend = \"downstream\" needs an smtp:// or smtps:// server to check passwords against (have %q)", MaskURLPasswords(ds))
		} else if err := CheckDownstream(ds); err != nil {
			v.addf("auth.downstream", "%v", err)
		}
	default:
		v.addf("auth.backend", "%q: want \"local\" or \"downstream\"", a.Backend)
	}
	for i, u := range a.Users {
		key := fmt.Sprintf("auth.user[%d]", i)
		if u.Name == "" {
			v.addf(key+".name", "empty; every user needs a name")
		}
		if u.PasswordHash == "" {
			v.addf(key+".password_hash", "empty; run \"gateway hash-password\" and paste its output here")
		}
	}
	if a.BlockAfter < a.DelayAfter {
		v.addf("auth.block_after", "%d is less than auth.delay_after (%d)", a.BlockAfter, a.DelayAfter)
	}
}

func (c *Config) validateOps(v *validator) {
	switch c.Log.Format {
	case "text", "json":
	default:
		v.addf("log.format", "%q: want \"text\" or \"json\"", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.addf("log.level", "%q: want \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
	if c.Metrics.Address != "" {
		if err := checkHostPort(c.Metrics.Address); err != nil {
			v.addf("metrics.address", "%v", err)
		}
	}
}

// IsDomain reports whether s is a host name as the config may write it:
// package domain's Host rule (LDH, upper case and one trailing dot
// allowed, 253 octets).
func IsDomain(s string) bool { return domain.Valid(s, domain.Host) }

func (c *Config) validateState(v *validator) {
	if d := c.ShutdownDelay.D(); d < 0 || d > 5*time.Minute {
		v.addf("shutdown_delay", "%v: want between 0 (off) and 5m; a few seconds more than the load balancer needs to see /readyz fail", d)
	}
	s := c.State
	if s.Redis == "" {
		if s.PasswordFile != "" {
			v.addf("state.password_file", "is set but state.redis is empty; set state.redis to the Redis URL, or remove password_file")
		}
		if s.CacheKeyFile != "" {
			v.addf("state.cache_key_file", "is set but state.redis is empty; set state.redis to the Redis URL the replicas share, or remove cache_key_file")
		}
		return
	}
	u, err := url.Parse(s.Redis)
	switch {
	case err != nil:
		v.addf("state.redis", "%v", err)
	case u.Scheme != "redis" && u.Scheme != "rediss":
		v.addf("state.redis", "%q: want redis://[user:password@]host:port/db or rediss://… (TLS)", s.Redis)
	case u.Host == "" || u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		v.addf("state.redis", "%q has no host; e.g. redis://127.0.0.1:6379/0", s.Redis)
	case u.RawQuery != "":
		v.addf("state.redis", "%q: URL options are not supported; use the [state] keys (timeout, password_file)", s.Redis)
	default:
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				v.addf("state.redis", "database %q is not a number; e.g. redis://127.0.0.1:6379/0", db)
			}
		}
	}
	if s.PasswordFile != "" {
		if _, err := os.ReadFile(s.PasswordFile); err != nil {
			v.addf("state.password_file", "cannot read it: %v", err)
		}
	}
	if s.CacheKeyFile != "" {
		if _, err := ReadCacheKey(s.CacheKeyFile); err != nil {
			v.addf("state.cache_key_file", "%v", err)
		}
	}
	if t := s.Timeout.D(); t < 0 || t > 5*time.Second {
		v.addf("state.timeout", "%v: want between 1ms and 5s (mail waits this long on a slow Redis before counting in the process; default 50ms)", t)
	}
	if strings.ContainsAny(s.KeyPrefix, " \t\r\n") {
		v.addf("state.key_prefix", "%q contains white space", s.KeyPrefix)
	}
}

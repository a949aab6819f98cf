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

	"github.com/smtpgateway/gateway/address"
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
		// every comparison uses (address.NormalizeDomain).
		if n, err := address.NormalizeDomain(d); err != nil || !IsDomain(n) {
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
	if !strings.HasPrefix(c.Relay.Downstream, "maildir:") || len(c.Relay.Routes) > 0 {
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
	} else if err := CheckDownstream(r.Downstream); err != nil {
		v.addf("relay.downstream", "%v", err)
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
		if err := CheckDownstream(rt.Downstream); err != nil {
			v.addf(key+".downstream", "%v", err)
		}
		if rt.HeloName != "" && !IsDomain(rt.HeloName) {
			v.addf(key+".helo_name", "%q is not a valid host name", rt.HeloName)
		}
		checkSource(v, key+".source_address", rt.SourceAddress)
		if rt.TLS != "" {
			checkRelayTLS(v, key+".tls", rt.TLS)
		}
	}
}

func checkRelayTLS(v *validator, key, s string) {
	switch s {
	case "none", "opportunistic", "required":
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
	const want = "want smtp://host:port, smtps://host:port or maildir:PATH"
	if strings.Contains(s, "://") && strings.Contains(s, "@") {
		// Credentials in the URL: the gateway never logs in to the
		// downstream, and the password must not be repeated back.
		return fmt.Errorf("%q: a user name or password in the URL is not supported (the gateway does not log in to the downstream; allow its address there instead); %s", MaskURLPasswords(s), want)
	}
	switch {
	case strings.HasPrefix(s, "maildir:"):
		if strings.TrimPrefix(s, "maildir:") == "" {
			return fmt.Errorf("%q has no path; %s", s, want)
		}
		return nil
	case strings.HasPrefix(s, "smtp://"), strings.HasPrefix(s, "smtps://"):
		hp := s[strings.Index(s, "://")+3:]
		if err := checkHostPort(hp); err != nil {
			return fmt.Errorf("%q: %v", s, err)
		}
		return nil
	}
	if !strings.Contains(s, "://") && checkHostPort(s) == nil {
		return fmt.Errorf("%q: unknown scheme; %s: did you mean \"smtp://%s\"?", s, want, s)
	}
	return fmt.Errorf("%q: unknown scheme; %s", s, want)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port; write it like \"0.0.0.0:25\" or \"[::]:587\"", s)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; write \"0.0.0.0%s\" to listen on every address", s, s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !IsDomain(host) {
		return fmt.Errorf("%q: %q is neither an IP address nor a host name", s, host)
	}
	return nil
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
	case "cpanel", "postfix", "strict", "monitor":
	default:
		v.addf("helo.profile", "%q: want \"cpanel\", \"postfix\", \"strict\" or \"monitor\"", h.Profile)
	}
	switch h.Stage {
	case "", "helo", "mail", "rcpt":
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

// IsDomain reports whether s is a syntactically valid host name (LDH
// labels of 1–63 octets, 255 in all; RFC 1035 §2.3.1, RFC 1123 §2.1).
func IsDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

func (c *Config) validateState(v *validator) {
	if d := c.ShutdownDelay.D(); d < 0 || d > 5*time.Minute {
		v.addf("shutdown_delay", "%v: want between 0 (off) and 5m; a few seconds more than the load balancer needs to see /readyz fail", d)
	}
	s := c.State
	if s.Redis == "" {
		if s.PasswordFile != "" {
			v.addf("state.password_file", "is set but state.redis is empty; set state.redis to the Redis URL, or remove password_file")
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
	if t := s.Timeout.D(); t < 0 || t > 5*time.Second {
		v.addf("state.timeout", "%v: want between 1ms and 5s (mail waits this long on a slow Redis before counting in the process; default 50ms)", t)
	}
	if strings.ContainsAny(s.KeyPrefix, " \t\r\n") {
		v.addf("state.key_prefix", "%q contains white space", s.KeyPrefix)
	}
}

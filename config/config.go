package config

import "github.com/smtpgateway/gateway/heloguard"

// Config is the whole configuration file. Every field carries the TOML key
// it is read from; config.toml.example documents each one.
type Config struct {
	Hostname        string   `toml:"hostname"`
	LocalDomains    []string `toml:"local_domains"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// ShutdownDelay keeps serving new connections this long after
	// SIGTERM while /readyz already says 503: a load balancer's health
	// check takes the replica out before its listeners close.
	ShutdownDelay Duration `toml:"shutdown_delay"`

	DNS       DNS        `toml:"dns"`
	Listeners []Listener `toml:"listener"`
	TLS       TLS        `toml:"tls"`
	Relay     Relay      `toml:"relay"`
	Queue     Queue      `toml:"queue"`
	Limits    Limits     `toml:"limits"`
	HELO      HELO       `toml:"helo"`
	Auth      Auth       `toml:"auth"`
	Log       Log        `toml:"log"`
	Metrics   Metrics    `toml:"metrics"`
	State     State      `toml:"state"`
}

// Kind is a listener's kind: the listener.kind key.
type Kind string

// Listener kinds.
const (
	KindMX          Kind = "mx"          // mail from anyone, for local_domains only
	KindSubmission  Kind = "submission"  // STARTTLS, then AUTH, then any domain (RFC 6409)
	KindSubmissions Kind = "submissions" // implicit TLS from the first byte (RFC 8314)
)

// DNS configures the resolver heloguard's checks use.
type DNS struct {
	Servers     []string `toml:"servers"`
	Timeout     Duration `toml:"timeout"`
	CacheSize   int      `toml:"cache_size"`
	MaxInFlight int      `toml:"max_in_flight"`
}

// Listener is one [[listener]] table: an address the gateway accepts SMTP on.
type Listener struct {
	Name              string   `toml:"name"`
	Address           string   `toml:"address"`
	Kind              Kind     `toml:"kind"`
	Auth              *bool    `toml:"auth"`
	AllowInsecureAuth bool     `toml:"allow_insecure_auth"`
	ProxyProtocol     bool     `toml:"proxy_protocol"`
	ProxyTrusted      []Prefix `toml:"proxy_trusted"`
}

// AuthEnabled reports whether AUTH is offered on the listener: always on
// submission listeners, on mx listeners only when the operator says so.
func (l Listener) AuthEnabled() bool {
	if l.Auth != nil {
		return *l.Auth
	}
	return l.Kind != KindMX
}

// TLS names the certificate the listeners present.
type TLS struct {
	CertFile   string `toml:"cert_file"`
	KeyFile    string `toml:"key_file"`
	MinVersion string `toml:"min_version"`
	// LegacyCiphers offers Go's default TLS 1.2 suites, CBC with
	// HMAC-SHA1 included, for very old clients; off: AEAD suites only.
	LegacyCiphers bool `toml:"legacy_ciphers"`
}

// Relay configures delivery to the downstream MTA.
type Relay struct {
	Downstream     string   `toml:"downstream,list"` // the first URL when the file gives a list; see DownstreamFallback
	Mode           string   `toml:"mode"`            // ModeProxy (default), ModeQueue, ModeHybrid
	HeloName       string   `toml:"helo_name"`
	SourceAddress  string   `toml:"source_address"`
	TLS            string   `toml:"tls"`
	TLSVerify      bool     `toml:"tls_verify"`
	TLSServerName  string   `toml:"tls_server_name"`
	CAFile         string   `toml:"ca_file"`
	ConnectTimeout Duration `toml:"connect_timeout"`
	CommandTimeout Duration `toml:"command_timeout"`
	DataTimeout    Duration `toml:"data_timeout"`
	MaxConnections int      `toml:"max_connections"`
	MaxIdle        int      `toml:"max_idle"`
	IdleTimeout    Duration `toml:"idle_timeout"`

	// Address forms that are classic relay tricks; refused unless allowed.
	AllowPercentHack     bool `toml:"allow_percent_hack"`
	AllowBangPath        bool `toml:"allow_bang_path"`
	AllowSourceRoute     bool `toml:"allow_source_route"`
	AllowQuotedAt        bool `toml:"allow_quoted_at"`
	AllowTrailingDot     bool `toml:"allow_trailing_dot"`
	AllowAddressLiterals bool `toml:"allow_address_literals"`

	Routes []Route `toml:"route"`

	// DownstreamFallback holds the URLs after the first when downstream
	// is a list (failover, tried in order). Downstreams returns them all.
	DownstreamFallback []string `toml:"-"`
}

// Route sends the recipients of one domain to another downstream. Empty
// optional fields inherit the [relay] values.
type Route struct {
	Domain        string `toml:"domain"`
	Downstream    string `toml:"downstream,list"` // the first URL of a list; see Relay.Downstream
	HeloName      string `toml:"helo_name"`
	SourceAddress string `toml:"source_address"`
	TLS           string `toml:"tls"`
	TLSVerify     *bool  `toml:"tls_verify"`
	TLSServerName string `toml:"tls_server_name"`

	DownstreamFallback []string `toml:"-"` // see Relay.DownstreamFallback
}

// Limits bounds what one client can make the gateway do.
type Limits struct {
	MaxMessageBytes     int64    `toml:"max_message_bytes"`
	MaxRecipients       int      `toml:"max_recipients"`
	BareLineEndings     string   `toml:"bare_line_endings"`
	NULBytes            string   `toml:"nul_bytes"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	ConnectionsPerMin   int      `toml:"connections_per_minute"`
	MessagesPerMin      int      `toml:"messages_per_minute"`
	CommandTimeout      Duration `toml:"command_timeout"`
	DataTimeout         Duration `toml:"data_timeout"`
	SessionTimeout      Duration `toml:"session_timeout"`
	MaxErrors           int      `toml:"max_errors"`
	MaxGreetings        *int     `toml:"max_greetings"` // nil: DefaultMaxGreetings; 0: off
	MaxCommands         int      `toml:"max_commands"`
	MaxLineLength       int      `toml:"max_line_length"`
	MaxDataLineLength   *int     `toml:"max_data_line_length"` // nil: the default; 0: off
	PregreetDelay       Duration `toml:"pregreet_delay"`
}

// DataLineLimit is limits.max_data_line_length: the longest line allowed
// inside DATA or BDAT, in bytes without CRLF; 0 means no limit.
func (l Limits) DataLineLimit() int {
	if l.MaxDataLineLength == nil {
		return DefaultMaxDataLineLength
	}
	return *l.MaxDataLineLength
}

// HELO is the [helo] table: the HELO/EHLO policy (see package heloguard).
type HELO struct {
	Profile         string                      `toml:"profile"`
	Stage           heloguard.Stage             `toml:"stage"`
	TrustedNetworks []Prefix                    `toml:"trusted_networks"`
	Explain         *bool                       `toml:"explain"`
	ReservedTLDs    []string                    `toml:"reserved_tlds"`
	BigCompanies    []string                    `toml:"big_companies"`
	AllowClients    []Prefix                    `toml:"allow_clients"`
	AllowNames      []string                    `toml:"allow_names"`
	DenyNames       []string                    `toml:"deny_names"`
	Checks          map[string]heloguard.Action `toml:"checks"`
}

// ExplainEnabled reports whether refusals carry the explanatory line
// (on unless switched off).
func (h HELO) ExplainEnabled() bool {
	return h.Explain == nil || *h.Explain
}

// Auth configures SMTP AUTH (RFC 4954) for the listeners that offer it.
type Auth struct {
	Backend       string   `toml:"backend"`
	UsersFile     string   `toml:"users_file"`
	Downstream    string   `toml:"downstream"`
	CacheTTL      Duration `toml:"cache_ttl"`
	AllowAuthzid  bool     `toml:"allow_authzid"`
	EnforceSender *bool    `toml:"enforce_sender"`
	// AllowNullSender lets an authenticated user send with the null
	// sender MAIL FROM:<> when enforce_sender is on (off by default; see
	// config.toml.example).
	AllowNullSender bool `toml:"allow_null_sender"`

	FailureWindow Duration `toml:"failure_window"`
	DelayAfter    int      `toml:"delay_after"`
	MaxDelay      Duration `toml:"max_delay"`
	BlockAfter    int      `toml:"block_after"`
	BlockTime     Duration `toml:"block_time"`

	Users []User `toml:"user"`
}

// SenderEnforced reports whether authenticated users may only use the
// envelope senders they own (on unless switched off).
func (a Auth) SenderEnforced() bool {
	return a.EnforceSender == nil || *a.EnforceSender
}

// User is one [[auth.user]] entry.
type User struct {
	Name         string   `toml:"name"`
	PasswordHash string   `toml:"password_hash"`
	Addresses    []string `toml:"addresses"`
}

// Log configures the log output.
type Log struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Address string `toml:"address"`
	// Pprof serves Go's /debug/pprof/ profiles on the same address: for
	// finding what a busy gateway spends its CPU on. Off by default (the
	// profiles reveal internals; keep the address private).
	Pprof bool `toml:"pprof"`
}

// Greetings is max_greetings with its default applied: the HELO/EHLO
// commands one connection may send, 0 for no limit.
func (l Limits) Greetings() int {
	if l.MaxGreetings == nil {
		return DefaultMaxGreetings
	}
	return *l.MaxGreetings
}

// Downstreams returns the downstream URLs of [relay], in the order they
// are tried: downstream, then its fallbacks.
func (r Relay) Downstreams() []string {
	return append([]string{r.Downstream}, r.DownstreamFallback...)
}

// Downstreams returns the downstream URLs of the route, in the order they
// are tried.
func (r Route) Downstreams() []string {
	return append([]string{r.Downstream}, r.DownstreamFallback...)
}

// State says where the abuse counters live ([state]): in this process
// (Redis ""), or in a Redis shared by every replica behind a load balancer.
type State struct {
	Redis        string   `toml:"redis"`          // "" or redis://[user:password@]host:port/db, rediss://…
	PasswordFile string   `toml:"password_file"`  // Redis password, instead of one in the URL
	KeyPrefix    string   `toml:"key_prefix"`     // prefix of every key (default "gateway:")
	Timeout      Duration `toml:"timeout"`        // per round trip before falling back (default 50ms)
	CacheKeyFile string   `toml:"cache_key_file"` // HMAC key shared by the replicas: the downstream AUTH success cache lives in Redis
}

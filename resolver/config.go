package resolver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Defaults applied by New to zero fields of Config.
const (
	// DefaultTimeout is the total budget of one lookup.
	DefaultTimeout = 2 * time.Second
	// DefaultMinTTL is the floor of cached positive TTLs.
	DefaultMinTTL = 30 * time.Second
	// DefaultMaxTTL is the ceiling of cached positive TTLs.
	DefaultMaxTTL = time.Hour
	// DefaultNegativeTTL is the ceiling of cached NXDOMAIN/NODATA TTLs.
	DefaultNegativeTTL = 5 * time.Minute
	// DefaultCacheSize is the number of (name, type) entries cached.
	DefaultCacheSize = 10000
	// DefaultMaxInFlight is the number of queries outstanding at once.
	DefaultMaxInFlight = 100
)

// FailureTTL is how long a temporary failure (SERVFAIL, REFUSED, timeout,
// network error, malformed answer) stays cached. It is short so that a
// transient fault heals within seconds, yet long enough that a burst of
// connections naming a broken domain does not hammer the upstream
// resolver; RFC 9520 §3.2 asks resolvers to cache resolution failures for
// at least one second for the same reason.
const FailureTTL = 5 * time.Second

// resolvConf is where the system resolver configuration lives on the
// platforms the gateway runs on.
const resolvConf = "/etc/resolv.conf"

// fallbackServer is used when resolv.conf is unreadable or lists no usable
// server, as the C library does (resolv.conf(5): "If no nameserver entries
// are present, the default is to use the name server on the local
// machine").
const fallbackServer = "127.0.0.1:53"

// Config holds the settings of a Resolver. The zero value is usable: it
// means the system's servers and the defaults above.
type Config struct {
	// Servers are the recursive servers to ask, in order: "192.0.2.1:53",
	// "[2001:db8::1]:53", or a bare address with port 53 implied. Empty
	// means the nameserver lines of /etc/resolv.conf, or 127.0.0.1:53 if
	// that file is unreadable or lists none.
	Servers []string

	// Timeout is the total budget of one lookup, across all attempts and
	// servers (default DefaultTimeout).
	Timeout time.Duration

	// MinTTL and MaxTTL clamp the TTL of positive answers in the cache
	// (defaults DefaultMinTTL, DefaultMaxTTL). The floor protects the
	// upstream from zero-TTL records; the ceiling bounds how long a
	// changed record can stay stale.
	MinTTL, MaxTTL time.Duration

	// NegativeTTL caps how long NXDOMAIN and NODATA answers are cached
	// (default DefaultNegativeTTL). The TTL itself comes from the SOA in
	// the authority section, per RFC 2308 §5, floored at MinTTL; without
	// an SOA, MinTTL is used.
	NegativeTTL time.Duration

	// CacheSize bounds the number of cached (name, type) entries (default
	// DefaultCacheSize); the least recently used entry is evicted first.
	CacheSize int

	// MaxInFlight bounds the queries outstanding at the servers at once,
	// across all callers (default DefaultMaxInFlight). A query that finds
	// them all taken waits a moment for one, then fails as a temporary
	// error (never cached): a flood of distinct names turns into prompt
	// temporary failures, not into unbounded traffic or an unbounded
	// queue. Cache hits and coalesced lookups take no slot.
	MaxInFlight int

	// Logger, if set, gets a "dns saturated" warning when queries fail
	// for want of a slot (at most one line per 10 seconds).
	Logger *slog.Logger

	// Observe, if set, is called once per (name, type) lookup when it
	// ends, with the query type ("A", "AAAA", "PTR", "MX"), the outcome
	// and the time the caller waited. Outcomes: "hit" (answered from the
	// cache, positive or negative), "coalesced" (shared another caller's
	// query), and for a query this caller sent: "miss" (an answer),
	// "nxdomain" (NXDOMAIN or NODATA), "servfail" (SERVFAIL, REFUSED or
	// another error rcode), "timeout", "error", "saturated" (not sent:
	// MaxInFlight queries were out). A caller whose context
	// ends reports "timeout" (deadline) or "error" (cancelled). It is
	// called without locks held and must be cheap and concurrency-safe.
	Observe func(qtype, outcome string, d time.Duration)
}

// settings is a validated Config with defaults applied.
type settings struct {
	servers                []string
	timeout                time.Duration
	minTTL, maxTTL, negTTL time.Duration
	cacheSize              int
	maxInFlight            int
	log                    *slog.Logger
	observe                func(qtype, outcome string, d time.Duration)
}

// validate applies defaults and reports every problem at once, each naming
// the field and the bad value.
func (cfg Config) validate() (settings, error) {
	s := settings{
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		minTTL:      orDefault(cfg.MinTTL, DefaultMinTTL),
		maxTTL:      orDefault(cfg.MaxTTL, DefaultMaxTTL),
		negTTL:      orDefault(cfg.NegativeTTL, DefaultNegativeTTL),
		cacheSize:   cfg.CacheSize,
		maxInFlight: cfg.MaxInFlight,
		log:         cfg.Logger,
		observe:     cfg.Observe,
	}
	if s.cacheSize == 0 {
		s.cacheSize = DefaultCacheSize
	}
	if s.maxInFlight == 0 {
		s.maxInFlight = DefaultMaxInFlight
	}
	var errs []error
	for i, raw := range cfg.Servers {
		addr, err := parseServer(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolver: Servers[%d]: %w", i, err))
			continue
		}
		s.servers = append(s.servers, addr)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timeout", cfg.Timeout},
		{"MinTTL", cfg.MinTTL},
		{"MaxTTL", cfg.MaxTTL},
		{"NegativeTTL", cfg.NegativeTTL},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("resolver: %s: negative duration %v", d.name, d.v))
		}
	}
	// A clamp given on one side only moves the defaulted side with it, so
	// that MaxTTL: 50ms alone means "cache for at most 50ms".
	switch {
	case s.minTTL <= s.maxTTL:
	case cfg.MinTTL == 0:
		s.minTTL = s.maxTTL
	case cfg.MaxTTL == 0:
		s.maxTTL = s.minTTL
	case cfg.MinTTL > 0 && cfg.MaxTTL > 0:
		errs = append(errs, fmt.Errorf("resolver: MinTTL %v exceeds MaxTTL %v", cfg.MinTTL, cfg.MaxTTL))
	}
	if cfg.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("resolver: CacheSize: negative size %d", cfg.CacheSize))
	}
	if cfg.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("resolver: MaxInFlight: negative count %d", cfg.MaxInFlight))
	}
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	if len(cfg.Servers) == 0 {
		s.servers = systemServers(resolvConf)
	}
	return s, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// parseServer turns "192.0.2.1", "192.0.2.1:5353", "2001:db8::1" or
// "[2001:db8::1]:53" into a dialable "host:port". Host names are refused:
// resolving the resolver's own address would need a resolver.
func parseServer(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("server %q: want an IP address with optional port, like 192.0.2.1:53 or [2001:db8::1]:53", s)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("server %q: port 0", s)
	}
	return ap.String(), nil
}

// systemServers reads the nameserver lines of a resolv.conf file. Lines it
// cannot use are skipped; if none is left, the local server is assumed.
func systemServers(path string) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return []string{fallbackServer}
	}
	var out []string
	for _, host := range cc.Servers {
		if addr, err := parseServer(net.JoinHostPort(host, cc.Port)); err == nil {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return []string{fallbackServer}
	}
	return out
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/address"
	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/domain"
	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/resolver"
	"github.com/smtpgateway/gateway/state"
)

// gwRuntime is what a configuration turns into: the values every other
// package receives. Building it is also the deepest validation there is,
// so check-config builds one too (without opening anything).
type gwRuntime struct {
	cfg      *config.Config
	env      *backend.Env
	resolver *resolver.Resolver
	router   *relay.Router
	certs    *certs
	warnings []string
}

// buildOptions: dryRun builds no downstream targets (check-config must not
// create Maildirs or dial anything).
type buildOptions struct {
	dryRun bool
	// reuseRouter keeps a router whose [relay] is unchanged across reloads,
	// so pooled downstream connections survive a SIGHUP.
	reuse *gwRuntime
	// observe, if set, hears the downstream pools' connection events
	// (dial, reuse, discard...), for the metrics.
	observe func(downstream, event string)
	// log, if set, gets the resolver's warnings ("dns saturated").
	log *slog.Logger
	// state, if set, is the Redis the abuse counters are shared through
	// ([state] redis); nil keeps them in this process.
	state *state.Redis
	rates *sharedRates // over state, made once
}

func build(cfg *config.Config, o buildOptions) (*gwRuntime, error) {
	built := &gwRuntime{cfg: cfg}
	var errs []error

	res, err := resolver.New(resolver.Config{
		Servers:     cfg.DNS.Servers,
		Timeout:     cfg.DNS.Timeout.D(),
		CacheSize:   cfg.DNS.CacheSize,
		MaxInFlight: cfg.DNS.MaxInFlight,
		Logger:      o.log,
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("dns: %w", err))
	}
	if o.reuse != nil && o.reuse.resolver != nil && reflect.DeepEqual(o.reuse.cfg.DNS, cfg.DNS) {
		// An unchanged [dns] keeps its resolver across a reload: its
		// cache, and one max_in_flight bound for the whole process
		// rather than one per generation of sessions.
		res = o.reuse.resolver
	}
	built.resolver = res

	id := identity(cfg)
	policy, err := heloguard.NewPolicy(heloguard.Config{
		Profile:         cfg.HELO.Profile,
		Stage:           cfg.HELO.Stage,
		Checks:          cfg.HELO.Checks,
		TrustedNetworks: config.Prefixes(cfg.HELO.TrustedNetworks),
		Explain:         cfg.HELO.ExplainEnabled(),
		ReservedTLDs:    cfg.HELO.ReservedTLDs,
		BigCompanies:    cfg.HELO.BigCompanies,
		AllowClients:    config.Prefixes(cfg.HELO.AllowClients),
		AllowNames:      cfg.HELO.AllowNames,
		DenyNames:       cfg.HELO.DenyNames,
	}, id)
	if err != nil {
		errs = append(errs, err)
	}

	authEnv, err := buildAuth(cfg, o.state)
	if err != nil {
		errs = append(errs, err)
	}
	if o.state != nil && authEnv.Limiter != nil {
		authEnv.Limiter = state.NewLimiter(o.state, limiterConfig(cfg))
	}

	c, warns, err := loadCerts(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	built.certs = c
	built.warnings = append(built.warnings, warns...)
	built.warnings = append(built.warnings, secretFileWarnings(cfg)...)

	if !o.dryRun && len(errs) == 0 {
		if o.reuse != nil && o.reuse.router != nil && sameRelay(o.reuse.cfg, cfg) {
			built.router = o.reuse.router
		} else {
			built.router, err = buildRouter(cfg, o.observe)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	local := map[string]bool{}
	postmaster := ""
	for _, d := range cfg.LocalDomains {
		if d != "*" {
			// Validated: an internationalized name becomes its A-label,
			// the form isLocal compares.
			d, _ = domain.Normalize(d)
			local[d] = true
			if postmaster == "" {
				postmaster = "postmaster@" + d
			}
		}
	}
	built.env = &backend.Env{
		Hostname:     cfg.Hostname,
		LocalDomains: local,
		CatchAll:     cfg.CatchAll(),
		Postmaster:   postmaster,
		HELO:         policy,
		Resolver:     res,
		Identity:     id,
		Trusted:      config.Prefixes(cfg.HELO.TrustedNetworks),
		Router:       built.router,
		Filter:       filterOptions(cfg.Limits),
		Address: address.Allow{
			PercentHack:    cfg.Relay.AllowPercentHack,
			BangPath:       cfg.Relay.AllowBangPath,
			SourceRoute:    cfg.Relay.AllowSourceRoute,
			QuotedAt:       cfg.Relay.AllowQuotedAt,
			TrailingDot:    cfg.Relay.AllowTrailingDot,
			AddressLiteral: cfg.Relay.AllowAddressLiterals,
		},
		Auth:           authEnv,
		MessagesPerMin: cfg.Limits.MessagesPerMin,
		MessageRate:    o.rates.messageRate(),
	}
	if cfg.CatchAll() {
		built.warnings = append(built.warnings, "local_domains = [\"*\"]: lab catch-all, mail for every domain is accepted (loopback listeners and a Maildir only)")
	}
	for _, l := range cfg.Listeners {
		if l.AllowInsecureAuth {
			built.warnings = append(built.warnings, fmt.Sprintf("listener %q: allow_insecure_auth = true: passwords may cross the network in plaintext; for labs only", l.Name))
		}
	}
	return built, nil
}

func filterOptions(l config.Limits) message.FilterOptions {
	o := message.FilterOptions{LineEndings: message.Reject, NUL: message.Reject, MaxLineLength: l.DataLineLimit()}
	if l.BareLineEndings == "normalize" {
		o.LineEndings = message.Normalize
	}
	if l.NULBytes == "strip" {
		o.NUL = message.Strip
	}
	return o
}

// identity is what heloguard's `self` check compares against: our name,
// our addresses and our domains.
func identity(cfg *config.Config) heloguard.Identity {
	id := heloguard.Identity{Hostname: cfg.Hostname}
	for _, d := range cfg.LocalDomains {
		if d != "*" {
			d, _ = domain.Normalize(d) // HELO names are ASCII: compare A-labels
			id.Domains = append(id.Domains, d)
		}
	}
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		a = a.Unmap()
		if a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !seen[a] {
			seen[a] = true
			id.Addrs = append(id.Addrs, a)
		}
	}
	wildcard := false
	for _, l := range cfg.Listeners {
		host, _, _ := net.SplitHostPort(l.Address)
		if a, err := netip.ParseAddr(host); err == nil {
			wildcard = wildcard || a.IsUnspecified()
			add(a)
		}
	}
	if wildcard {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					add(p.Addr())
				}
			}
		}
	}
	return id
}

// limiterConfig is [auth]'s brute-force limit.
func limiterConfig(cfg *config.Config) auth.LimiterConfig {
	a := cfg.Auth
	return auth.LimiterConfig{
		Window:     a.FailureWindow.D(),
		DelayAfter: a.DelayAfter,
		MaxDelay:   a.MaxDelay.D(),
		BlockAfter: a.BlockAfter,
		BlockFor:   a.BlockTime.D(),
	}
}

// st, when set, is [state] redis: with [state] cache_key_file the
// downstream success cache is shared through it.
func buildAuth(cfg *config.Config, st *state.Redis) (backend.AuthEnv, error) {
	a := cfg.Auth
	var env backend.AuthEnv
	needed := false
	for _, l := range cfg.Listeners {
		needed = needed || l.AuthEnabled()
	}
	if !needed {
		// Users nobody can log in as yet are still checked: a plain-text
		// password or a broken users file is refused now, not on the
		// day a submission listener is added.
		if a.Backend != "downstream" && (len(a.Users) > 0 || a.UsersFile != "") {
			if _, err := auth.NewStore(authUsers(a.Users), a.UsersFile); err != nil {
				return env, err
			}
		}
		return env, nil
	}
	env.AllowAuthzid = a.AllowAuthzid
	env.AllowNullSender = a.AllowNullSender
	env.Limiter = auth.NewLimiter(limiterConfig(cfg))
	switch a.Backend {
	case "downstream":
		ds := a.Downstream
		if ds == "" {
			ds = cfg.Relay.Downstream
		}
		u, err := config.ParseDownstream(ds)
		if err != nil {
			return env, fmt.Errorf("auth.downstream: %w", err)
		}
		mode := downstream.TLSNone
		switch {
		case u.Scheme == downstream.SMTPS:
			mode = downstream.TLSImplicit
		case cfg.Relay.TLS != string(downstream.TLSNone):
			mode = downstream.TLSRequired // opportunistic too: passwords never go in clear
		}
		roots, err := loadCAFile(cfg.Relay.CAFile)
		if err != nil {
			return env, err
		}
		// The same TLS settings as for relaying: credentials cross the
		// wire to the downstream, verified unless the operator said not.
		tc := &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            roots,
			ServerName:         cfg.Relay.TLSServerName,
			InsecureSkipVerify: !cfg.Relay.TLSVerify,
		}
		key, shared, err := sharedAuthCache(cfg, st)
		if err != nil {
			return env, err
		}
		v, err := auth.NewDownstream(auth.DownstreamConfig{
			Address:   u.Address(),
			TLS:       mode,
			TLSConfig: tc,
			HeloName:  cfg.Relay.HeloName,
			CacheTTL:  a.CacheTTL.D(),
			Timeout:   cfg.Relay.ConnectTimeout.D(),
			CacheKey:  key,
			Shared:    shared,
		})
		if err != nil {
			return env, fmt.Errorf("auth: %w", err)
		}
		env.Verifier = v
		if a.SenderEnforced() {
			// The downstream knows passwords, not addresses: a user whose
			// name is an address may send as that address only.
			env.Owns = func(user, addr string) bool { return auth.User{Name: user}.Owns(addr) }
		}
	default:
		store, err := auth.NewStore(authUsers(a.Users), a.UsersFile)
		if err != nil {
			return env, err
		}
		env.Verifier = store
		if a.SenderEnforced() {
			env.Owns = store.Owns
		}
	}
	return env, nil
}

// probeTimeout bounds the wait for the downstreams' EHLO at start.
const probeTimeout = 5 * time.Second

// probeDownstreams connects to the downstreams not reached yet, so that
// SMTPUTF8 and DSN are advertised from the first client on when every
// downstream offers them; pool connections keep that knowledge current.
// A downstream that does not answer within probeTimeout counts as
// offering neither until a connection to it succeeds.
func (s *server) probeDownstreams(r *relay.Router) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	r.Probe(ctx)
	ext := r.Extensions()
	s.log.Info("downstream extensions", "smtputf8", ext.SMTPUTF8, "dsn", ext.DSN)
}

func buildRouter(cfg *config.Config, observe func(downstream, event string)) (*relay.Router, error) {
	r := cfg.Relay
	def, err := buildTargets(cfg, r.Downstreams(), routeOverrides{observe: observe})
	if err != nil {
		return nil, fmt.Errorf("relay.downstream: %w", err)
	}
	var routes []relay.Route
	for i, rt := range r.Routes {
		t, err := buildTargets(cfg, rt.Downstreams(), routeOverrides{
			helo: rt.HeloName, source: rt.SourceAddress, tls: rt.TLS, verify: rt.TLSVerify, serverName: rt.TLSServerName,
			observe: observe,
		})
		if err != nil {
			return nil, fmt.Errorf("relay.route[%d].downstream: %w", i, err)
		}
		routes = append(routes, relay.Route{Domain: strings.ToLower(rt.Domain), Target: t})
	}
	return relay.NewRouter(def, routes)
}

type routeOverrides struct {
	helo, source, tls, serverName string
	verify                        *bool
	observe                       func(downstream, event string)
}

// buildTargets makes the target of a downstream, or of a failover list of
// them (relay.Failover).
func buildTargets(cfg *config.Config, urls []string, o routeOverrides) (relay.Target, error) {
	var members []relay.Target
	for _, ds := range urls {
		t, err := buildTarget(cfg, ds, o)
		if err != nil {
			return nil, err
		}
		members = append(members, t)
	}
	return relay.NewFailover(members...)
}

// buildTarget makes one downstream. Routes that name the same downstream
// with the same settings share one target (and its connection pool).
func buildTarget(cfg *config.Config, ds string, o routeOverrides) (relay.Target, error) {
	u, err := config.ParseDownstream(ds)
	if err != nil {
		return nil, err
	}
	if u.Scheme == downstream.Maildir {
		return relay.NewMaildir(u.Path)
	}
	r := cfg.Relay
	sc := relay.SMTPConfig{
		Address:        u.Address(),
		ImplicitTLS:    u.Scheme == downstream.SMTPS,
		StartTLS:       downstream.TLSMode(pick(o.tls, r.TLS)),
		TLSVerify:      r.TLSVerify,
		TLSServerName:  pick(o.serverName, r.TLSServerName),
		HeloName:       pick(o.helo, r.HeloName),
		SourceAddr:     pick(o.source, r.SourceAddress),
		ConnectTimeout: r.ConnectTimeout.D(),
		CommandTimeout: r.CommandTimeout.D(),
		DataTimeout:    r.DataTimeout.D(),
		MaxConns:       r.MaxConnections,
		MaxIdle:        r.MaxIdle,
		IdleTimeout:    r.IdleTimeout.D(),
	}
	if o.verify != nil {
		sc.TLSVerify = *o.verify
	}
	if o.observe != nil {
		name := u.String()
		sc.Observe = func(event string) { o.observe(name, event) }
	}
	if sc.RootCAs, err = loadCAFile(r.CAFile); err != nil {
		return nil, err
	}
	return relay.NewSMTP(sc)
}

// authUsers converts the [[auth.user]] entries.
func authUsers(cu []config.User) []auth.User {
	users := make([]auth.User, 0, len(cu))
	for _, u := range cu {
		users = append(users, auth.User{Name: u.Name, PasswordHash: u.PasswordHash, Addresses: u.Addresses})
	}
	return users
}

// loadCAFile reads [relay] ca_file (nil when unset: the system roots).
func loadCAFile(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("relay.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("relay.ca_file: %s holds no PEM certificate", file)
	}
	return pool, nil
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sameRelay(a, b *config.Config) bool {
	return reflect.DeepEqual(a.Relay, b.Relay)
}

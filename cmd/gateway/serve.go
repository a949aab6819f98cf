package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/listener"
	"github.com/smtpgateway/gateway/queue"
	"github.com/smtpgateway/gateway/state"
)

// server is the running gateway: its listeners and what they share.
type server struct {
	log        *slog.Logger
	configPath string
	current    atomic.Pointer[gwRuntime]
	env        *backend.Holder
	gate       *listener.Gate
	listeners  []*listener.Listener
	lconfs     []config.Listener // what each of listeners was started with
	// started is the configuration the gateway started with: what its
	// restart-only settings (listeners, hostname, ...) still are, however
	// many reloads came since.
	started *config.Config
	dnsFlag string // -dns, applied again on every reload
	servers []*smtp.Server
	metrics *metricsServer
	spool   *queue.Queue // queue and hybrid mode; nil in proxy mode
	// state is [state] redis as started (nil: counters in this process);
	// rates counts the per-minute limits through it.
	state *state.Redis
	rates *sharedRates
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: the embedded lab configuration)")
	dnsFlag := fs.String("dns", "", "DNS servers to use instead of [dns] servers, comma-separated (e.g. 127.0.0.1:53)")
	var lab labAddrs
	lab.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gateway [serve] [-config FILE | -mx ADDRESS -submission ADDRESS] [-dns SERVERS]")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "The other commands: gateway help")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := lab.check(*configPath); err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}

	cfg, labPass, err := loadConfigLab(*configPath, *dnsFlag, lab)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %s\n", config.MaskURLPasswords(err.Error()))
		return 1
	}
	log := newLogger(cfg.Log, stderr)

	s := &server{log: log, configPath: *configPath, started: cfg, dnsFlag: *dnsFlag}
	if s.state, err = openState(cfg, log); err != nil {
		fmt.Fprintf(stderr, "gateway: %s\n", config.MaskURLPasswords(err.Error()))
		return 1
	}
	if s.state != nil {
		defer s.state.Close()
	}
	s.rates = newSharedRates(s.state)
	running, err := build(cfg, buildOptions{observe: s.relayEvent, log: log, state: s.state, rates: s.rates})
	if err != nil {
		fmt.Fprintf(stderr, "gateway: configuration problems:\n%s\n", config.MaskURLPasswords(err.Error()))
		return 1
	}
	for _, w := range running.warnings {
		log.Warn(w)
	}
	for _, p := range placeholders(cfg) {
		log.Warn("placeholder from config.toml.example", "key", p.key, "value", p.value, "put", p.put)
	}
	if err := s.openSpool(cfg); err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 1
	}
	s.withSpool(running.env)
	s.env = backend.NewHolder(running.env)
	s.current.Store(running)
	s.gate = &listener.Gate{
		MaxConns:   cfg.Limits.MaxConnections,
		MaxPerIP:   cfg.Limits.MaxConnectionsPerIP,
		RatePerMin: cfg.Limits.ConnectionsPerMin,
	}
	if s.rates != nil {
		s.gate.SharedRate = s.rates.connections
	}
	// Subscribe before the first listener opens: a SIGHUP that arrives
	// once "listening" is logged (systemd's ExecReload, a test) must
	// reload, not end the process with Go's default action.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	if err := s.start(cfg); err != nil {
		log.Error("cannot start", "err", err)
		s.stopListeners()
		return 1
	}
	if s.spool != nil {
		s.spool.Start()
	}
	banner(stdout, cfg, labPass)
	return s.wait(sig)
}

// loadConfig reads the file at path, or makes the embedded lab default
// (with its generated password) when path is "", and applies the -dns
// flag's servers.
func loadConfig(path, dnsServers string) (cfg *config.Config, labPass string, err error) {
	return loadConfigLab(path, dnsServers, labAddrs{})
}

// loadConfigLab is loadConfig with the lab default's listeners on lab's
// addresses.
func loadConfigLab(path, dnsServers string, lab labAddrs) (cfg *config.Config, labPass string, err error) {
	if path == "" {
		cfg, labPass, err = labConfig(lab)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, "", err
	}
	if dnsServers != "" {
		cfg.DNS.Servers = strings.Split(dnsServers, ",")
	}
	return cfg, labPass, nil
}

// labAddrs are the -mx and -submission flags: the embedded default's
// listener addresses ("" for its own).
type labAddrs struct{ mx, submission string }

func (l *labAddrs) flags(fs *flag.FlagSet) {
	fs.StringVar(&l.mx, "mx", "", "address of the embedded default's mx listener, a loopback host:port (default "+config.LabMXAddress+"); not with -config")
	fs.StringVar(&l.submission, "submission", "", "address of the embedded default's submission listener, a loopback host:port (default "+config.LabSubmissionAddress+"); not with -config")
}

// check refuses the flags with a file (the file alone says where a
// configured gateway listens: check-config checks what serve runs, and a
// reload re-reads the same listeners) and on addresses other than
// loopback (the lab accepts mail for every domain).
func (l labAddrs) check(configPath string) error {
	for _, f := range []struct{ name, addr string }{{"mx", l.mx}, {"submission", l.submission}} {
		if f.addr == "" {
			continue
		}
		if configPath != "" {
			return fmt.Errorf("-%s sets an address of the embedded default and does not go with -config; write the address in %s", f.name, configPath)
		}
		host, port, err := net.SplitHostPort(f.addr)
		a, aerr := netip.ParseAddr(host)
		if err != nil || port == "" || aerr != nil || !a.IsLoopback() {
			return fmt.Errorf("-%s %q: the embedded default listens on loopback addresses only, e.g. 127.0.0.1:2525 (it accepts mail for every domain); for other addresses write a configuration file (\"gateway check-config\" prints this one to start from)", f.name, f.addr)
		}
	}
	return nil
}

// labConfig is the embedded default with a password generated for this run.
func labConfig(lab labAddrs) (*config.Config, string, error) {
	pass, hash, err := labPassword()
	if err != nil {
		return nil, "", err
	}
	cfg, err := config.EmbeddedAt(hash, lab.mx, lab.submission)
	return cfg, pass, err
}

// labPassword generates the lab user's password and its hash.
func labPassword() (pass, hash string, err error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	pass = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	hash, err = auth.HashPassword(pass, "bcrypt")
	return pass, hash, err
}

// start opens every listener; any failure stops the start.
func (s *server) start(cfg *config.Config) error {
	if cfg.Metrics.Address != "" {
		m, err := startMetrics(cfg.Metrics.Address, cfg.Metrics.Pprof, s)
		if err != nil {
			return err
		}
		s.metrics = m
	}
	// Before the listeners open, so the first EHLO reply already offers
	// what the downstreams take; after the metrics, so its dial counts.
	s.probeDownstreams(s.current.Load().router)
	for _, lc := range cfg.Listeners {
		// No TCP keepalive: every read has a timeout of its own
		// ([limits]), which ends dead sessions sooner, and that saves
		// four setsockopt calls per connection.
		ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", lc.Address)
		if err != nil {
			return fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		running := s.current.Load()
		var tlsFn func() *tls.Config
		if running.certs != nil {
			tlsFn = s.tlsConfig
		}
		be := backend.New(s.env, backend.Listener{
			Name:              lc.Name,
			Kind:              string(lc.Kind),
			AuthEnabled:       lc.AuthEnabled(),
			AllowInsecureAuth: lc.AllowInsecureAuth,
		}, s.log, s.metrics.backend())
		g := listener.New(ln, listener.Config{
			Name:           lc.Name,
			Kind:           string(lc.Kind),
			Hostname:       cfg.Hostname,
			TLS:            tlsFn,
			ImplicitTLS:    lc.Kind == config.KindSubmissions,
			Proxy:          lc.ProxyProtocol,
			ProxyTrusted:   config.Prefixes(lc.ProxyTrusted),
			Gate:           s.gate,
			PregreetDelay:  pregreet(lc, cfg.Limits),
			MaxLineLength:  cfg.Limits.MaxLineLength,
			MaxCommands:    cfg.Limits.MaxCommands,
			MaxErrors:      cfg.Limits.MaxErrors,
			MaxGreetings:   cfg.Limits.Greetings(),
			CommandTimeout: cfg.Limits.CommandTimeout.D(),
			DataTimeout:    cfg.Limits.DataTimeout.D(),
			SessionTimeout: cfg.Limits.SessionTimeout.D(),
			Logger:         s.log,
			OnRefuse:       s.metrics.refused,
			OnConnect:      s.metrics.connected,
			PTR:            s.lookupPTR,
			BeforeGreeting: func(c *listener.Conn) string { return be.MissingGreeting(c) },
			Advertise:      be.Advertises,
		})
		srv := backend.NewServer(be, backend.ServerOptions{
			Hostname:        cfg.Hostname,
			MaxMessageBytes: cfg.Limits.MaxMessageBytes,
			MaxRecipients:   cfg.Limits.MaxRecipients,
			WriteTimeout:    cfg.Limits.CommandTimeout.D(),
		})
		s.listeners = append(s.listeners, g)
		s.lconfs = append(s.lconfs, lc)
		s.servers = append(s.servers, srv)
		go srv.Serve(g)
		s.log.Info("listening", "listener", lc.Name, "kind", lc.Kind, "address", ln.Addr().String(), "tls", tlsFn != nil)
	}
	s.metrics.listenersUp(len(s.listeners))
	return nil
}

// pregreet applies [limits] pregreet_delay to mx listeners only:
// submission clients are people's mail programs, not bots.
func pregreet(l config.Listener, lim config.Limits) time.Duration {
	if l.Kind != config.KindMX {
		return 0
	}
	return lim.PregreetDelay.D()
}

func (s *server) tlsConfig() *tls.Config {
	return s.current.Load().certs.tlsConfig()
}

// wait serves until SIGTERM/SIGINT (drain, then exit 0) and reloads on
// SIGHUP.
func (s *server) wait(sig <-chan os.Signal) int {
	for v := range sig {
		if v == syscall.SIGHUP {
			s.reload()
			continue
		}
		s.log.Info("shutting down", "signal", v.String())
		s.shutdown()
		return 0
	}
	return 0
}

// reload re-reads the configuration; an invalid one is logged and the old
// one stays in force. Sessions already running keep their settings; new
// ones get the new, [limits] included. Listeners, hostname, log settings,
// the metrics address and pprof, max_message_bytes and max_recipients need
// a restart: a reload whose file differs from what runs in them says so
// (compared with the start, so reverting a change is silent again).
func (s *server) reload() {
	if s.configPath == "" {
		s.log.Warn("reload: running the embedded default, nothing to reload")
		return
	}
	cfg, _, err := loadConfig(s.configPath, s.dnsFlag)
	if err == nil {
		var next *gwRuntime
		next, err = build(cfg, buildOptions{reuse: s.current.Load(), observe: s.relayEvent, log: s.log, state: s.state, rates: s.rates})
		if err == nil {
			old := s.current.Load()
			if next.certs == nil {
				next.certs = old.certs // listeners started with TLS keep it
			}
			s.withSpool(next.env)
			s.current.Store(next)
			s.env.Store(next.env)
			if next.router != nil && next.router != old.router {
				go s.probeDownstreams(next.router)
			}
			if old.router != nil && old.router != next.router {
				// Sessions still using the old downstreams finish first.
				time.AfterFunc(cfg.Relay.DataTimeout.D()+time.Minute, func() { old.router.Close() })
			}
			s.applyLimits(cfg)
			for _, w := range next.warnings {
				s.log.Warn(w)
			}
			for _, k := range restartOnly(s.started, cfg) {
				s.log.Warn("reload: " + k + " changed; that takes effect at the next restart")
			}
			s.log.Info("reloaded", "config", s.configPath)
			return
		}
	}
	s.log.Error("reload failed; the previous configuration stays in force", "config", s.configPath, "err", oneLine(err))
}

// applyLimits hands a reloaded [limits] to the connection gate and the
// listeners: new connections get them, open ones keep theirs.
func (s *server) applyLimits(cfg *config.Config) {
	l := cfg.Limits
	s.gate.SetLimits(l.MaxConnections, l.MaxConnectionsPerIP, l.ConnectionsPerMin)
	for i, g := range s.listeners {
		g.SetLimits(listener.Limits{
			PregreetDelay:  pregreet(s.lconfs[i], l),
			MaxLineLength:  l.MaxLineLength,
			MaxCommands:    l.MaxCommands,
			MaxErrors:      l.MaxErrors,
			MaxGreetings:   l.Greetings(),
			CommandTimeout: l.CommandTimeout.D(),
			DataTimeout:    l.DataTimeout.D(),
			SessionTimeout: l.SessionTimeout.D(),
		})
	}
}

// restartOnly names the settings that differ between old (what runs) and
// cfg but are fixed while the gateway runs, so that a reload says so
// instead of pretending they changed.
func restartOnly(old, cfg *config.Config) []string {
	var out []string
	if !reflect.DeepEqual(old.Listeners, cfg.Listeners) {
		out = append(out, "[[listener]]")
	}
	if !reflect.DeepEqual(old.Queue, cfg.Queue) {
		out = append(out, "[queue]")
	}
	for _, d := range []struct {
		key      string
		old, new any
	}{
		{"hostname", old.Hostname, cfg.Hostname},
		{"relay.mode", old.Relay.Mode, cfg.Relay.Mode},
		{"limits.max_message_bytes", old.Limits.MaxMessageBytes, cfg.Limits.MaxMessageBytes},
		{"limits.max_recipients", old.Limits.MaxRecipients, cfg.Limits.MaxRecipients},
		{"log", old.Log, cfg.Log},
		{"metrics.address", old.Metrics.Address, cfg.Metrics.Address},
		{"metrics.pprof", old.Metrics.Pprof, cfg.Metrics.Pprof},
		{"state", old.State, cfg.State},
	} {
		if d.old != d.new {
			out = append(out, d.key)
		}
	}
	return out
}

// shutdown stops accepting, lets transactions in flight finish (up to
// shutdown_timeout), tells idle sessions 421 4.3.2, and never cuts a
// connection whose message the downstream may already hold.
func (s *server) shutdown() {
	running := s.current.Load()
	s.metrics.shuttingDown()
	if d := running.cfg.ShutdownDelay.D(); d > 0 {
		// /readyz says 503 now; keep serving until the load balancer
		// has seen it, so no connection it sends here is cut.
		s.log.Info("draining: unready, listeners stay open", "shutdown_delay", d)
		time.Sleep(d)
	}
	s.stopListeners()
	for _, l := range s.listeners {
		l.Drain()
	}
	deadline := time.Now().Add(running.cfg.ShutdownTimeout.D())
	for time.Now().Before(deadline) && s.open() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	// Past the deadline: cut what is left, except a final-dot exchange in
	// flight (bounded by the relay's data timeout).
	hard := time.Now().Add(running.cfg.Relay.DataTimeout.D())
	for s.open() > 0 && time.Now().Before(hard) {
		committing := false
		for _, l := range s.listeners {
			for _, c := range l.Conns() {
				if c.Committing() {
					committing = true
					continue
				}
				c.Close()
			}
		}
		if !committing {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
	}
	wg.Wait()
	s.stopSpool()
	if running.router != nil {
		running.router.Close()
	}
	if s.metrics != nil {
		s.metrics.close()
	}
	s.log.Info("stopped")
}

func (s *server) stopListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *server) open() int {
	n := 0
	for _, l := range s.listeners {
		n += len(l.Conns())
	}
	return n
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return config.MaskURLPasswords(strings.ReplaceAll(err.Error(), "\n", "; "))
}

var _ = errors.New

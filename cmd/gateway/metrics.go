package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/listener"
	"github.com/smtpgateway/gateway/metrics"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/resolver"
)

// metricsServer serves /metrics, /healthz and /readyz on [metrics]
// address. A nil *metricsServer is valid and does nothing.
type metricsServer struct {
	m    *metrics.Metrics
	http *http.Server
	s    *server

	dns dnsTotals

	mu       sync.Mutex
	checked  time.Time
	ready    error
	up       atomic.Int32 // listeners started (listenersUp)
	stopping atomic.Bool
}

// dnsTotals keeps the DNS counters monotonic across reloads: a reload
// builds a new resolver whose own counters start at zero.
type dnsTotals struct {
	mu   sync.Mutex
	last *resolver.Resolver
	base resolver.Stats
}

func (d *dnsTotals) stats(s *server) resolver.Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := s.current.Load().resolver
	if d.last != nil && d.last != cur {
		d.base = addStats(d.base, d.last.Stats())
	}
	d.last = cur
	return addStats(d.base, cur.Stats())
}

func addStats(a, b resolver.Stats) resolver.Stats {
	return resolver.Stats{
		Queries:     a.Queries + b.Queries,
		CacheHits:   a.CacheHits + b.CacheHits,
		CacheMisses: a.CacheMisses + b.CacheMisses,
		Coalesced:   a.Coalesced + b.Coalesced,
		Errors:      a.Errors + b.Errors,
		Timeouts:    a.Timeouts + b.Timeouts,
		Saturated:   a.Saturated + b.Saturated,
	}
}

func startMetrics(addr string, pprofOn bool, s *server) (*metricsServer, error) {
	ms := &metricsServer{m: metrics.New(), s: s}
	ms.m.Sessions(s.gate.Open)
	ms.m.DNS(func() metrics.DNSStats {
		st := ms.dns.stats(s)
		return metrics.DNSStats{Queries: st.Queries, CacheHits: st.CacheHits, Errors: st.Errors, Saturated: st.Saturated}
	}, func() int { return s.current.Load().resolver.Stats().InFlight })
	if s.spool != nil {
		ms.m.RegisterQueue(s.spool.Stats)
	}
	if st := s.state; st != nil {
		ms.m.State(func() metrics.StateStats {
			x := st.Stats()
			return metrics.StateStats{Up: x.Up, Fallbacks: x.Fallbacks, Outages: x.Outages}
		})
	}
	ms.m.Pools(func() []metrics.PoolStat {
		router := s.current.Load().router
		if router == nil {
			return nil
		}
		var out []metrics.PoolStat
		for _, t := range router.Targets() {
			members := []relay.Target{t}
			if f, ok := t.(*relay.Failover); ok {
				members = f.Members()
			}
			for _, t := range members {
				if p, ok := t.(interface{ PoolStats() (int, int) }); ok {
					open, idle := p.PoolStats()
					out = append(out, metrics.PoolStat{Downstream: t.Name(), Open: open, Idle: idle})
				}
			}
		}
		return out
	})

	mux := http.NewServeMux()
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(ms.m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ms.readiness(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.address: %w", err)
	}
	ms.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go ms.http.Serve(ln)
	s.log.Info("metrics listening", "address", ln.Addr().String())
	return ms, nil
}

// readiness: the listeners are up and every downstream answers (a TCP
// connect for smtp targets, a writable new/ for Maildirs). Cached for a
// second so that probes do not hammer the downstream.
func (ms *metricsServer) readiness(ctx context.Context) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if time.Since(ms.checked) < time.Second {
		return ms.ready
	}
	ms.checked = time.Now()
	ms.ready = ms.check(ctx)
	return ms.ready
}

func (ms *metricsServer) check(ctx context.Context) error {
	if ms.stopping.Load() {
		return errors.New("shutting down")
	}
	if ms.up.Load() == 0 {
		return errors.New("no listener is up")
	}
	if q := ms.s.spool; q != nil {
		// queue and hybrid mode take mail while the downstream is down:
		// ready while the spool has room.
		if err := q.Space(); err != nil {
			return fmt.Errorf("spool: %v", err)
		}
		return nil
	}
	cfg := ms.s.current.Load().cfg
	lists := [][]string{cfg.Relay.Downstreams()}
	for _, r := range cfg.Relay.Routes {
		lists = append(lists, r.Downstreams())
	}
	for _, list := range lists {
		// A failover list is ready when one of its downstreams is.
		var err error
		for _, t := range list {
			if err = checkDownstream(ctx, t); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkDownstream: a TCP connect for smtp targets, a writable new/ for
// Maildirs.
func checkDownstream(ctx context.Context, t string) error {
	u, err := config.ParseDownstream(t)
	if err != nil {
		return fmt.Errorf("downstream %s: %v", t, err)
	}
	if u.Scheme == downstream.Maildir {
		if err := writable(filepath.Join(u.Path, "new")); err != nil {
			return fmt.Errorf("downstream %s: %v", t, err)
		}
		return nil
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", u.Address())
	if err != nil {
		return fmt.Errorf("downstream %s unreachable: %v", t, err)
	}
	c.Close()
	return nil
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (ms *metricsServer) close() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ms.http.Shutdown(ctx)
}

// listenersUp tells readiness that the listeners accept connections.
func (ms *metricsServer) listenersUp(n int) {
	if ms != nil {
		ms.up.Store(int32(n))
	}
}

// shuttingDown makes /readyz fail at once, so that a load balancer stops
// sending new connections while the listeners drain.
func (ms *metricsServer) shuttingDown() {
	if ms != nil {
		ms.stopping.Store(true)
		ms.mu.Lock()
		ms.checked = time.Time{}
		ms.mu.Unlock()
	}
}

// relayEvent counts a downstream pool event (s.metrics is set before any
// session can cause one).
func (s *server) relayEvent(downstream, event string) {
	if s.metrics != nil {
		s.metrics.m.RelayEvent(downstream, event)
	}
}

func (ms *metricsServer) refused(listener, reason string) {
	if ms != nil {
		ms.m.ConnectionRefused(listener, reason)
	}
}

func (ms *metricsServer) connected(c *listener.Conn) {
	if ms != nil {
		ms.m.Connected(c.Listener())
	}
}

// backend returns the session observer (nil when metrics are off).
func (ms *metricsServer) backend() backend.Metrics {
	if ms == nil {
		return nil
	}
	return ms.m
}

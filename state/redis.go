package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultPrefix  = "gateway:"
	DefaultTimeout = 50 * time.Millisecond
	// probeEvery is how often a fallen-back store pings Redis to return.
	probeEvery = 500 * time.Millisecond
)

// Options configures a Redis store ([state] in the configuration).
type Options struct {
	URL      string        // redis://[user:password@]host:port/db or rediss://…
	Password string        // overrides the URL's password when not ""
	Prefix   string        // key prefix (default DefaultPrefix)
	Timeout  time.Duration // per round trip, dial included (default DefaultTimeout)
	Log      *slog.Logger
}

// ErrDown is returned while the store has fallen back to this process's
// counters (Redis slow or unreachable).
var ErrDown = errors.New("state: redis unavailable, counting in this process")

// Redis is the connection to the shared store, with its health: while a
// round trip fails, every user falls back to its in-process counters and a
// background ping waits for Redis to come back. Safe for concurrent use.
type Redis struct {
	c       *redis.Client
	prefix  string
	timeout time.Duration
	log     *slog.Logger

	up        atomic.Bool
	fallbacks atomic.Uint64 // operations answered by the in-process fallback
	outages   atomic.Uint64 // times Redis was found unavailable

	mu      sync.Mutex
	probing bool
	done    chan struct{}
	closed  bool
}

// ParseURL checks a [state] redis URL without connecting.
func ParseURL(url string) error {
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") {
		return errors.New(`must start with "redis://" or "rediss://"`)
	}
	_, err := redis.ParseURL(url)
	return err
}

// Open returns the store. It does not wait for Redis: when Redis cannot be
// reached now, the store starts in fallback (warned) and joins when Redis
// answers.
func Open(o Options) (*Redis, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("state: redis: %w", err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	opt.DialTimeout = o.Timeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	opt.MaxRetries = -1 // a retry would double the wait; the fallback is the retry
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // no CLIENT SETINFO: one round trip fewer, older servers
	r := &Redis{c: redis.NewClient(opt), prefix: o.Prefix, timeout: o.Timeout, log: o.Log, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 4*o.Timeout) // the first dial may be slower
	defer cancel()
	if err := r.c.Ping(ctx).Err(); err != nil {
		r.down(err)
	} else {
		r.up.Store(true)
	}
	return r, nil
}

// Close stops the background ping and closes the connections.
func (r *Redis) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.done)
	}
	r.mu.Unlock()
	return r.c.Close()
}

// Up reports whether counters are currently shared through Redis.
func (r *Redis) Up() bool { return r.up.Load() }

// Stats is what the metrics report.
type Stats struct {
	Up        bool
	Fallbacks uint64 // operations answered by the in-process counters
	Outages   uint64 // times Redis was found unavailable
}

// Stats returns the store's counters.
func (r *Redis) Stats() Stats {
	return Stats{Up: r.up.Load(), Fallbacks: r.fallbacks.Load(), Outages: r.outages.Load()}
}

// run does one round trip under the timeout. ErrDown (without trying)
// while the store has fallen back; any failure makes it fall back.
func (r *Redis) run(fn func(ctx context.Context) error) error {
	if !r.up.Load() {
		r.fallbacks.Add(1)
		return ErrDown
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		r.down(err)
		r.fallbacks.Add(1)
		return err
	}
	return nil
}

// down switches to the fallback, warns once per outage and starts the
// ping that brings the store back.
func (r *Redis) down(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.probing {
		return
	}
	r.up.Store(false)
	r.outages.Add(1)
	r.probing = true
	r.log.Warn("shared state: redis unavailable, counting in this process until it returns", "err", err)
	go r.probe()
}

func (r *Redis) probe() {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		err := r.c.Ping(ctx).Err()
		cancel()
		if err == nil {
			r.mu.Lock()
			r.probing = false
			r.up.Store(true)
			r.mu.Unlock()
			r.log.Info("shared state: redis is back, counters are shared again")
			return
		}
	}
}

func (r *Redis) key(parts ...string) string { return r.prefix + strings.Join(parts, ":") }

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/smtpgateway/gateway/backend"
	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/queue"
	"github.com/smtpgateway/gateway/relay"
)

// openSpool opens the spool of queue and hybrid mode (recovering what is
// on disk); nil in proxy mode. [relay] mode and [queue] are read at start
// only: a reload keeps them (restartOnly says so).
func (s *server) openSpool(cfg *config.Config) error {
	if !cfg.Relay.QueueEnabled() {
		return nil
	}
	q, err := queue.Open(queue.Options{
		Dir:          cfg.Queue.Dir,
		RetryMin:     cfg.Queue.RetryMin.D(),
		RetryMax:     cfg.Queue.RetryMax.D(),
		MaxAge:       cfg.Queue.MaxAge.D(),
		DelayWarning: cfg.Queue.DelayWarningD(),
		MaxBytes:     cfg.Queue.MaxBytes,
		MinFreeBytes: cfg.Queue.MinFree(),
		// Headroom for the largest message that can arrive: MAIL gets
		// 452 4.3.1 and /readyz turns unready before a write runs out of room.
		MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		Concurrency:     cfg.Queue.Concurrency,
		Hostname:        cfg.Hostname,
		Deliver:         &relay.Deliverer{Router: func() *relay.Router { return s.env.Load().Router }},
		Log:             s.log.With("component", "queue"),
	})
	if err != nil {
		return fmt.Errorf("queue.dir: %w", err)
	}
	s.spool = q
	return nil
}

// withSpool gives a freshly built Env the mode and spool the gateway
// started with.
func (s *server) withSpool(env *backend.Env) {
	cfg := s.started
	env.Mode = cfg.Relay.Mode
	env.VerifyCache = cfg.Queue.VerifyCache.D()
	if s.spool != nil {
		env.Spool = s.spool
	}
}

// stopSpool stops the runner after the listeners drained: deliveries in
// flight finish (bounded by the relay's data timeout).
func (s *server) stopSpool() {
	if s.spool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.started.Relay.DataTimeout.D()+5*time.Second)
	defer cancel()
	if err := s.spool.Stop(ctx); err != nil {
		s.log.Warn("queue runner stopped with deliveries in flight", "err", err)
	}
}

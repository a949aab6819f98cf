package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/state"
)

// openState connects to [state] redis, or returns nil when the counters
// stay in this process. An unreachable Redis is no error: the store starts
// in fallback and joins when Redis answers.
func openState(cfg *config.Config, log *slog.Logger) (*state.Redis, error) {
	sc := cfg.State
	if sc.Redis == "" {
		return nil, nil
	}
	o := state.Options{URL: sc.Redis, Prefix: sc.KeyPrefix, Timeout: sc.Timeout.D(), Log: log}
	if sc.PasswordFile != "" {
		b, err := os.ReadFile(sc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("state.password_file: %w", err)
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	r, err := state.Open(o)
	if err != nil {
		return nil, err
	}
	authCache := "shared"
	if sc.CacheKeyFile == "" {
		authCache = "per replica (no state.cache_key_file)"
	}
	log.Info("shared state", "redis", config.MaskURLPasswords(sc.Redis), "up", r.Up(), "auth_cache", authCache)
	return r, nil
}

// sharedAuthCache returns the key and store of the downstream AUTH
// success cache the replicas share: [state] cache_key_file and the Redis
// of [state] redis. Without both the cache stays in this process (nil,
// nil): a per-process random key, nothing in Redis.
func sharedAuthCache(cfg *config.Config, r *state.Redis) ([]byte, auth.SharedCache, error) {
	if r == nil || cfg.State.CacheKeyFile == "" {
		return nil, nil, nil
	}
	key, err := config.ReadCacheKey(cfg.State.CacheKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("state.cache_key_file: %w", err)
	}
	return key, state.AuthCache{R: r}, nil
}

// sharedRates counts connections_per_minute and messages_per_minute in
// Redis, with one in-process fallback for the life of the process.
type sharedRates struct{ rates state.RedisRates }

func newSharedRates(r *state.Redis) *sharedRates {
	if r == nil {
		return nil
	}
	return &sharedRates{rates: state.RedisRates{R: r, Local: &state.LocalRates{}}}
}

func (s *sharedRates) connections(ip netip.Addr, limit int) (bool, int) {
	return s.rates.Allow(state.KindConnections, ip, limit)
}

func (s *sharedRates) messages(ip netip.Addr, limit int) bool {
	ok, _ := s.rates.Allow(state.KindMessages, ip, limit)
	return ok
}

// messageRate is backend.Env.MessageRate: nil without a shared store.
func (s *sharedRates) messageRate() func(netip.Addr, int) bool {
	if s == nil {
		return nil
	}
	return s.messages
}

package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smtpgateway/gateway/auth"
)

// DefaultTicketTTL bounds how long a password check admitted by one
// replica holds its slot in Redis when the replica dies before resolving
// it (kill -9): after the delay plus this long the slot is free again.
const DefaultTicketTTL = 2 * time.Minute

// Limiter is auth.Limiter's contract (backend.Limiter: Blocked, Reserve
// and Ticket) kept in Redis, so every replica counts the same failures and
// checks in flight per client network. Each operation is one atomic script
// round trip. Local, a plain auth.Limiter of this process, counts this
// replica's own checks and failures too (every check holds a slot in
// both), so that when Redis turns slow or unreachable in the middle of a
// burst, the fallback already knows what this replica admitted: a
// replica never checks more than BlockAfter passwords per network and
// window, whatever Redis does; with Redis up, the replicas together don't.
//
// Times are the replicas' clocks (milliseconds since the epoch): keep
// them in sync (NTP), as for any log correlation.
type Limiter struct {
	R         *Redis
	Local     *auth.Limiter
	Cfg       auth.LimiterConfig // defaults filled in by NewLimiter
	TicketTTL time.Duration
}

// NewLimiter returns a Limiter over r with cfg's limits (the defaults of
// auth.NewLimiter filled in) and an in-process fallback.
func NewLimiter(r *Redis, cfg auth.LimiterConfig) *Limiter {
	if cfg.Window <= 0 {
		cfg.Window = auth.DefaultLimiterWindow
	}
	if cfg.DelayAfter <= 0 {
		cfg.DelayAfter = auth.DefaultLimiterDelayAfter
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = auth.DefaultLimiterMaxDelay
	}
	if cfg.BlockAfter <= 0 {
		cfg.BlockAfter = auth.DefaultLimiterBlockAfter
	}
	if cfg.BlockFor <= 0 {
		cfg.BlockFor = auth.DefaultLimiterBlockFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{R: r, Local: auth.NewLimiter(cfg), Cfg: cfg, TicketTTL: DefaultTicketTTL}
}

// netKey is the network a client address is counted under, as in
// auth.Limiter: an IPv4 address or an IPv6 /64. The braces are a Redis
// Cluster hash tag: both keys of a network live on one shard.
func netKey(ip netip.Addr) string {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return "{invalid}"
	}
	return "{" + p.String() + "}"
}

func (l *Limiter) keys(ip netip.Addr) []string {
	n := netKey(ip)
	return []string{l.R.key("auth", n), l.R.key("authq", n)}
}

func (l *Limiter) nowMS() int64 { return l.Cfg.Now().UnixMilli() }

// The hash KEYS[1] holds f (failures), last (ms of the latest failure) and
// until (ms a block ends, 0 for none); the sorted set KEYS[2] holds the
// checks in flight, scored by the time their slot lapses.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local h = redis.call('HMGET', KEYS[1], 'f', 'last', 'until')
local f = tonumber(h[1]) or 0
local last = tonumber(h[2]) or 0
local untl = tonumber(h[3]) or 0
if untl > 0 then
  if now < untl then return {-1, untl} end
  redis.call('DEL', KEYS[1]); f = 0
elseif f > 0 and now - last >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1]); f = 0
end
local n = f + redis.call('ZCARD', KEYS[2])
if n >= tonumber(ARGV[3]) then return {-2, n} end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
return {n, 0}
`)

var failureScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[4])
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'f', 'last', 'until')
local f = tonumber(h[1]) or 0
local last = tonumber(h[2]) or 0
local untl = tonumber(h[3]) or 0
if untl > 0 then
  if now < untl then return untl end
  f = 0
elseif now - last >= tonumber(ARGV[2]) then
  f = 0
end
f = f + 1
untl = 0
if f >= tonumber(ARGV[3]) then untl = now + tonumber(ARGV[5]) end
redis.call('HSET', KEYS[1], 'f', f, 'last', now, 'until', untl)
if untl > 0 then redis.call('PEXPIREAT', KEYS[1], untl) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return untl
`)

var successScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[2])
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untl == 0 or tonumber(ARGV[1]) >= untl then redis.call('DEL', KEYS[1]) end
return 0
`)

// Blocked implements backend.Limiter.
func (l *Limiter) Blocked(ip netip.Addr) time.Time {
	if until := l.Local.Blocked(ip); !until.IsZero() {
		return until
	}
	var until int64
	err := l.R.run(func(ctx context.Context) error {
		s, err := l.R.c.HGet(ctx, l.keys(ip)[0], "until").Result()
		if err != nil {
			return err
		}
		until, err = strconv.ParseInt(s, 10, 64)
		return err
	})
	if err != nil || until == 0 || l.nowMS() >= until {
		return time.Time{}
	}
	return time.UnixMilli(until)
}

// Reserve implements backend.Limiter: at most BlockAfter checks per
// network, failed or in flight, across every replica. The slot is taken
// in this process first: what this replica alone refuses is refused
// without a round trip, and a Redis failure falls back to a count that
// includes this replica's checks admitted through Redis.
func (l *Limiter) Reserve(ip netip.Addr) (auth.Ticket, time.Duration, error) {
	local, localDelay, err := l.Local.Reserve(ip)
	if err != nil {
		return nil, 0, err
	}
	id := ticketID()
	now := l.nowMS()
	var res []int64
	err = l.R.run(func(ctx context.Context) error {
		var err error
		res, err = reserveScript.Run(ctx, l.R.c, l.keys(ip), now, l.Cfg.Window.Milliseconds(), l.Cfg.BlockAfter, id,
			now+(l.Cfg.MaxDelay+l.TicketTTL).Milliseconds()).Int64Slice()
		return err
	})
	if err != nil || len(res) != 2 {
		return local, localDelay, nil
	}
	switch res[0] {
	case -1:
		local.Release()
		return nil, 0, &auth.BlockedError{Until: time.UnixMilli(res[1])}
	case -2:
		local.Release()
		return nil, 0, auth.ErrBusy
	}
	return &ticket{l: l, ip: ip, id: id, local: local}, max(localDelay, l.delay(int(res[0]))), nil
}

// delay is auth.Limiter's: 1s after DelayAfter, doubling, capped.
func (l *Limiter) delay(n int) time.Duration {
	n -= l.Cfg.DelayAfter
	if n < 0 {
		return 0
	}
	d := time.Second
	for ; n > 0 && d < l.Cfg.MaxDelay; n-- {
		d *= 2
	}
	return min(d, l.Cfg.MaxDelay)
}

func ticketID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ticket is one check admitted through Redis and, as every check, in
// Local. Both are resolved alike; when Redis fails at the end, Local's
// count stands (the slot in Redis lapses by itself).
type ticket struct {
	l     *Limiter
	ip    netip.Addr
	id    string
	local auth.Ticket
	once  sync.Once
}

func (t *ticket) Success() {
	t.once.Do(func() {
		t.local.Success()
		_ = t.l.R.run(func(ctx context.Context) error {
			return successScript.Run(ctx, t.l.R.c, t.l.keys(t.ip), t.l.nowMS(), t.id).Err()
		})
	})
}

func (t *ticket) Failure() (blockedUntil time.Time) {
	t.once.Do(func() {
		blockedUntil = t.local.Failure()
		var until int64
		err := t.l.R.run(func(ctx context.Context) error {
			var err error
			until, err = failureScript.Run(ctx, t.l.R.c, t.l.keys(t.ip), t.l.nowMS(), t.l.Cfg.Window.Milliseconds(),
				t.l.Cfg.BlockAfter, t.id, t.l.Cfg.BlockFor.Milliseconds()).Int64()
			return err
		})
		if err == nil && until > 0 {
			if u := time.UnixMilli(until); u.After(blockedUntil) {
				blockedUntil = u
			}
		}
	})
	return blockedUntil
}

func (t *ticket) Release() {
	t.once.Do(func() {
		t.local.Release()
		_ = t.l.R.run(func(ctx context.Context) error {
			return t.l.R.c.ZRem(ctx, t.l.keys(t.ip)[1], t.id).Err()
		})
	})
}

package state

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate kinds: the key part that keeps the counters apart.
const (
	KindConnections = "conn" // [limits] connections_per_minute
	KindMessages    = "msg"  // [limits] messages_per_minute
)

// Rates counts events per client address in one-minute windows that start
// at the address's first event, as a single gateway does.
type Rates interface {
	// Allow records an event of kind for ip and reports whether it is
	// within limit; an event over the limit is not counted. n is the
	// count before this event.
	Allow(kind string, ip netip.Addr, limit int) (ok bool, n int)
}

// maxRateEntries bounds LocalRates' memory, per kind.
const maxRateEntries = 100000

// LocalRates is Rates in this process. The zero value is ready.
type LocalRates struct {
	Now func() time.Time // nil: time.Now

	mu sync.Mutex
	m  map[string]*rateWin
}

type rateWin struct {
	start time.Time
	n     int
}

// Allow implements Rates.
func (l *LocalRates) Allow(kind string, ip netip.Addr, limit int) (bool, int) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	k := kind + " " + ip.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*rateWin{}
	}
	w := l.m[k]
	if w == nil || now.Sub(w.start) >= time.Minute {
		if w == nil && len(l.m) >= maxRateEntries {
			for key, v := range l.m {
				if now.Sub(v.start) >= time.Minute {
					delete(l.m, key)
				}
			}
			if len(l.m) >= maxRateEntries {
				return true, 0 // bounded memory beats counting a flood of addresses
			}
		}
		w = &rateWin{start: now}
		l.m[k] = w
	}
	if w.n >= limit {
		return false, w.n
	}
	w.n++
	return true, w.n - 1
}

// rateScript: GET, compare, INCR, expiry on the first event; one round trip
// and atomic, so replicas together admit at most limit events a window.
var rateScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, n} end
redis.call('INCR', KEYS[1])
if n == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
`)

// RedisRates is Rates shared through Redis, falling back to Local.
type RedisRates struct {
	R     *Redis
	Local *LocalRates
}

// Allow implements Rates.
func (s RedisRates) Allow(kind string, ip netip.Addr, limit int) (bool, int) {
	var res []int64
	err := s.R.run(func(ctx context.Context) error {
		var err error
		res, err = rateScript.Run(ctx, s.R.c, []string{s.R.key("rate", kind, ip.Unmap().String())}, limit, time.Minute.Milliseconds()).Int64Slice()
		return err
	})
	if err != nil || len(res) != 2 {
		return s.Local.Allow(kind, ip, limit)
	}
	return res[0] == 1, int(res[1])
}

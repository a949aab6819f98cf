package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig tunes a Limiter. Zero fields take the defaults shown.
type LimiterConfig struct {
	Window     time.Duration    // failures are forgotten after this long without a new one (default 10m)
	DelayAfter int              // failures allowed before delays start (default 3)
	MaxDelay   time.Duration    // cap of the doubling delay 1s, 2s, 4s… (default 8s)
	BlockAfter int              // failures that trigger a block (default 10)
	BlockFor   time.Duration    // block duration (default 30m)
	MaxEntries int              // clients tracked at most; the least recently failed go first (default 100000)
	Now        func() time.Time // clock for tests; nil means time.Now
}

// Limiter slows down and then blocks clients that keep failing to
// authenticate, per client network: an IPv4 address, or an IPv6 /64. A
// /64 is what one customer line or one host gets (RFC 6177, RFC 4291
// §2.5.4 interface identifiers), and the host may pick any address inside
// it (RFC 8981 temporary addresses), so counting single IPv6 addresses
// would give an attacker 2^64 fresh counters.
//
// Memory is bounded by MaxEntries; only failing clients take an entry.
// It is safe for concurrent use.
type Limiter struct {
	cfg LimiterConfig

	mu      sync.Mutex
	entries map[netip.Prefix]*list.Element // of *limiterEntry
	lru     *list.List                     // front: most recent failure
}

type limiterEntry struct {
	key          netip.Prefix
	failures     int
	last         time.Time // latest failure
	blockedUntil time.Time
}

// Limiter defaults (see LimiterConfig).
const (
	DefaultLimiterWindow     = 10 * time.Minute
	DefaultLimiterDelayAfter = 3
	DefaultLimiterMaxDelay   = 8 * time.Second
	DefaultLimiterBlockAfter = 10
	DefaultLimiterBlockFor   = 30 * time.Minute
	DefaultLimiterMaxEntries = 100000
)

// NewLimiter returns a Limiter with cfg, defaults filled in.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Window <= 0 {
		cfg.Window = DefaultLimiterWindow
	}
	if cfg.DelayAfter <= 0 {
		cfg.DelayAfter = DefaultLimiterDelayAfter
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultLimiterMaxDelay
	}
	if cfg.BlockAfter <= 0 {
		cfg.BlockAfter = DefaultLimiterBlockAfter
	}
	if cfg.BlockFor <= 0 {
		cfg.BlockFor = DefaultLimiterBlockFor
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultLimiterMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, entries: map[netip.Prefix]*list.Element{}, lru: list.New()}
}

// limiterKey maps a client address to the network it is counted under.
func limiterKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap() // ::ffff:192.0.2.1 from a dual-stack listener is IPv4
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // the invalid Addr: all such callers share one entry
	}
	return p
}

// Check is called before an authentication attempt. It returns how long
// to wait before checking the password (zero: at once), or a non-zero
// blockedUntil, in which case the caller refuses (421 4.7.0) and closes.
func (l *Limiter) Check(ip netip.Addr) (delay time.Duration, blockedUntil time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.lookup(limiterKey(ip), l.cfg.Now())
	if e == nil {
		return 0, time.Time{}
	}
	if !e.blockedUntil.IsZero() {
		return 0, e.blockedUntil
	}
	return l.delay(e.failures), time.Time{}
}

// delay is 1s after DelayAfter failures, doubling with each further one,
// capped at MaxDelay.
func (l *Limiter) delay(failures int) time.Duration {
	n := failures - l.cfg.DelayAfter
	if n < 0 {
		return 0
	}
	d := time.Second
	for ; n > 0 && d < l.cfg.MaxDelay; n-- {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

// Failure records a failed attempt. It returns a non-zero time when the
// client is now blocked, by this failure or an earlier one; a failure
// during a block does not extend it.
func (l *Limiter) Failure(ip netip.Addr) (blockedUntil time.Time) {
	now := l.cfg.Now()
	key := limiterKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.lookup(key, now)
	if e == nil {
		l.evict(now)
		e = &limiterEntry{key: key}
		l.entries[key] = l.lru.PushFront(e)
	} else {
		l.lru.MoveToFront(l.entries[key])
	}
	if !e.blockedUntil.IsZero() {
		return e.blockedUntil
	}
	e.failures++
	e.last = now
	if e.failures >= l.cfg.BlockAfter {
		e.blockedUntil = now.Add(l.cfg.BlockFor)
	}
	return e.blockedUntil
}

// Success forgets the failures of ip's network, so that a user who
// mistyped a password is not slowed down once it is right. An active
// block stays: Check refuses the attempts that could succeed during it.
func (l *Limiter) Success(ip netip.Addr) {
	key := limiterKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok && el.Value.(*limiterEntry).blockedUntil.IsZero() {
		l.remove(el)
	}
}

// Len returns the number of client networks being tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// lookup returns key's entry, or nil when there is none or it has
// expired (which removes it).
func (l *Limiter) lookup(key netip.Prefix, now time.Time) *limiterEntry {
	el, ok := l.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*limiterEntry)
	if l.expired(e, now) {
		l.remove(el)
		return nil
	}
	return e
}

// expired: a block has run out (the client starts afresh), or there was
// no failure for a whole Window.
func (l *Limiter) expired(e *limiterEntry, now time.Time) bool {
	if !e.blockedUntil.IsZero() {
		return !now.Before(e.blockedUntil)
	}
	return now.Sub(e.last) >= l.cfg.Window
}

// evict makes room for one entry: expired entries at the back first,
// then the least recently failed.
func (l *Limiter) evict(now time.Time) {
	for back := l.lru.Back(); back != nil && l.expired(back.Value.(*limiterEntry), now); back = l.lru.Back() {
		l.remove(back)
	}
	for l.lru.Len() >= l.cfg.MaxEntries {
		l.remove(l.lru.Back())
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*limiterEntry).key)
	l.lru.Remove(el)
}

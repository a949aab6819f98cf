package auth

import (
	"container/list"
	"errors"
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
// A password is checked only with a Ticket from Reserve, which counts the
// check as a failure until it is resolved: so parallel connections cannot
// have more passwords checked than BlockAfter (issue 12: admitting at the
// AUTH command let 44 checks through a limit of 10).
//
// Memory is bounded by MaxEntries; only failing clients take an entry
// (checks in flight are counted apart, one per connection at most). It is safe for concurrent use.
type Limiter struct {
	cfg LimiterConfig

	mu      sync.Mutex
	entries map[netip.Prefix]*list.Element // of *limiterEntry
	lru     *list.List                     // front: most recent failure
	// inflight counts the Tickets not yet resolved, per network. It is
	// bounded by the connections (one check at a time each), so it needs
	// no eviction, and it never evicts a failing network's entry.
	inflight map[netip.Prefix]int
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
	return &Limiter{cfg: cfg, entries: map[netip.Prefix]*list.Element{}, lru: list.New(), inflight: map[netip.Prefix]int{}}
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

// ErrBusy is Reserve's answer when BlockAfter password checks from the
// same network are already in flight: admitting one more could let a
// client past the block it is about to earn. The caller answers 454 4.7.0
// (try again later) without looking at the credentials.
var ErrBusy = errors.New("auth: too many authentication attempts in progress")

// BlockedError is Reserve's answer for a blocked network: the caller
// refuses (421 4.7.0) and closes without looking at the credentials.
type BlockedError struct{ Until time.Time }

func (e *BlockedError) Error() string {
	return "auth: too many authentication failures; blocked until " + e.Until.Format(time.RFC3339)
}

// Ticket is one admitted password check. One of its methods must be
// called when the check is over (later calls do nothing); until then the
// check counts toward BlockAfter as if it had failed.
type Ticket interface {
	// Success forgets the network's failures (a user who mistyped a
	// password is not slowed down once it is right). A block that
	// other checks earned meanwhile stays.
	Success()
	// Failure counts a wrong password. It returns a non-zero time when
	// the network is now blocked.
	Failure() (blockedUntil time.Time)
	// Release gives the slot back without counting anything: no
	// password was judged (the verifier could not tell, or the client
	// left during the delay).
	Release()
}

// Blocked returns when ip's network's block ends, or the zero time when it
// is not blocked. It takes no slot and no memory: it lets a blocked client
// be refused at the AUTH command, before it sends a password.
func (l *Limiter) Blocked(ip netip.Addr) (blockedUntil time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.lookup(limiterKey(ip), l.cfg.Now()); e != nil {
		return e.blockedUntil
	}
	return time.Time{}
}

// Reserve admits one password check for ip, atomically: at most
// BlockAfter checks per network are ever admitted between a clean slate
// and a block, however many connections ask at once, because a check in
// flight counts as a failure until its Ticket says otherwise. delay is how
// long to wait before checking the password (it grows with the failures
// and the checks in flight); the Ticket holds its slot while waiting. The
// error is a *BlockedError for a blocked network and ErrBusy when every
// slot is taken by checks in flight; then there is no Ticket and the
// password must not be checked.
//
// This is the one operation a shared store (e.g. across replicas) has to
// provide atomically: read failures and checks in flight, compare with
// BlockAfter, add one.
func (l *Limiter) Reserve(ip netip.Addr) (t Ticket, delay time.Duration, err error) {
	key := limiterKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	failures := 0
	if e := l.lookup(key, l.cfg.Now()); e != nil {
		if !e.blockedUntil.IsZero() {
			return nil, 0, &BlockedError{Until: e.blockedUntil}
		}
		failures = e.failures
	}
	n := failures + l.inflight[key]
	if n >= l.cfg.BlockAfter {
		return nil, 0, ErrBusy
	}
	l.inflight[key]++
	return &ticket{l: l, key: key}, l.delay(n), nil
}

// ticket is the Limiter's Ticket.
type ticket struct {
	l    *Limiter
	key  netip.Prefix
	once sync.Once
}

func (t *ticket) Success() {
	t.once.Do(func() {
		t.l.mu.Lock()
		defer t.l.mu.Unlock()
		t.l.release(t.key)
		t.l.success(t.key)
	})
}

func (t *ticket) Failure() (blockedUntil time.Time) {
	t.once.Do(func() {
		t.l.mu.Lock()
		defer t.l.mu.Unlock()
		t.l.release(t.key)
		blockedUntil = t.l.failure(t.key)
	})
	return blockedUntil
}

func (t *ticket) Release() {
	t.once.Do(func() {
		t.l.mu.Lock()
		defer t.l.mu.Unlock()
		t.l.release(t.key)
	})
}

// release gives back one slot of key's.
func (l *Limiter) release(key netip.Prefix) {
	if l.inflight[key] <= 1 {
		delete(l.inflight, key)
		return
	}
	l.inflight[key]--
}

// failure records a failed check. It returns a non-zero time when the
// network is now blocked, by this failure or an earlier one; a failure
// during a block (a check admitted before it) does not extend it.
func (l *Limiter) failure(key netip.Prefix) (blockedUntil time.Time) {
	now := l.cfg.Now()
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

// success forgets the failures of key's network, so that a user who
// mistyped a password is not slowed down once it is right. An active
// block stays.
func (l *Limiter) success(key netip.Prefix) {
	if el, ok := l.entries[key]; ok && el.Value.(*limiterEntry).blockedUntil.IsZero() {
		l.remove(el)
	}
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

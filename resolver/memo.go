package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// Lookuper is the DNS a Memo wraps: *Resolver, *net.Resolver and *Memo
// all satisfy it.
type Lookuper interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// The Lookupers the gateway combines must keep fitting.
var (
	_ Lookuper = (*Resolver)(nil)
	_ Lookuper = (*Memo)(nil)
	_ Lookuper = (*net.Resolver)(nil)
)

// MemoSize bounds the entries a Memo remembers. A session's checks need a
// handful (the client's PTR, its names' addresses); past the bound, a
// client that makes the gateway look up many names gets no memory and
// costs only the Resolver's cache.
const MemoSize = 64

// Memo is a per-SMTP-session view of a Lookuper: each (name, type) is
// looked up at most once for its lifetime, and the result, error included,
// is remembered, so every check in a session sees the same DNS even if a
// TTL expires or an answer changes mid-session. Concurrent callers for the
// same key wait for the first. Entries do not expire (a session is short)
// but are bounded by MemoSize. A zero Memo is not usable; use NewMemo.
type Memo struct {
	r     Lookuper
	mu    sync.Mutex
	calls map[memoKey]*memoCall
}

type memoKind uint8

const (
	memoIP memoKind = iota
	memoPTR
	memoMX
)

type memoKey struct {
	kind memoKind
	name string
}

// memoCall is one remembered lookup; val and err are set before done is
// closed. retry means the first caller's context ended, which says nothing
// about DNS, so it is not remembered and waiters try again.
type memoCall struct {
	done  chan struct{}
	val   any
	err   error
	retry bool
}

// NewMemo returns an empty Memo over r.
func NewMemo(r Lookuper) *Memo {
	return &Memo{r: r, calls: make(map[memoKey]*memoCall)}
}

// LookupIPAddr is the wrapped Lookuper's LookupIPAddr, asked once per host.
func (m *Memo) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return memoize(m, ctx, memoKey{memoIP, memoName(host)}, host, m.r.LookupIPAddr, cloneIPAddrs)
}

// LookupAddr is the wrapped Lookuper's LookupAddr, asked once per address.
func (m *Memo) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	name := addr
	if ip, err := netip.ParseAddr(addr); err == nil {
		name = ip.String()
	}
	return memoize(m, ctx, memoKey{memoPTR, name}, addr, m.r.LookupAddr, cloneStrings)
}

// LookupMX is the wrapped Lookuper's LookupMX, asked once per name.
func (m *Memo) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return memoize(m, ctx, memoKey{memoMX, memoName(name)}, name, m.r.LookupMX, cloneMXs)
}

// memoName folds the spellings of one name into one key.
func memoName(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return lower(s)
}

// memoize runs lookup for k at most once and hands every caller its own
// copy of the result, so no caller can change what another sees.
func memoize[T any](m *Memo, ctx context.Context, k memoKey, arg string,
	lookup func(context.Context, string) (T, error), clone func(T) T) (T, error) {
	var zero T
	for {
		m.mu.Lock()
		c, ok := m.calls[k]
		if !ok {
			if len(m.calls) >= MemoSize {
				m.mu.Unlock()
				return lookup(ctx, arg)
			}
			c = &memoCall{done: make(chan struct{})}
			m.calls[k] = c
			m.mu.Unlock()
			return lead(m, ctx, k, c, arg, lookup, clone)
		}
		m.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return zero, ctxError(ctx.Err(), arg)
		}
		if c.retry {
			continue
		}
		v, _ := c.val.(T)
		return clone(v), c.err
	}
}

// lead runs the lookup for the first caller of k and publishes it. The
// publish is deferred so that it also happens if lookup panics, and
// waiters never hang.
func lead[T any](m *Memo, ctx context.Context, k memoKey, c *memoCall, arg string,
	lookup func(context.Context, string) (T, error), clone func(T) T) (v T, err error) {
	published := false
	defer func() {
		m.mu.Lock()
		if !published || err != nil && ctx.Err() != nil {
			delete(m.calls, k)
			c.retry = true
		} else {
			c.val, c.err = v, err
		}
		m.mu.Unlock()
		close(c.done)
		if published {
			v = clone(v)
		}
	}()
	v, err = lookup(ctx, arg)
	published = true
	return v, err
}

func cloneIPAddrs(in []net.IPAddr) []net.IPAddr {
	if in == nil {
		return nil
	}
	out := make([]net.IPAddr, len(in))
	for i, a := range in {
		out[i] = net.IPAddr{IP: append(net.IP(nil), a.IP...), Zone: a.Zone}
	}
	return out
}

func cloneStrings(in []string) []string {
	if in == nil {
		return nil
	}
	return append([]string(nil), in...)
}

func cloneMXs(in []*net.MX) []*net.MX {
	if in == nil {
		return nil
	}
	out := make([]*net.MX, len(in))
	for i, mx := range in {
		if mx != nil {
			c := *mx
			out[i] = &c
		}
	}
	return out
}

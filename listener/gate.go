package listener

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Gate counts connections across every listener that shares it and admits
// or refuses new ones: a total cap, a per-address cap and a per-address
// rate per minute (0 switches a limit off).
type Gate struct {
	MaxConns   int
	MaxPerIP   int
	RatePerMin int
	Now        func() time.Time // nil: time.Now
	// SharedRate, if set, counts RatePerMin instead of the Gate's own
	// table: the counter replicas share ([state] redis). It reports
	// whether one more connection from ip is within limit, and the count
	// before it. It is called without the Gate's lock held (it may wait
	// on the network), before the other limits.
	SharedRate func(ip netip.Addr, limit int) (ok bool, n int)

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	rate  map[netip.Addr]*window
}

type window struct {
	start time.Time
	n     int
}

// maxRateEntries bounds the rate table; beyond it, expired windows are
// swept before a new address is added.
const maxRateEntries = 100000

// Admit records a new connection from ip. When it returns a non-empty
// reason the connection must be refused and Release must not be called.
// detail is a sentence for the client and the log.
func (g *Gate) Admit(ip netip.Addr) (reason, detail string) {
	if g.SharedRate != nil {
		g.mu.Lock()
		limit := g.RatePerMin
		g.mu.Unlock()
		if limit > 0 {
			if ok, n := g.SharedRate(ip, limit); !ok {
				return "connection_rate", fmt.Sprintf("%s opened %d connections within a minute, the limit", ip, n)
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perIP == nil {
		g.perIP = map[netip.Addr]int{}
		g.rate = map[netip.Addr]*window{}
	}
	if g.MaxConns > 0 && g.total >= g.MaxConns {
		return "max_connections", fmt.Sprintf("the server has %d connections open, its limit", g.total)
	}
	if g.MaxPerIP > 0 && g.perIP[ip] >= g.MaxPerIP {
		return "max_connections_per_ip", fmt.Sprintf("%s already has %d connections open, the limit per address", ip, g.perIP[ip])
	}
	if g.RatePerMin > 0 && g.SharedRate == nil {
		now := g.now()
		w := g.rate[ip]
		if w == nil || now.Sub(w.start) >= time.Minute {
			if w == nil && len(g.rate) >= maxRateEntries {
				g.sweep(now)
			}
			w = &window{start: now}
			if len(g.rate) < maxRateEntries {
				g.rate[ip] = w
			}
		}
		if w.n >= g.RatePerMin {
			return "connection_rate", fmt.Sprintf("%s opened %d connections within a minute, the limit", ip, w.n)
		}
		w.n++
	}
	g.total++
	g.perIP[ip]++
	return "", ""
}

// SetLimits changes the limits for connections admitted from now on (a
// configuration reload); connections already open stay. Use it instead of
// writing the fields once the Gate is in use.
func (g *Gate) SetLimits(maxConns, maxPerIP, ratePerMin int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.MaxConns, g.MaxPerIP, g.RatePerMin = maxConns, maxPerIP, ratePerMin
}

// Release records the end of a connection Admit accepted.
func (g *Gate) Release(ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.perIP[ip] <= 1 {
		delete(g.perIP, ip)
	} else {
		g.perIP[ip]--
	}
}

// Open returns the number of connections currently admitted.
func (g *Gate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

func (g *Gate) sweep(now time.Time) {
	for ip, w := range g.rate {
		if now.Sub(w.start) >= time.Minute {
			delete(g.rate, ip)
		}
	}
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

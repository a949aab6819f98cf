package backend

import (
	"net/netip"
	"sync"
	"time"
)

// rateWindow counts events per client address in one-minute windows.
type rateWindow struct {
	mu sync.Mutex
	m  map[netip.Addr]*minute
}

type minute struct {
	start time.Time
	n     int
}

const maxRateEntries = 100000

func newRateWindow() *rateWindow { return &rateWindow{m: map[netip.Addr]*minute{}} }

// allow records an event for ip and reports whether it is within limit.
func (r *rateWindow) allow(ip netip.Addr, limit int) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.m[ip]
	if w == nil || now.Sub(w.start) >= time.Minute {
		if w == nil && len(r.m) >= maxRateEntries {
			for k, v := range r.m {
				if now.Sub(v.start) >= time.Minute {
					delete(r.m, k)
				}
			}
			if len(r.m) >= maxRateEntries {
				return true // bounded memory beats counting a flood of addresses
			}
		}
		w = &minute{start: now}
		r.m[ip] = w
	}
	if w.n >= limit {
		return false
	}
	w.n++
	return true
}

// allowMessage counts one MAIL from ip against messages_per_minute: in
// the shared store when there is one, else in this Backend.
func (s *Session) allowMessage(ip netip.Addr, limit int) bool {
	if f := s.env.MessageRate; f != nil {
		return f(ip, limit)
	}
	return s.b.rates.allow(ip, limit)
}

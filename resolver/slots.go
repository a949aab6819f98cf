package resolver

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// slotWait is how long a query waits for a free slot when MaxInFlight
// queries are already out: long enough to ride out a burst, short enough
// that a flood turns into prompt temporary failures instead of a queue.
const slotWait = 100 * time.Millisecond

// saturationLogEvery spaces the "dns saturated" log lines: one at the
// first refusal, then at most one per interval with the count since.
const saturationLogEvery = 10 * time.Second

// slots bounds the queries a Resolver has outstanding at the servers. It
// is a counting semaphore that never queues without bound: acquire waits
// at most slotWait (and never past ctx), then gives up.
type slots struct {
	ch  chan struct{}
	log *slog.Logger

	refused atomic.Uint64 // since the last log line
	lastLog atomic.Int64  // unix nanoseconds of the last log line
}

func newSlots(n int, log *slog.Logger) *slots {
	return &slots{ch: make(chan struct{}, n), log: log}
}

// acquire takes a slot, waiting at most slotWait and never past ctx.
func (s *slots) acquire(ctx context.Context) bool {
	select {
	case s.ch <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	s.saturated()
	return false
}

func (s *slots) release() { <-s.ch }

// inFlight is the number of queries holding a slot.
func (s *slots) inFlight() int { return len(s.ch) }

// saturated records a query refused for want of a slot and logs, at most
// once per saturationLogEvery, how many were refused.
func (s *slots) saturated() {
	s.refused.Add(1)
	if s.log == nil {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if last != 0 && time.Duration(now-last) < saturationLogEvery {
		return
	}
	if !s.lastLog.CompareAndSwap(last, now) {
		return // another caller is logging this interval
	}
	n := s.refused.Swap(0)
	s.log.Warn("dns saturated", "max_in_flight", cap(s.ch), "refused", n,
		"evidence", "queries failed as temporary errors for want of a slot; raise [dns] max_in_flight or check the resolvers' latency")
}

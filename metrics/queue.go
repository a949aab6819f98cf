package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats is a snapshot of the spool (queue and hybrid mode).
type QueueStats struct {
	Messages   int
	Bytes      int64
	OldestAge  time.Duration
	Deliveries map[string]uint64 // by outcome
	DSNs       map[string]uint64 // by action
}

// QueueOutcomes and QueueDSNActions are the label values the queue
// metrics export (every one, zero or not, so that rate() works at once).
var (
	QueueOutcomes   = []string{"delivered", "partial", "deferred", "failed", "expired", "corrupt"}
	QueueDSNActions = []string{"failed", "delayed", "delivered"}
)

// Queue registers the spool's metrics, read from stats at each scrape.
func (m *Metrics) Queue(stats func() QueueStats) {
	m.Gauge("gateway_queue_messages", "Messages in the spool (queue and hybrid mode).", nil, func() float64 { return float64(stats().Messages) })
	m.Gauge("gateway_queue_bytes", "Bytes of the messages in the spool.", nil, func() float64 { return float64(stats().Bytes) })
	m.Gauge("gateway_queue_oldest_age_seconds", "Age of the oldest message in the spool; 0 when it is empty.", nil, func() float64 { return stats().OldestAge.Seconds() })
	for _, o := range QueueOutcomes {
		m.Counter("gateway_queue_deliveries_total", "Delivery attempts of spooled messages by outcome.", prometheus.Labels{"outcome": o}, func() float64 { return float64(stats().Deliveries[o]) })
	}
	for _, a := range QueueDSNActions {
		m.Counter("gateway_queue_dsn_total", "DSNs (RFC 3464) the queue generated, by action.", prometheus.Labels{"action": a}, func() float64 { return float64(stats().DSNs[a]) })
	}
}

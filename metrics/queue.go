package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smtpgateway/gateway/queue"
)

// Label values always exported (at zero before the first event), so that
// rate() and alerts see the series from the start.
var (
	queueOutcomes   = []string{"delivered", "partial", "deferred", "failed", "expired", "corrupt"}
	queueDSNActions = []string{"failed", "delayed", "delivered"}
)

var (
	queueMessagesDesc = prometheus.NewDesc("gateway_queue_messages",
		"Messages in the spool.", nil, nil)
	queueBytesDesc = prometheus.NewDesc("gateway_queue_bytes",
		"Bytes of the messages in the spool.", nil, nil)
	queueOldestDesc = prometheus.NewDesc("gateway_queue_oldest_age_seconds",
		"Age of the oldest message in the spool (0 when empty).", nil, nil)
	queueDeliveriesDesc = prometheus.NewDesc("gateway_queue_deliveries_total",
		"Queue delivery attempts by outcome: delivered, partial (some recipients refused), deferred (retried), failed (all refused), expired (max_age), corrupt (quarantined).",
		[]string{"outcome"}, nil)
	queueDSNDesc = prometheus.NewDesc("gateway_queue_dsn_total",
		"DSN recipient reports spooled by the queue, by action (failed, delayed, delivered).",
		[]string{"action"}, nil)
)

// queueCollector reads the spool's Stats at each scrape.
type queueCollector struct{ stats func() queue.Stats }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueMessagesDesc, queueBytesDesc, queueOldestDesc, queueDeliveriesDesc, queueDSNDesc} {
		ch <- d
	}
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(s.Messages))
	ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, s.OldestAge.Seconds())
	counters(ch, queueDeliveriesDesc, queueOutcomes, s.Deliveries)
	counters(ch, queueDSNDesc, queueDSNActions, s.DSNs)
}

func counters(ch chan<- prometheus.Metric, d *prometheus.Desc, known []string, m map[string]uint64) {
	for _, k := range known {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(m[k]), k)
	}
	for k, v := range m {
		if !contains(known, k) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), k)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// RegisterQueue exports the spool's gauges and counters
// (gateway_queue_*), read from stats (e.g. (*queue.Queue).Stats) at each
// scrape. A nil *Metrics does nothing.
func (m *Metrics) RegisterQueue(stats func() queue.Stats) {
	if m == nil || stats == nil {
		return
	}
	m.Registry.MustRegister(queueCollector{stats: stats})
}

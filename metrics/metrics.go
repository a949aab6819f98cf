package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of instruments. The zero value is not usable; a nil
// *Metrics is: every method does nothing.
type Metrics struct {
	Registry *prometheus.Registry

	connections *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	heloChecks  *prometheus.CounterVec
	heloWould   *prometheus.CounterVec
	authTotal   *prometheus.CounterVec
	relayed     *prometheus.CounterVec
	relayEvents *prometheus.CounterVec
	relayTime   *prometheus.HistogramVec
	msgSize     prometheus.Histogram
}

// New creates the instruments in a fresh registry (with the Go and
// process collectors).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_connections_total",
			Help: "Connections by listener and outcome (accepted, or the reason they were refused before SMTP).",
		}, []string{"listener", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_smtp_refusals_total",
			Help: "SMTP refusals sent by the gateway, by listener, command, check and reply code.",
		}, []string{"listener", "command", "check", "code"}),
		heloChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_helo_checks_total",
			Help: "HELO check results by check, result and action.",
		}, []string{"check", "result", "action"}),
		heloWould: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_helo_would_refuse_total",
			Help: "HELO verdicts that each profile (with the configured per-check overrides) would refuse, by profile and failed check; counted whatever profile runs.",
		}, []string{"profile", "check"}),
		authTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_auth_attempts_total",
			Help: "SMTP AUTH attempts by mechanism and result.",
		}, []string{"mechanism", "result"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_relay_messages_total",
			Help: "Messages handed to downstreams, by downstream and outcome (delivered; rejected, deferred, failed: the downstream's doing; refused, aborted: the client's).",
		}, []string{"downstream", "outcome"}),
		relayEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_relay_connection_events_total",
			Help: "Downstream connection pool events by downstream and event (dial, dial_error, reuse, pool_wait, pool_timeout, healthcheck_fail, discard, idle_close, starttls, starttls_fallback, retry).",
		}, []string{"downstream", "event"}),
		relayTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_relay_duration_seconds",
			Help:    "Time from the start of DATA to the downstream's reply to the final dot.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"downstream"}),
		msgSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_message_size_bytes",
			Help:    "Size of relayed messages as sent downstream, trace headers included.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
	}
	reg.MustRegister(m.connections, m.refusals, m.heloChecks, m.heloWould, m.authTotal, m.relayed, m.relayEvents, m.relayTime, m.msgSize)
	return m
}

// Connected counts an accepted connection.
func (m *Metrics) Connected(listener string) {
	if m == nil {
		return
	}
	m.connections.WithLabelValues(listener, "accepted").Inc()
}

// ConnectionRefused counts a connection refused before SMTP started.
func (m *Metrics) ConnectionRefused(listener, reason string) {
	if m == nil {
		return
	}
	m.connections.WithLabelValues(listener, reason).Inc()
}

// Refused counts an SMTP refusal.
func (m *Metrics) Refused(listener, command, check string, code int) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(listener, command, check, strconv.Itoa(code)).Inc()
}

// HELOCheck counts one HELO check result.
func (m *Metrics) HELOCheck(check, result, action string) {
	if m == nil {
		return
	}
	m.heloChecks.WithLabelValues(check, result, action).Inc()
}

// HELOWouldRefuse counts one check for which a profile would refuse a
// HELO verdict (the dry run of helo.profile).
func (m *Metrics) HELOWouldRefuse(profile, check string) {
	if m == nil {
		return
	}
	m.heloWould.WithLabelValues(profile, check).Inc()
}

// Auth counts one AUTH attempt.
func (m *Metrics) Auth(mechanism, result string) {
	if m == nil {
		return
	}
	m.authTotal.WithLabelValues(mechanism, result).Inc()
}

// RelayDone counts one relayed (or failed) message.
func (m *Metrics) RelayDone(downstream, outcome string, latency time.Duration, size int64) {
	if m == nil {
		return
	}
	m.relayed.WithLabelValues(downstream, outcome).Inc()
	if outcome == "delivered" {
		m.relayTime.WithLabelValues(downstream).Observe(latency.Seconds())
		m.msgSize.Observe(float64(size))
	}
}

// RelayEvent counts one downstream connection pool event.
func (m *Metrics) RelayEvent(downstream, event string) {
	if m == nil {
		return
	}
	m.relayEvents.WithLabelValues(downstream, event).Inc()
}

// Gauge registers a gauge whose value is read at scrape time.
func (m *Metrics) Gauge(name, help string, labels prometheus.Labels, f func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// Counter registers a counter whose value is read at scrape time.
func (m *Metrics) Counter(name, help string, labels prometheus.Labels, f func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// PoolStat is the connection pool of one downstream at scrape time.
type PoolStat struct {
	Downstream string
	Open, Idle int // connections open (busy or idle), and of those idle
}

// Pools registers gateway_relay_pool_connections{downstream,state}, the
// busy and idle connections to each downstream, read from f at scrape time.
func (m *Metrics) Pools(f func() []PoolStat) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(poolCollector{
		desc: prometheus.NewDesc("gateway_relay_pool_connections",
			"Connections to each downstream held by the relay pool, by state (busy, idle).",
			[]string{"downstream", "state"}, nil),
		f: f,
	})
}

type poolCollector struct {
	desc *prometheus.Desc
	f    func() []PoolStat
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	// Two routes may name the same downstream through different targets:
	// one series per name.
	sum := map[string][2]int{}
	var order []string
	for _, p := range c.f() {
		v, seen := sum[p.Downstream]
		if !seen {
			order = append(order, p.Downstream)
		}
		sum[p.Downstream] = [2]int{v[0] + p.Open - p.Idle, v[1] + p.Idle}
	}
	for _, name := range order {
		v := sum[name]
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v[0]), name, "busy")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v[1]), name, "idle")
	}
}

package metrics

// DNSStats are the resolver's running totals at scrape time; they must
// not go down (main keeps them monotonic across reloads).
type DNSStats struct {
	Queries, CacheHits, Errors, Saturated uint64
}

// DNS registers the resolver's metrics, read at scrape time: totals from
// totals, the queries outstanding now from inFlight.
func (m *Metrics) DNS(totals func() DNSStats, inFlight func() int) {
	if m == nil {
		return
	}
	m.Counter("gateway_dns_queries_total", "DNS lookups asked of the resolver.", nil, func() float64 { return float64(totals().Queries) })
	m.Counter("gateway_dns_cache_hits_total", "DNS lookups answered from the resolver's cache.", nil, func() float64 { return float64(totals().CacheHits) })
	m.Counter("gateway_dns_errors_total", "DNS lookups that failed temporarily (timeouts, SERVFAIL).", nil, func() float64 { return float64(totals().Errors) })
	m.Gauge("gateway_dns_queries_in_flight", "DNS queries outstanding at the servers now (at most [dns] max_in_flight).", nil, func() float64 { return float64(inFlight()) })
	m.Counter("gateway_dns_saturated_total", "DNS lookups not sent because [dns] max_in_flight queries were out; they failed as temporary errors.", nil, func() float64 { return float64(totals().Saturated) })
}

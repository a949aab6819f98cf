package metrics

// StateStats is the shared-state store ([state] redis) at scrape time.
type StateStats struct {
	Up        bool   // counters are shared through Redis now
	Fallbacks uint64 // checks answered by this process's counters instead
	Outages   uint64 // times Redis was found slow or unreachable
}

// State registers gateway_state_redis_up, gateway_state_fallbacks_total
// and gateway_state_outages_total, read from f at scrape time. Only a
// gateway with [state] redis set has them.
func (m *Metrics) State(f func() StateStats) {
	if m == nil {
		return
	}
	m.Gauge("gateway_state_redis_up", "1 while the abuse counters are shared through Redis ([state] redis), 0 while this process counts alone.", nil, func() float64 {
		if f().Up {
			return 1
		}
		return 0
	})
	m.Counter("gateway_state_fallbacks_total", "Counter checks (AUTH limiter, connection and message rates) and shared AUTH cache lookups answered in this process because Redis was slow or down.", nil, func() float64 { return float64(f().Fallbacks) })
	m.Counter("gateway_state_outages_total", "Times Redis was found slow or unreachable (each warned once in the log).", nil, func() float64 { return float64(f().Outages) })
}

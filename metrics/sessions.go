package metrics

// Sessions registers gateway_sessions_active, the SMTP sessions open
// across all listeners, read from open at scrape time.
func (m *Metrics) Sessions(open func() int) {
	if m == nil {
		return
	}
	m.Gauge("gateway_sessions_active", "SMTP sessions (client connections) open across all listeners.", nil, func() float64 { return float64(open()) })
}

package metrics

import (
	"testing"
)

// The scrape-time metrics main used to declare itself: names, help texts
// and values as before they moved here.
func TestSessionsAndDNS(t *testing.T) {
	m := New()
	m.Sessions(func() int { return 3 })
	m.DNS(func() DNSStats { return DNSStats{Queries: 10, CacheHits: 4, Errors: 2, Saturated: 1} }, func() int { return 5 })
	want := map[string]struct {
		help  string
		value float64
	}{
		"gateway_sessions_active":       {"SMTP sessions (client connections) open across all listeners.", 3},
		"gateway_dns_queries_total":     {"DNS lookups asked of the resolver.", 10},
		"gateway_dns_cache_hits_total":  {"DNS lookups answered from the resolver's cache.", 4},
		"gateway_dns_errors_total":      {"DNS lookups that failed temporarily (timeouts, SERVFAIL).", 2},
		"gateway_dns_queries_in_flight": {"DNS queries outstanding at the servers now (at most [dns] max_in_flight).", 5},
		"gateway_dns_saturated_total":   {"DNS lookups not sent because [dns] max_in_flight queries were out; they failed as temporary errors.", 1},
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range families {
		w, ok := want[f.GetName()]
		if !ok {
			continue
		}
		seen++
		var v float64
		switch mt := f.GetMetric()[0]; {
		case mt.Counter != nil:
			v = mt.Counter.GetValue()
		case mt.Gauge != nil:
			v = mt.Gauge.GetValue()
		}
		if f.GetHelp() != w.help || v != w.value {
			t.Errorf("%s: help %q value %v; want %q %v", f.GetName(), f.GetHelp(), v, w.help, w.value)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d metrics registered", seen, len(want))
	}
	var nilM *Metrics
	nilM.Sessions(func() int { return 1 }) // a nil *Metrics does nothing
	nilM.DNS(nil, nil)
}

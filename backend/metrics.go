package backend

import "time"

// Metrics receives the session events monitoring counts. The prometheus
// implementation lives with main's wiring; nil means none.
type Metrics interface {
	Refused(listener, command, check string, code int)
	HELOCheck(check, result, action string)
	HELOWouldRefuse(profile, check string)
	Auth(mechanism, result string)
	RelayDone(downstream, outcome string, latency time.Duration, size int64)
}

type nopMetrics struct{}

func (nopMetrics) Refused(string, string, string, int)            {}
func (nopMetrics) HELOCheck(string, string, string)               {}
func (nopMetrics) HELOWouldRefuse(string, string)                 {}
func (nopMetrics) Auth(string, string)                            {}
func (nopMetrics) RelayDone(string, string, time.Duration, int64) {}

// Package metrics holds the gateway's Prometheus instruments, named
// gateway_<subsystem>_<thing>_total, durations in _seconds and sizes in
// _bytes. It is their one home: every metric name and help text is
// declared here, one file per area (metrics.go: connections, SMTP, HELO,
// AUTH, relay; dns.go; sessions.go), and a new area adds a file with a
// method that registers its instruments on Metrics.Registry. It
// implements the observer interfaces of backend and listener; the HTTP
// endpoint (/metrics, /healthz, /readyz) and the sources of scrape-time
// values are wired by main.
package metrics

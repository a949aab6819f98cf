// Package metrics holds the gateway's Prometheus instruments, named
// gateway_<subsystem>_<thing>_total, durations in _seconds and sizes in
// _bytes. It implements the observer interfaces of backend and listener;
// the HTTP endpoint (/metrics, /healthz, /readyz) is wired by main.
package metrics

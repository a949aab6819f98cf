// Package queue is the gateway's durable spool: messages accepted in queue
// or hybrid mode are written here, fsynced, and delivered later by a
// runner with retries, per-route concurrency and RFC 3464 DSNs.
//
// It knows nothing of backend, go-smtp's server, relay or config: the
// message arrives through Create/Writer, leaves through a Deliverer, and
// main translates configuration into Options.
package queue

// Package state owns the abuse counters that replicas behind a load
// balancer must share: AUTH failure counts, delays and blocks per client
// network, and the per-minute connection and message rates per client
// address; and, with [state] cache_key_file, the downstream AUTH success
// cache (AuthCache: HMAC sums only, see auth.SharedCache). Without
// [state] redis they live in this process (Local, the
// behaviour of a single gateway); with it they live in Redis (or Valkey),
// each check one atomic round trip (a Lua script), so N replicas together
// never admit more than block_after password checks per network and
// window.
//
// Mail never waits on Redis: every call has a short timeout (tens of ms),
// and when Redis is slow or down the counters fall back to this process's
// own (warned once, counted in gateway_state_fallbacks_total) until a
// background ping finds Redis again.
//
// Not shared, by design: open-connection counts (max_connections_per_ip
// is per replica) and the queue spool (per replica).
package state

package resolver

import "sync"

// call is one query in flight. done is closed once res is set; res is
// never written after that.
type call struct {
	done chan struct{}
	res  *result
}

// flight coalesces identical queries in flight: the first caller for a key
// starts the query, later callers for the same key wait for its result
// instead of sending their own. Waiting is done by the callers themselves,
// each on its own context, so one caller giving up never cancels the query
// for the others.
type flight struct {
	mu    sync.Mutex
	calls map[key]*call
}

// join returns the call in flight for k, or registers a new one; leader
// reports whether the caller registered it and so must finish it.
func (f *flight) join(k key) (c *call, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.calls[k]; c != nil {
		return c, false
	}
	if f.calls == nil {
		f.calls = make(map[key]*call)
	}
	c = &call{done: make(chan struct{})}
	f.calls[k] = c
	return c, true
}

// finish publishes res to every caller waiting on c and forgets c, so the
// next caller for k starts afresh (normally from the cache, which the
// leader fills before calling finish).
func (f *flight) finish(k key, c *call, res *result) {
	f.mu.Lock()
	if f.calls[k] == c {
		delete(f.calls, k)
	}
	f.mu.Unlock()
	c.res = res
	close(c.done)
}

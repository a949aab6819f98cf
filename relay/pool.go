package relay

import (
	"context"
	"slices"
	"time"
)

// acquire returns a connection ready for MAIL: an idle one that is still
// alive, or a new one when fewer than MaxConns are open. When all are
// busy it waits for one until ctx ends. reused reports whether the
// connection had carried a transaction before.
func (t *SMTPTarget) acquire(ctx context.Context) (cn *conn, reused bool, err error) {
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, t.waitError(ctx, waited)
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, false, unavailable("connect", errClosed)
		}
		if n := len(t.idle); n > 0 {
			cn := t.idle[n-1]
			t.idle = t.idle[:n-1]
			t.mu.Unlock()
			if t.alive(ctx, cn) {
				t.observe("reuse")
				return cn, true, nil
			}
			t.discard(cn)
			continue
		}
		if t.open < t.cfg.MaxConns {
			t.open++
			t.mu.Unlock()
			cn, err := t.connect(ctx)
			if err != nil {
				t.forget()
				return nil, false, err
			}
			return cn, false, nil
		}
		wake := make(chan struct{}, 1)
		t.waiters = append(t.waiters, wake)
		t.mu.Unlock()
		if !waited {
			t.observe("pool_wait")
			waited = true
		}
		select {
		case <-wake:
		case <-ctx.Done():
			t.mu.Lock()
			if i := slices.Index(t.waiters, wake); i >= 0 {
				t.waiters = slices.Delete(t.waiters, i, i+1)
			} else {
				// Woken and cancelled at once: pass the wake-up on.
				t.wakeLocked()
			}
			t.mu.Unlock()
			return nil, false, t.waitError(ctx, waited)
		}
	}
}

func (t *SMTPTarget) waitError(ctx context.Context, waited bool) error {
	if waited {
		t.observe("pool_timeout")
		return unavailable("waiting for a free connection", ctx.Err())
	}
	return unavailable("connect", ctx.Err())
}

// alive reports whether an idle connection may be reused: not expired,
// and answering NOOP when it has been idle for a while (the downstream
// may have closed it, RFC 5321 §4.5.3.2.7).
func (t *SMTPTarget) alive(ctx context.Context, cn *conn) bool {
	idle := time.Since(cn.idleSince)
	if idle >= t.cfg.IdleTimeout {
		return false
	}
	if idle < t.cfg.HealthCheckAfter {
		return true
	}
	stop := cn.watch(ctx)
	cn.client.CommandTimeout = t.quick()
	err := cn.client.Noop()
	cn.client.CommandTimeout = t.cfg.CommandTimeout
	if !stop() || err != nil {
		t.observe("healthcheck_fail")
		return false
	}
	return true
}

// release gives a connection back after a transaction: to the idle list
// when reusable, closed otherwise.
func (t *SMTPTarget) release(cn *conn, reusable bool) {
	if !reusable {
		t.discard(cn)
		return
	}
	t.mu.Lock()
	if t.closed || len(t.idle) >= t.cfg.MaxIdle {
		t.open--
		t.wakeLocked()
		t.mu.Unlock()
		cn.quit(t.quick())
		return
	}
	cn.idleSince = time.Now()
	t.idle = append(t.idle, cn)
	if t.janitor == nil {
		t.janitor = time.AfterFunc(t.cfg.IdleTimeout, t.reap)
	}
	t.wakeLocked()
	t.mu.Unlock()
}

// discard closes a connection that must not be reused.
func (t *SMTPTarget) discard(cn *conn) {
	cn.close()
	t.observe("discard")
	t.forget()
}

// forget gives up the pool slot of a connection that is gone.
func (t *SMTPTarget) forget() {
	t.mu.Lock()
	t.open--
	t.wakeLocked()
	t.mu.Unlock()
}

// wakeLocked wakes the longest waiting acquire, if any: a slot or an idle
// connection has become free.
func (t *SMTPTarget) wakeLocked() {
	if len(t.waiters) == 0 {
		return
	}
	t.waiters[0] <- struct{}{}
	t.waiters = t.waiters[1:]
}

// reap closes the idle connections that expired, and sets itself to run
// again when the next one will. One timer serves the whole pool.
func (t *SMTPTarget) reap() {
	t.mu.Lock()
	now := time.Now()
	n := 0
	for n < len(t.idle) && now.Sub(t.idle[n].idleSince) >= t.cfg.IdleTimeout {
		n++
	}
	expired := slices.Clone(t.idle[:n])
	t.idle = slices.Delete(t.idle, 0, n)
	t.open -= n
	for range n {
		t.wakeLocked()
	}
	switch {
	case t.closed:
	case len(t.idle) > 0:
		t.janitor.Reset(t.cfg.IdleTimeout - now.Sub(t.idle[0].idleSince))
	default:
		t.janitor = nil
	}
	t.mu.Unlock()
	for range expired {
		t.observe("idle_close")
	}
	quitAll(expired, t.quick())
}

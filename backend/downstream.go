package backend

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpgateway/gateway/relay"
)

// downstreamHealth remembers which downstreams are failing, so that an
// outage is logged at WARN twice — when the first message fails and when
// the first one gets through again — and not once per message (each
// refused client still gets its INFO reject line with
// check=downstream_unavailable). It lives in the Holder: shared by every
// listener and kept across reloads.
type downstreamHealth struct {
	n    atomic.Int32 // len(down), read without the lock on every success
	mu   sync.Mutex
	down map[string]outage // by downstream name
}

type outage struct {
	since    time.Time
	failures int
}

// failed records a failure to reach downstream name; the first one of an
// outage is logged at WARN.
func (h *downstreamHealth) failed(log *slog.Logger, name string, err error) {
	h.mu.Lock()
	o, already := h.down[name]
	if !already {
		if h.down == nil {
			h.down = map[string]outage{}
		}
		o.since = time.Now()
		h.n.Add(1)
	}
	o.failures++
	h.down[name] = o
	h.mu.Unlock()
	if !already {
		log.Warn("downstream unavailable", "downstream", name, "err", err.Error())
	}
}

// ok records that downstream name answered; the end of an outage is logged
// at WARN with how long it lasted and how many attempts failed meanwhile.
func (h *downstreamHealth) ok(log *slog.Logger, name string) {
	if h.n.Load() == 0 {
		return
	}
	h.mu.Lock()
	o, was := h.down[name]
	if was {
		delete(h.down, name)
		h.n.Add(-1)
	}
	h.mu.Unlock()
	if was {
		log.Warn("downstream recovered", "downstream", name,
			"down_for", time.Since(o.since).Round(time.Millisecond).String(), "failures", o.failures)
	}
}

// relayRefusedHint is logged with a downstream's relay refusal of a
// recipient the gateway itself accepted for relaying.
const relayRefusedHint = "the downstream refused to relay for the gateway; add the gateway's address to its mynetworks/relay list"

// relayHint returns the "hint" attribute for a downstream refusal at RCPT
// that is the downstream's relay control, not the user's mistake: the
// client may relay here (authenticated, or in trusted_networks), the
// recipient is not in local_domains, and the downstream's text is one of
// the relay refusals of common servers (relayRefusals).
func (s *Session) relayHint(err error, domain string) []any {
	var rep *relay.ReplyError
	if !errors.As(err, &rep) || s.env.isLocal(domain) {
		return nil
	}
	if s.user == "" && !s.env.trusted(s.conn.Client().Addr()) {
		return nil
	}
	text := strings.ToLower(rep.Text)
	for _, r := range relayRefusals {
		if strings.Contains(text, r) {
			return []any{"hint", relayRefusedHint}
		}
	}
	return nil
}

// relayRefusals are the texts (lower case) of the relay refusals of
// common servers: Postfix, Exim, Sendmail, Exchange, qmail and others.
var relayRefusals = []string{
	"relay access denied",  // Postfix
	"relay not permitted",  // Exim
	"relaying denied",      // Sendmail
	"unable to relay",      // Exchange
	"rcpthosts",            // qmail: "...isn't in my list of allowed rcpthosts"
	"relaying not allowed", // several
	"not allowed to relay", // several
	"relay denied",         // several
}

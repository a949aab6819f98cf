package backend

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtpgateway/gateway/address"
	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/domain"
	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/relay"
)

// Env is everything sessions need that the configuration decides. main
// builds it; a reload builds a new one and swaps it in (Holder), so a
// session keeps the Env it started with.
type Env struct {
	Hostname     string
	LocalDomains map[string]bool // in domain.Normalize form
	CatchAll     bool            // lab only: every domain is local
	// Postmaster is the mailbox a bare "RCPT TO:<Postmaster>" (no domain,
	// RFC 5321 §4.5.1) is delivered to: postmaster at the first local
	// domain, or at Hostname when there is none. "" means
	// postmaster@Hostname.
	Postmaster string

	HELO     *heloguard.Policy // nil: no HELO policy
	Resolver heloguard.Resolver
	Identity heloguard.Identity
	Trusted  []netip.Prefix // trusted_networks: exempt from HELO checks, may relay

	Router  *relay.Router
	Filter  message.FilterOptions
	Address address.Allow

	Auth AuthEnv

	// MessagesPerMin caps MAIL commands per client address (0: off).
	MessagesPerMin int

	// Mode is ModeProxy ("" too), ModeQueue or ModeHybrid; Spool is the
	// queue of the last two; VerifyCache how long a recipient the
	// downstream accepted is accepted while it is unreachable.
	Mode        string
	Spool       Spool
	VerifyCache time.Duration
	// MessageRate, if set, counts MessagesPerMin instead of the Backend's
	// own table: the counter replicas share ([state] redis). It reports
	// whether one more MAIL from ip is within limit.
	MessageRate func(ip netip.Addr, limit int) bool
}

// AuthEnv is the AUTH part of Env.
type AuthEnv struct {
	Verifier     auth.Verifier // nil: no AUTH anywhere
	Limiter      Limiter       // nil: no brute-force limit
	AllowAuthzid bool
	// Owns answers whether user may use the envelope sender addr; nil
	// switches sender enforcement off.
	Owns func(user, addr string) bool
	// AllowNullSender lets an authenticated user use the null sender <>
	// while Owns is enforced (nobody owns <>).
	AllowNullSender bool
}

// Limiter is the brute-force limiter as sessions use it (*auth.Limiter;
// a store shared by replicas would be another). A password is checked
// only under a Ticket from Reserve, which must admit at most block_after
// checks per client network, in flight or failed, whatever the
// concurrency: that atomic reservation is the whole contract.
type Limiter interface {
	// Blocked returns the end of ip's block, or the zero time.
	Blocked(ip netip.Addr) time.Time
	// Reserve admits one check (see auth.Limiter.Reserve): a Ticket and
	// the delay to wait before the check, or *auth.BlockedError, or
	// another error when no slot is free.
	Reserve(ip netip.Addr) (auth.Ticket, time.Duration, error)
}

var _ Limiter = (*auth.Limiter)(nil)

// Holder publishes the current Env to new sessions.
type Holder struct {
	p      atomic.Pointer[Env]
	health downstreamHealth // outages, logged once per downstream
	verify verifyCache      // recipients the downstream accepted (queue, hybrid)
}

// NewHolder returns a Holder publishing e.
func NewHolder(e *Env) *Holder {
	h := &Holder{}
	h.p.Store(e)
	return h
}

// Load returns the current Env.
func (h *Holder) Load() *Env { return h.p.Load() }

// Store publishes e to sessions that start from now on.
func (h *Holder) Store(e *Env) { h.p.Store(e) }

// isLocal reports whether mail for name is ours to accept on an MX.
// Domains compare in their IDNA A-label form: "bücher.example" is local
// when local_domains holds "xn--bcher-kva.example", a look-alike spelt
// with other letters is not, and a name that is no valid IDN never is.
func (e *Env) isLocal(name string) bool {
	if e.CatchAll {
		return true
	}
	d, err := domain.Normalize(name)
	return err == nil && e.LocalDomains[d]
}

// extensions are the SMTP extensions passed through to the downstream
// that every route takes now.
func (e *Env) extensions() relay.Extensions {
	if e.Router == nil {
		return relay.Extensions{}
	}
	return e.Router.Extensions()
}

// postmaster is the mailbox for a bare "postmaster" recipient.
func (e *Env) postmaster() string {
	if e.Postmaster != "" {
		return e.Postmaster
	}
	return "postmaster@" + strings.ToLower(e.Hostname)
}

func (e *Env) trusted(ip netip.Addr) bool {
	for _, p := range e.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

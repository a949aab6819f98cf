package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/smtpgateway/gateway/domain"
)

// Route sends the mail of one domain to a target. Domain is either a
// domain, matching exactly that domain, or a domain with a leading dot
// (".example.org"), matching every subdomain of it but not the domain
// itself, as in Postfix's transport maps. Case and a trailing dot do not
// matter.
type Route struct {
	Domain string
	Target Target
}

// Router picks the target for a recipient. It is safe for concurrent use.
type Router struct {
	def   Target
	exact map[string]Target // "example.org"
	sub   map[string]Target // ".example.org"
	all   []Target          // every distinct target, the default first
}

// NewRouter returns a router sending to def what no route matches. It
// refuses a nil target, an empty or malformed domain and a domain given
// twice, naming the route.
func NewRouter(def Target, routes []Route) (*Router, error) {
	if def == nil {
		return nil, errors.New("relay: router: no default target")
	}
	r := &Router{def: def, exact: map[string]Target{}, sub: map[string]Target{}}
	var errs []error
	for i, rt := range routes {
		d := normDomain(rt.Domain)
		m := r.exact
		if strings.HasPrefix(d, ".") {
			m = r.sub
		}
		switch {
		case rt.Target == nil:
			errs = append(errs, fmt.Errorf("relay: route[%d] %q: no target", i, rt.Domain))
		case !domain.Valid(strings.TrimPrefix(d, "."), domain.Route):
			errs = append(errs, fmt.Errorf("relay: route[%d] %q: not a domain; write \"example.org\" or \".example.org\" for its subdomains", i, rt.Domain))
		case m[d] != nil:
			errs = append(errs, fmt.Errorf("relay: route[%d] %q: domain routed twice", i, rt.Domain))
		default:
			m[d] = rt.Target
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.all = r.Targets()
	return r, nil
}

// Route returns the target for a recipient address by its domain: an
// exact route first, then the route of the nearest parent domain with a
// leading dot, then the default. An address without a domain or with an
// address literal goes to the default.
func (r *Router) Route(rcpt string) Target {
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return r.def
	}
	d := normDomain(rcpt[at+1:])
	if t := r.exact[d]; t != nil {
		return t
	}
	for i := strings.IndexByte(d, '.'); i >= 0; {
		if t := r.sub[d[i:]]; t != nil {
			return t
		}
		j := strings.IndexByte(d[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return r.def
}

// Extensions returns the extensions every target takes. The gateway
// advertises SMTPUTF8 or DSN only then: its client gives MAIL's
// parameters before any recipient says which target it goes to, and a
// parameter advertised but refused at RCPT for one route would make a
// compliant client fail there.
func (r *Router) Extensions() Extensions {
	return commonExtensions(r.all)
}

// Probe connects to every SMTP target that has not been reached yet, so
// that its extensions are known before the first message; the
// connections go to the pools. It returns when all are done or ctx ends.
func (r *Router) Probe(ctx context.Context) {
	probeAll(ctx, r.Targets())
}

// probeAll probes, in parallel, the targets that can be probed (SMTP
// targets and failover lists of them).
func probeAll(ctx context.Context, targets []Target) {
	var wg sync.WaitGroup
	for _, t := range targets {
		if p, ok := t.(interface{ Probe(context.Context) }); ok {
			wg.Go(func() { p.Probe(ctx) })
		}
	}
	wg.Wait()
}

// Close closes every target once, the default included.
func (r *Router) Close() error {
	seen := map[Target]bool{}
	var errs []error
	for _, t := range r.targets() {
		if seen[t] {
			continue
		}
		seen[t] = true
		if err := t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Targets returns every distinct target, the default first, for metrics
// and health checks.
func (r *Router) Targets() []Target {
	seen := map[Target]bool{}
	var out []Target
	for _, t := range r.targets() {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func (r *Router) targets() []Target {
	ts := []Target{r.def}
	for _, t := range r.exact {
		ts = append(ts, t)
	}
	for _, t := range r.sub {
		ts = append(ts, t)
	}
	return ts
}

// normDomain is the form routes are matched in: domain.Normalize's
// (so "bücher.example" takes the route of "xn--bcher-kva.example"), or
// plain lower case for what is no valid domain (it then matches nothing
// but the default).
func normDomain(d string) string {
	dot := strings.HasPrefix(d, ".")
	n, err := domain.Normalize(strings.TrimPrefix(d, "."))
	if err != nil {
		return strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if dot {
		return "." + n
	}
	return n
}

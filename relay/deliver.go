package relay

import (
	"context"
	"errors"
	"fmt"
	"github.com/smtpgateway/gateway/reply"
	"io"
	"strings"

	"github.com/smtpgateway/gateway/queue"
)

// Deliverer hands spooled messages (queue and hybrid mode) to the
// downstream through the router's targets: the same pooled connections,
// TLS and routes as proxy mode, one transaction per message.
type Deliverer struct {
	// Router returns the router in force now (a reload may replace it).
	Router func() *Router
}

var _ queue.Deliverer = (*Deliverer)(nil)

// Deliver implements queue.Deliverer. The target is the route of the
// first pending recipient; pending recipients of another route (a spool
// written by hand, a route changed by a reload) get no Result and are
// retried.
func (d *Deliverer) Deliver(ctx context.Context, env *queue.Envelope, body io.ReadSeeker, size int64) ([]queue.Result, error) {
	r := d.Router()
	if r == nil {
		return nil, errors.New("no router")
	}
	var target Target
	var rcpts []*queue.Recipient
	for i := range env.To {
		rc := &env.To[i]
		if rc.Status != queue.StatusPending {
			continue
		}
		t := r.Route(rc.Addr)
		if target == nil {
			target = t
		}
		if t == target {
			rcpts = append(rcpts, rc)
		}
	}
	if target == nil {
		return nil, nil
	}
	ext := target.Extensions()
	opts := MailOptions{Size: size, Body: env.Body, UTF8: env.SMTPUTF8}
	if ext.DSN {
		opts.Return, opts.EnvelopeID = env.Ret, env.EnvID
	}
	tx, err := target.Begin(ctx, env.From, opts)
	if err != nil {
		return nil, unreachable(err)
	}
	defer tx.Abort()
	var results []queue.Result
	var accepted []string
	for _, rc := range rcpts {
		var ro RcptOptions
		if ext.DSN {
			ro.Notify = rc.Notify
			if typ, addr, ok := strings.Cut(rc.ORcpt, ";"); ok {
				ro.ORCPTType, ro.ORCPT = typ, addr
			}
		}
		err := tx.Rcpt(ctx, rc.Addr, ro)
		var refusal *ReplyError
		switch {
		case err == nil:
			accepted = append(accepted, rc.Addr)
		case errors.As(err, &refusal):
			results = append(results, result(rc.Addr, refusal.Reply))
		default:
			// Not reached, or the connection lost: every pending
			// recipient without a Result is retried.
			return results, unreachable(err)
		}
	}
	if len(accepted) == 0 {
		return results, nil
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return results, fmt.Errorf("spool: %w", err)
	}
	rep, err := tx.Data(ctx, body)
	if err != nil {
		var refusal *ReplyError
		if !errors.As(err, &refusal) {
			return results, err
		}
		rep = refusal.Reply
	}
	for _, a := range accepted {
		results = append(results, result(a, rep))
	}
	return results, nil
}

// unreachable marks an error that is not the downstream's answer (it
// could not be reached) for the queue, which then holds the route.
func unreachable(err error) error {
	var refusal *ReplyError
	if errors.As(err, &refusal) {
		return err
	}
	return unreachableError{err}
}

// unreachableError is err, text unchanged, that also is queue.ErrUnreachable.
type unreachableError struct{ err error }

func (e unreachableError) Error() string   { return e.err.Error() }
func (e unreachableError) Unwrap() []error { return []error{queue.ErrUnreachable, e.err} }

func result(rcpt string, r *reply.Reply) queue.Result {
	res := queue.Result{Rcpt: rcpt, Code: r.Code, Text: r.Text}
	if r.Enhanced[0] != 0 {
		res.Enhanced = fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
	}
	return res
}

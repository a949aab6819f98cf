package relay

import (
	"github.com/smtpgateway/gateway/reply"

	"context"
	"errors"
	"io"
	"strings"
)

// Failover is a target made of several, tried in order for each
// transaction: a primary and its backups, like Postfix's
// smtp_fallback_relay. A transaction starts at the first member every
// time; it moves to the next only while no member has accepted any of its
// recipients, and only when the member is unavailable (an error wrapping
// ErrUnavailable: the connection refused or timed out, TLS failed, the
// greeting was 4xx, a 421 or a broken connection before any recipient was
// accepted). A reply of the downstream to MAIL or RCPT (a 4xx other than
// 421, or a 5xx) is passed on as it is: that server answered. Once a
// member has accepted a recipient, the transaction stays with it to the
// end, DATA included, so a message is never delivered twice.
type Failover struct {
	members []Target
	name    string
}

// NewFailover returns a target trying members in order; a single member
// is returned as it is.
func NewFailover(members ...Target) (Target, error) {
	switch len(members) {
	case 0:
		return nil, errors.New("relay: failover: no target")
	case 1:
		return members[0], nil
	}
	names := make([]string, len(members))
	for i, m := range members {
		if m == nil {
			return nil, errors.New("relay: failover: nil target")
		}
		names[i] = m.Name()
	}
	return &Failover{members: members, name: strings.Join(names, ",")}, nil
}

// Name returns the members' names, comma-separated, in order.
func (f *Failover) Name() string { return f.name }

// Members returns the targets in the order they are tried.
func (f *Failover) Members() []Target { return f.members }

// Extensions returns what every member takes: which one a transaction
// ends on is known only at RCPT, after the client gave MAIL's parameters.
func (f *Failover) Extensions() Extensions {
	return commonExtensions(f.members)
}

// Probe probes every member that can be probed, in parallel.
func (f *Failover) Probe(ctx context.Context) {
	probeAll(ctx, f.members)
}

// Close closes every member.
func (f *Failover) Close() error {
	var errs []error
	for _, m := range f.members {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Begin starts a transaction; nothing is sent before the first Rcpt.
func (f *Failover) Begin(ctx context.Context, from string, opts MailOptions) (Transaction, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable("begin", err)
	}
	return &failoverTx{f: f, from: from, opts: opts}, nil
}

// failoverTx is a transaction on one member at a time.
type failoverTx struct {
	f        *Failover
	from     string
	opts     MailOptions
	next     int         // the member to try when cur is nil
	cur      Transaction // nil before the first Rcpt and after a member failed
	member   Target      // the member of cur
	accepted bool        // cur's member accepted a recipient: no more failover
}

// Rcpt adds the recipient on the current member, or on the first member
// from next on that is available.
func (tx *failoverTx) Rcpt(ctx context.Context, to string, opts RcptOptions) error {
	var last error
	for {
		if tx.cur == nil {
			if tx.next >= len(tx.f.members) {
				tx.next = 0 // the client may try the next recipient: all again
				return last
			}
			m := tx.f.members[tx.next]
			tx.next++
			cur, err := m.Begin(ctx, tx.from, tx.opts)
			if err != nil {
				last = err
				continue
			}
			tx.cur, tx.member = cur, m
		}
		err := tx.cur.Rcpt(ctx, to, opts)
		if err == nil {
			tx.accepted = true
			return nil
		}
		if tx.accepted || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		// Unavailable before it took any recipient: the next member.
		tx.cur.Abort()
		tx.cur, tx.member = nil, nil
		last = err
	}
}

// Data sends the message through the member that accepted the
// recipients; there is no failover after that.
func (tx *failoverTx) Data(ctx context.Context, r io.Reader) (*reply.Reply, error) {
	if tx.cur == nil {
		return nil, unavailable("DATA", errTxDone)
	}
	return tx.cur.Data(ctx, r)
}

// Abort aborts the current member's transaction.
func (tx *failoverTx) Abort() {
	if tx.cur != nil {
		tx.cur.Abort()
	}
}

// Downstream names the member the transaction is on ("" before the first
// Rcpt), for the log line and metrics of the delivery.
func (tx *failoverTx) Downstream() string {
	if tx.member == nil {
		return ""
	}
	return tx.member.Name()
}

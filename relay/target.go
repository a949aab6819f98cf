package relay

import (
	"context"
	"io"

	"github.com/smtpgateway/gateway/reply"
)

// MailOptions are the MAIL FROM parameters of the client's transaction
// that the gateway passes on to the downstream.
type MailOptions struct {
	Size       int64  // SIZE (RFC 1870); sent only when the downstream advertises SIZE
	Body       string // "", "7BIT" or "8BITMIME" (RFC 6152); see SMTPTarget for how it is sent
	UTF8       bool   // SMTPUTF8 (RFC 6531)
	RequireTLS bool   // REQUIRETLS (RFC 8689)
	Return     string // DSN RET: "", "FULL" or "HDRS" (RFC 3461 §4.3)
	EnvelopeID string // DSN ENVID, decoded from xtext (RFC 3461 §4.4); "" for none
}

// RcptOptions are the RCPT TO parameters of one recipient that the
// gateway passes on: those of DSN (RFC 3461 §4.1, §4.2).
type RcptOptions struct {
	Notify    []string // NOTIFY: "NEVER", or some of "SUCCESS", "FAILURE", "DELAY"; nil for none
	ORCPTType string   // ORCPT address type: "RFC822" or "UTF-8" (case does not matter)
	ORCPT     string   // ORCPT address, decoded; "" for none
}

// dsn reports whether o carries any DSN parameter.
func (o RcptOptions) dsn() bool { return len(o.Notify) > 0 || o.ORCPT != "" }

// dsn reports whether o carries any DSN parameter.
func (o MailOptions) dsn() bool { return o.Return != "" || o.EnvelopeID != "" }

// Extensions are the SMTP extensions a target takes that the gateway
// passes through to its own clients (it advertises them only when every
// target takes them).
type Extensions struct {
	SMTPUTF8 bool // RFC 6531
	DSN      bool // RFC 3461
}

// commonExtensions returns the extensions every target takes.
func commonExtensions(targets []Target) Extensions {
	ext := Extensions{SMTPUTF8: true, DSN: true}
	for _, t := range targets {
		ext = ext.And(t.Extensions())
	}
	return ext
}

// And returns the extensions both e and o take.
func (e Extensions) And(o Extensions) Extensions {
	return Extensions{SMTPUTF8: e.SMTPUTF8 && o.SMTPUTF8, DSN: e.DSN && o.DSN}
}

// Target is a place accepted mail is delivered to: a downstream MTA or a
// maildir. Targets are compared by identity (they are pointers), which is
// how backend checks that all recipients of a transaction go to the same
// place.
type Target interface {
	// Name identifies the target in logs and metrics, e.g.
	// "smtp://127.0.0.1:10025" or "maildir:/var/mail/lab".
	Name() string
	// Begin starts a transaction for the envelope sender from. It is
	// cheap: nothing is sent before the first Rcpt.
	Begin(ctx context.Context, from string, opts MailOptions) (Transaction, error)
	// Extensions returns what the target takes now: for SMTP, what the
	// downstream's latest EHLO reply offered (nothing before the first
	// connection); a maildir takes everything.
	Extensions() Extensions
	// Close releases what the target holds, such as pooled connections.
	Close() error
}

// Transaction is one mail transaction towards a Target. It is used by one
// goroutine at a time. Every Transaction ends with Data or Abort; Abort is
// safe after Data, so "defer tx.Abort()" is the way to use it.
type Transaction interface {
	// Rcpt adds a recipient, sending MAIL FROM first if it has not been
	// accepted yet. It returns nil when the downstream accepted the
	// recipient, a *ReplyError when it refused MAIL or RCPT (after a refused
	// MAIL the next Rcpt tries MAIL again), or an error wrapping
	// ErrUnavailable.
	// opts are passed on when the downstream offers DSN; when it does not,
	// a recipient with DSN parameters is refused with 555 5.5.4.
	Rcpt(ctx context.Context, to string, opts RcptOptions) error
	// Data streams the message from r and returns the downstream's 250
	// reply. r must deliver CRLF line endings only and must not be
	// dot-stuffed (Data does that, RFC 5321 §4.5.2). The end of data is
	// sent only when r returns io.EOF; if r fails, or ctx ends, or
	// writing fails, the transaction is abandoned without it, so the
	// downstream discards the partial message. The error then wraps r's
	// error or ctx's, so errors.Is works on them. A refusal at the end of
	// data is returned as a *ReplyError.
	Data(ctx context.Context, r io.Reader) (*reply.Reply, error)
	// Abort ends the transaction without delivering. It is idempotent
	// and does nothing after Data.
	Abort()
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/reply"
)

// errTxDone is returned when a finished transaction is used again.
var errTxDone = errors.New("relay: transaction already ended")

// Replies the gateway makes up itself, for requests it can tell the
// downstream would refuse, or that must not reach it. Each call returns a
// new value, so a caller may keep or change it.
func replyBadSender() error {
	return refused(&reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E517BadSenderSyntax, Text: "Bad sender address syntax"})
}

func replyBadRecipient() error {
	return refused(&reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E513BadDestinationSyntax, Text: "Bad recipient address syntax"})
}

func replyNoRecipients() error {
	return refused(&reply.Reply{Code: reply.C554TransactionFailed, Enhanced: reply.E551InvalidCommand, Text: "No valid recipients"})
}

// replyNoUTF8 refuses a non-ASCII address the next hop cannot take (RFC
// 6531 §3.2, RFC 6533 §5 for 5.6.7).
func replyNoUTF8() error {
	return refused(&reply.Reply{Code: reply.C553MailboxNameNotAllowed, Enhanced: reply.E567NonASCIIAddress, Text: "SMTPUTF8 not supported by the next hop for this non-ASCII address"})
}

// replyNoDSN refuses DSN parameters the next hop cannot take: passed
// without them, the sender's NOTIFY or RET would be silently ignored (RFC
// 5321 §4.1.1.11 and RFC 1869 for 555 5.5.4).
func replyNoDSN() error {
	return refused(&reply.Reply{Code: reply.C555ParametersNotImplemented, Enhanced: reply.E554InvalidArguments, Text: "DSN parameters not supported by the next hop"})
}

// replyNoRequireTLS refuses a REQUIRETLS message the next hop cannot take
// (RFC 8689 §5).
func replyNoRequireTLS() error {
	return refused(&reply.Reply{Code: reply.C550MailboxUnavailable, Enhanced: reply.E5730RequireTLSNotSupported, Text: "REQUIRETLS not supported by the next hop"})
}

// smtpTx is a transaction of an SMTPTarget. MAIL FROM is sent at the first
// Rcpt; once a recipient has been accepted, a broken connection ends the
// transaction (the client was told 250 for recipients that no longer
// exist downstream, so DATA must fail and the sender retry).
type smtpTx struct {
	t        *SMTPTarget
	from     string
	opts     MailOptions
	cn       *conn
	reused   bool  // cn carried a transaction before
	mailSent bool  // MAIL FROM accepted on cn
	accepted int   // recipients accepted
	err      error // the transaction cannot go on
	done     bool
}

// Rcpt implements Transaction.
func (tx *smtpTx) Rcpt(ctx context.Context, to string, opts RcptOptions) error {
	if tx.done {
		return unavailable("RCPT", errTxDone)
	}
	if tx.err != nil {
		return tx.err
	}
	if to == "" || strings.ContainsAny(to, "\r\n") {
		return replyBadRecipient()
	}
	if err := tx.mail(ctx); err != nil {
		return err
	}
	cn := tx.cn
	stop := cn.watch(ctx)
	if tx.opts.UTF8 && !isASCII(to) && !cn.has("SMTPUTF8") {
		stop()
		return replyNoUTF8()
	}
	var ro *smtp.RcptOptions
	if opts.dsn() {
		if !cn.has("DSN") {
			stop()
			return replyNoDSN()
		}
		ro = &smtp.RcptOptions{}
		if opts.ORCPT != "" {
			typ := smtp.DSNAddressType(strings.ToUpper(opts.ORCPTType))
			if typ != smtp.DSNAddressTypeUTF8 && (typ != smtp.DSNAddressTypeRFC822 || !printableASCII(opts.ORCPT)) {
				stop()
				return refused(&reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E554InvalidArguments, Text: "Malformed ORCPT parameter value"})
			}
			ro.OriginalRecipientType, ro.OriginalRecipient = typ, opts.ORCPT
		}
		for _, n := range opts.Notify {
			ro.Notify = append(ro.Notify, smtp.DSNNotify(n))
		}
	}
	err := cn.client.Rcpt(to, ro)
	intact := stop()
	if err == nil && intact {
		tx.accepted++
		return nil
	}
	if r, ok := fromSMTPError(err); ok && intact && r.Code != 421 {
		return refused(r)
	}
	return tx.lost(ctx, "RCPT", err)
}

// mail sends MAIL FROM unless it has been accepted already. A connection
// from the pool that fails at once was probably closed by the downstream
// while idle, so MAIL is tried once more on another.
func (tx *smtpTx) mail(ctx context.Context) error {
	if tx.mailSent {
		return nil
	}
	if strings.ContainsAny(tx.from, "\r\n") {
		return replyBadSender()
	}
	for attempt := 0; ; attempt++ {
		if tx.cn == nil {
			cn, reused, err := tx.t.acquire(ctx)
			if err != nil {
				return err
			}
			tx.cn, tx.reused = cn, reused
		}
		err := tx.sendMail(ctx)
		if err == nil {
			tx.mailSent = true
			return nil
		}
		if r, ok := err.(*ReplyError); ok {
			return r // refused; the next Rcpt tries again on the same connection
		}
		retry := tx.reused && attempt == 0 && ctx.Err() == nil
		tx.t.discard(tx.cn)
		tx.cn = nil
		if !retry {
			return err
		}
		tx.t.observe("retry")
	}
}

// sendMail says MAIL FROM with the parameters the downstream supports. It
// returns nil, a *ReplyError, or an ErrUnavailable error.
func (tx *smtpTx) sendMail(ctx context.Context) error {
	cn := tx.cn
	stop := cn.watch(ctx)
	opts := &smtp.MailOptions{Size: tx.opts.Size, RequireTLS: tx.opts.RequireTLS}
	if tx.opts.UTF8 {
		switch {
		case cn.has("SMTPUTF8"):
			opts.UTF8 = true
		case !isASCII(tx.from):
			stop()
			return replyNoUTF8()
		}
		// All-ASCII envelope: deliver without SMTPUTF8, as Postfix does.
	}
	if tx.opts.RequireTLS && !cn.has("REQUIRETLS") {
		stop()
		return replyNoRequireTLS()
	}
	if tx.opts.dsn() {
		if !cn.has("DSN") {
			stop()
			return replyNoDSN()
		}
		opts.Return = smtp.DSNReturn(tx.opts.Return)
		opts.EnvelopeID = tx.opts.EnvelopeID
	}
	err := cn.client.Mail(tx.from, opts)
	intact := stop()
	if err == nil && intact {
		return nil
	}
	if r, ok := fromSMTPError(err); ok && intact && r.Code != 421 {
		return refused(r)
	}
	if err == nil {
		err = ctx.Err()
	}
	return opError(ctx, "MAIL", replyText(err))
}

// lost handles a connection that broke (or said 421) during the
// transaction: it is closed and its error returned. Before any recipient
// was accepted the transaction may start again on a new connection.
func (tx *smtpTx) lost(ctx context.Context, op string, err error) error {
	if err == nil {
		err = ctx.Err()
	}
	e := opError(ctx, op, replyText(err))
	tx.t.discard(tx.cn)
	tx.cn, tx.mailSent = nil, false
	if tx.accepted > 0 {
		tx.err = e
	}
	return e
}

// Data implements Transaction.
func (tx *smtpTx) Data(ctx context.Context, r io.Reader) (*reply.Reply, error) {
	switch {
	case tx.done:
		return nil, unavailable("DATA", errTxDone)
	case tx.err != nil:
		tx.Abort()
		return nil, tx.err
	case tx.accepted == 0:
		tx.Abort()
		return nil, replyNoRecipients()
	}
	cn := tx.cn
	stop := cn.watch(ctx)
	dc, err := cn.client.Data()
	if err != nil {
		intact := stop()
		if r, ok := fromSMTPError(err); ok && intact && r.Code != 421 {
			tx.Abort() // RSET: the transaction is still open downstream
			return nil, refused(r)
		}
		return nil, tx.end(ctx, "DATA", err)
	}

	// Stream the message; on any failure drop the connection so that
	// the end of data is never sent (RFC 5321 §4.1.1.4: the downstream
	// then discards what it got). The body goes to the connection in
	// bulk (go-smtp's data writer works byte by byte and flushes every
	// 4 KB); the writer's buffer is empty after the 354, so the order
	// holds.
	// (The scratch is not handed back: cn may be in the pool again by
	// the time this returns. It is sized for the usual case.)
	w := newDotStuffer(cn.w, cn.stuffed)
	for {
		n, rerr := r.Read(cn.buf)
		if n > 0 {
			cn.raw.SetWriteDeadline(time.Now().Add(tx.t.cfg.DataTimeout))
			if _, werr := w.Write(cn.buf[:n]); werr != nil {
				stop()
				return nil, tx.end(ctx, "writing message", werr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			stop()
			tx.end(ctx, "reading message", rerr)
			return nil, fmt.Errorf("relay: message abandoned before its end: %w", rerr)
		}
		if ctx.Err() != nil {
			stop()
			return nil, tx.end(ctx, "writing message", ctx.Err())
		}
	}
	// Past this point ctx no longer cancels: once the end of data is on
	// its way the downstream may deliver, and only its reply tells.
	if !stop() || ctx.Err() != nil {
		return nil, tx.end(ctx, "writing message", ctx.Err())
	}
	cn.raw.SetWriteDeadline(time.Now().Add(tx.t.cfg.DataTimeout))
	if w.Pending() {
		// Through go-smtp's writer, which then ends with exactly ".\r\n".
		if _, err := dc.Write(crlf); err != nil {
			return nil, tx.end(ctx, "writing message", err)
		}
	}
	resp, err := dc.CloseWithResponse()
	if err == nil {
		tx.finish(true)
		return parseReply(250, resp.StatusText), nil
	}
	if r, ok := fromSMTPError(err); ok && r.Code != 421 {
		tx.finish(true) // the transaction is over, the connection fine
		return nil, refused(r)
	}
	// The message may or may not have been delivered; the sender will
	// retry, which can duplicate it (RFC 1047).
	return nil, tx.end(context.WithoutCancel(ctx), "end of data", err)
}

// end closes the connection after a failure in DATA and returns the error.
func (tx *smtpTx) end(ctx context.Context, op string, err error) error {
	e := opError(ctx, op, replyText(err))
	tx.finish(false)
	return e
}

// finish ends the transaction and gives the connection back.
func (tx *smtpTx) finish(reusable bool) {
	tx.done = true
	if tx.cn != nil {
		tx.t.release(tx.cn, reusable)
		tx.cn = nil
	}
}

// Abort implements Transaction: RSET ends an open transaction (RFC 5321
// §4.1.1.5) and the connection goes back to the pool.
func (tx *smtpTx) Abort() {
	if tx.done {
		return
	}
	if tx.cn == nil || !tx.mailSent {
		tx.finish(true)
		return
	}
	c := tx.cn.client
	c.CommandTimeout = tx.t.quick()
	err := c.Reset()
	c.CommandTimeout = tx.t.cfg.CommandTimeout
	tx.finish(err == nil)
}

// printableASCII reports whether s holds only printable ASCII, as an
// rfc822 ORCPT must (RFC 3461 §4.2).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

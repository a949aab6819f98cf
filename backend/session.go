package backend

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/address"
	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
	"github.com/smtpgateway/gateway/resolver"
)

// Session is one client's SMTP session, from the first HELO/EHLO until the
// connection ends (go-smtp starts a new Session after STARTTLS only in its
// own TLS mode; the guard does TLS here, so a Session lives through it and
// forgets the pre-TLS state itself).
type Session struct {
	b      *Backend
	env    *Env
	conn   Conn
	sc     *smtp.Conn
	ctx    context.Context // ends when the client is gone
	cancel context.CancelFunc
	log    *slog.Logger

	helo          string
	ehlo          bool
	greetings     int
	greetTLS      bool // the connection was in TLS at the last greeting
	memo          *resolver.Memo
	verdict       *pendingVerdict
	loggedVerdict *pendingVerdict
	user          string // the authenticated user, "" if none

	txCount int
	tx      *transaction
	// dataMu is held by Data while it uses the transaction. For BDAT,
	// go-smtp runs Data in a goroutine of its own, and a RSET, EHLO or
	// disconnect between chunks calls Reset or Logout while Data still
	// runs: abortTx waits for it (go-smtp has closed Data's reader by then),
	// so the transaction is never used by two goroutines at once.
	dataMu sync.Mutex
}

// transaction is one MAIL ... DATA exchange and its downstream side.
type transaction struct {
	id      string
	from    string
	opts    relay.MailOptions
	target  relay.Target
	relayTx relay.Transaction
	rcpts   []string
	ropts   []relay.RcptOptions // DSN parameters of rcpts, for the spool
	spool   bool                // hybrid: the downstream was unreachable at RCPT
	started time.Time
}

// Mail opens a transaction. Nothing reaches the downstream yet: MAIL is
// forwarded with the first recipient, so that the route is known.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	if (s.conn.TLS() != nil) != s.greetTLS {
		return s.refuse("MAIL", refusalf(reply.C503BadSequence, reply.E551InvalidCommand, "ehlo_after_starttls",
			"Error: send EHLO again after STARTTLS (RFC 3207 section 4.2)"))
	}
	if s.tx != nil {
		return s.refuse("MAIL", refusalf(reply.C503BadSequence, reply.E551InvalidCommand, "sequence", "Error: nested MAIL command"))
	}
	if s.b.lis.submission() && s.user == "" {
		return s.refuse("MAIL", refusalf(reply.C530AuthRequired, reply.E570Security, "auth_required", "Authentication required"), "from", from)
	}
	if err := s.mailParams(from, opts); err != nil {
		return err
	}
	if err := s.heloGate(heloguard.StageMail, "MAIL"); err != nil {
		return err
	}
	if err := s.mailSpace(from); err != nil {
		return err
	}
	ip := s.conn.Client().Addr()
	if n := s.env.MessagesPerMin; n > 0 && !s.allowMessage(ip, n) {
		return s.refuse("MAIL", refusalf(reply.C450MailboxUnavailable, reply.E471NotAuthorized, "message_rate",
			"Error: too many messages from %s in the last minute, try again later", ip), "limit", n)
	}
	if s.user != "" && s.env.Auth.Owns != nil {
		// enforce_sender: the envelope sender says who answers for the
		// message, and <> says nobody (RFC 5321 §4.5.5, bounces; RFC 8098
		// §3, read receipts): refused unless allow_null_sender.
		switch {
		case from == "" && !s.env.Auth.AllowNullSender:
			return s.refuse("MAIL", refusalf(reply.C553MailboxNameNotAllowed, reply.E571NotAuthorized, "null_sender",
				"<>: Sender address rejected: the null sender is not allowed for authenticated users; use your own address"), "from", "<>")
		case from != "" && !s.env.Auth.Owns(s.user, from):
			return s.refuse("MAIL", refusalf(reply.C553MailboxNameNotAllowed, reply.E571NotAuthorized, "sender_not_owned",
				"<%s>: Sender address rejected: not owned by user %s", from, s.user), "from", from)
		}
	}
	s.txCount++
	s.tx = &transaction{
		id:      s.conn.ID() + "." + strconv.Itoa(s.txCount),
		from:    from,
		opts:    mailOptions(opts),
		started: time.Now(),
	}
	s.conn.SetInTransaction(true)
	s.log.Debug("mail", "tx", s.tx.id, "from", reply.Clip(from))
	return nil
}

func mailOptions(o *smtp.MailOptions) relay.MailOptions {
	if o == nil {
		return relay.MailOptions{}
	}
	return relay.MailOptions{Size: o.Size, Body: string(o.Body), UTF8: o.UTF8, RequireTLS: o.RequireTLS,
		Return: string(o.Return), EnvelopeID: o.EnvelopeID}
}

func rcptOptions(o *smtp.RcptOptions) relay.RcptOptions {
	if o == nil {
		return relay.RcptOptions{}
	}
	r := relay.RcptOptions{ORCPTType: string(o.OriginalRecipientType), ORCPT: o.OriginalRecipient}
	for _, n := range o.Notify {
		r.Notify = append(r.Notify, string(n))
	}
	return r
}

// mailParams refuses the MAIL parameters of extensions the downstream
// lacks now (they are not advertised then: RFC 5321 §4.1.1.11 and RFC
// 1869 give 555 for a parameter the server cannot implement), and a
// non-ASCII sender without SMTPUTF8 (RFC 6531 §3.7.4.1: 553 5.6.7).
func (s *Session) mailParams(from string, o *smtp.MailOptions) error {
	if o == nil {
		o = &smtp.MailOptions{}
	}
	ext := s.env.extensions()
	switch {
	case o.UTF8 && !ext.SMTPUTF8:
		return s.refuse("MAIL", unsupportedParam("SMTPUTF8", "SMTPUTF8"), "from", from)
	case o.Return != "" && !ext.DSN:
		return s.refuse("MAIL", unsupportedParam("RET", "DSN"), "from", from)
	case o.EnvelopeID != "" && !ext.DSN:
		return s.refuse("MAIL", unsupportedParam("ENVID", "DSN"), "from", from)
	case !o.UTF8 && !address.IsASCII(from):
		return s.refuse("MAIL", needUTF8(from), "from", from)
	case !utf8.ValidString(from):
		return s.refuse("MAIL", refusalf(reply.C501ParameterSyntax, reply.E517BadSenderSyntax, "sender_syntax",
			"<%s>: Sender address rejected: not valid UTF-8 (RFC 6531 section 3.3)", strings.ToValidUTF8(from, "?")), "from", from)
	}
	return nil
}

func unsupportedParam(param, ext string) *reply.Reply {
	return refusalf(reply.C555ParametersNotImplemented, reply.E554InvalidArguments, strings.ToLower(ext)+"_unsupported",
		"%s parameter not supported: the mail server behind this gateway does not offer %s; send the command without it", param, ext)
}

func needUTF8(addr string) *reply.Reply {
	return refusalf(reply.C553MailboxNameNotAllowed, reply.E567NonASCIIAddress, "smtputf8_required", "<%s>: non-ASCII address requires the SMTPUTF8 parameter", addr)
}

// Rcpt checks one recipient and forwards it to the downstream in real
// time, so that the downstream's own refusal reaches the client here.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error {
	tx := s.tx
	if tx == nil {
		return s.refuse("RCPT", refusalf(reply.C503BadSequence, reply.E551InvalidCommand, "sequence", "Error: need MAIL command"))
	}
	ropts := rcptOptions(opts)
	switch {
	case len(ropts.Notify) > 0 && !s.env.extensions().DSN:
		return s.refuse("RCPT", unsupportedParam("NOTIFY", "DSN"), "rcpt", to)
	case ropts.ORCPT != "" && !s.env.extensions().DSN:
		return s.refuse("RCPT", unsupportedParam("ORCPT", "DSN"), "rcpt", to)
	case !tx.opts.UTF8 && !address.IsASCII(to):
		return s.refuse("RCPT", needUTF8(to), "rcpt", to)
	}
	raw := s.conn.RcptArgument()
	if strings.EqualFold(to, "postmaster") {
		// RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
		to = s.env.postmaster()
		raw = "<" + to + ">"
	}
	addr, trick := address.Check(to, raw, s.env.Address)
	switch trick {
	case "":
	case address.BadSyntax:
		return s.refuse("RCPT", refusalf(reply.C501ParameterSyntax, reply.E513BadDestinationSyntax, "rcpt_syntax",
			"<%s>: Recipient address rejected: bad address syntax", to), "rcpt", to)
	default:
		return s.refuse("RCPT", refusalf(reply.C554TransactionFailed, reply.E571NotAuthorized, string(trick),
			"<%s>: Recipient address rejected: %s addresses are not accepted here", to, strings.ReplaceAll(string(trick), "_", " ")), "rcpt", to)
	}
	ip := s.conn.Client().Addr()
	if s.b.lis.mx() && s.user == "" && !s.env.trusted(ip) && !s.env.isLocal(addr.Domain) {
		return s.refuse("RCPT", refusalf(reply.C554TransactionFailed, reply.E571NotAuthorized, "relay_denied", "<%s>: Relay access denied", to), "rcpt", to)
	}
	if err := s.heloGate(heloguard.StageRcpt, "RCPT"); err != nil {
		return err
	}

	target := s.env.Router.Route(addr.String())
	if tx.target != nil && target != tx.target {
		if len(tx.rcpts) > 0 {
			return s.refuse("RCPT", refusalf(reply.C452InsufficientStorage, reply.E453TooManyRecipients, "route_split",
				"<%s>: this recipient is served by another downstream; send it again in a new transaction", to),
				"rcpt", to, "downstream", target.Name(), "first_downstream", tx.target.Name())
		}
		tx.relayTx.Abort()
		tx.relayTx, tx.target = nil, nil
	}
	if tx.relayTx == nil {
		relayTx, err := target.Begin(s.ctx, tx.from, tx.opts)
		if err != nil {
			return s.downstreamError("RCPT", err, target, "rcpt", to)
		}
		tx.relayTx, tx.target = relayTx, target
	}
	if err := tx.relayTx.Rcpt(s.ctx, addr.String(), ropts); err != nil {
		if s.env.spooling() && unreachable(err) {
			return s.rcptUnreachable(tx, addr.String(), ropts, target, err)
		}
		return s.downstreamError("RCPT", err, target, append([]any{"rcpt", to}, s.relayHint(err, addr.Domain)...)...)
	}
	s.b.env.health.ok(s.b.log, target.Name())
	if s.env.spooling() {
		s.b.env.verify.add(addr.String(), s.env.VerifyCache, time.Now())
	}
	tx.rcpts = append(tx.rcpts, addr.String())
	tx.ropts = append(tx.ropts, ropts)
	s.log.Debug("rcpt", "tx", tx.id, "rcpt", reply.Clip(to), "downstream", target.Name())
	return nil
}

// downstreamError relays a downstream refusal as it was given (code,
// enhanced code and text: the sender learns the truth at once, and there
// is no backscatter), and turns anything else into 451 4.4.1 so the
// sender retries.
func (s *Session) downstreamError(command string, err error, target relay.Target, attrs ...any) error {
	var rep *relay.ReplyError
	attrs = append(attrs, "downstream", target.Name())
	if errors.As(err, &rep) {
		r := &reply.Reply{Code: rep.Code, Enhanced: rep.Enhanced, Text: rep.Text, Check: "downstream", Evidence: rep.Error()}
		if r.Code == 421 {
			// The downstream closing its channel must not close ours.
			r.Code, r.Enhanced = reply.C451LocalError, reply.E441NoAnswer
			s.b.env.health.failed(s.b.log, target.Name(), err)
		} else {
			s.b.env.health.ok(s.b.log, target.Name())
		}
		if r.Code < 400 || r.Code > 599 {
			r.Code, r.Enhanced = reply.C451LocalError, reply.E441NoAnswer
		}
		return s.refuse(command, r, attrs...)
	}
	r := &reply.Reply{Code: reply.C451LocalError, Enhanced: reply.E441NoAnswer, Check: "downstream_unavailable",
		Text: "Error: the mail server behind this gateway is temporarily unavailable, try again later", Evidence: err.Error()}
	s.b.env.health.failed(s.b.log, target.Name(), err)
	return s.refuse(command, r, attrs...)
}

// Reset ends the transaction. go-smtp calls it for RSET, after DATA/BDAT,
// and for a HELO/EHLO after the first: that case is recognized by the
// guard's greeting count.
func (s *Session) Reset() {
	s.abortTx()
	if _, n := s.conn.Greeting(); n != s.greetings {
		if err := s.greet(s.sc.Hostname()); err != nil {
			// A refusal at stage helo for a second greeting: go-smtp has
			// already answered 250, heloGate will refuse at MAIL.
			s.log.Debug("second greeting refused, enforced at MAIL", "err", err)
		}
	}
}

// Logout ends the session.
func (s *Session) Logout() error {
	s.cancel() // first: a Data still running gives up on a stalled downstream
	s.abortTx()
	if s.user != "" {
		s.conn.Annotate("user", s.user)
	}
	return nil
}

// abortTx drops the open transaction without delivering anything.
func (s *Session) abortTx() {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	if s.tx != nil {
		if s.tx.relayTx != nil {
			s.tx.relayTx.Abort()
		}
		s.tx = nil
	}
	s.conn.SetInTransaction(false)
}

package backend

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
)

// Data streams the message to the downstream and answers with the
// downstream's verdict. The client hears 250 only after the downstream said
// 250; on any failure before that, the downstream transaction is aborted
// without its final dot, so nothing is half-delivered.
func (s *Session) Data(r io.Reader) error {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	tx := s.tx
	if tx == nil || tx.relayTx == nil || len(tx.rcpts) == 0 {
		return s.refuse("DATA", refusalf(reply.C503BadSequence, reply.E551InvalidCommand, "sequence", "Error: no valid recipients"))
	}
	prepend := s.traceHeaders(tx)
	in := &endWatch{r: r, onEOF: func() { s.conn.SetCommitting(true) }, check: func() error {
		if line := s.conn.DotCRLine(); line > 0 {
			// "<CRLF>.<CR>x": go-smtp's dot reader dropped the dot and the
			// bare CR, so the filter never saw it. Refuse it like any other
			// bare CR, in normalize mode too: whether that CR ended a line
			// "." (an end of data) or not is exactly the ambiguity SMTP
			// smuggling lives on, so no normalisation is safe. The guard
			// scans bytes before go-smtp hands them on, so nothing from
			// the defect on reaches the downstream.
			return &message.FilterError{Kind: message.KindBareCR, Offset: -1, Line: line}
		}
		return nil
	}}
	defer s.conn.SetCommitting(false)
	filter := message.NewFilter(in, s.env.Filter)
	body := &counter{r: message.NewHeaderRewriter(filter, prepend, dropForgeable)}
	if s.env.spooling() {
		return s.dataSpooled(tx, in, body)
	}

	start := time.Now()
	rep, err := tx.relayTx.Data(s.ctx, body)
	elapsed := time.Since(start)
	s.b.metrics.RelayDone(deliveredBy(tx), outcome(err, s.ctx.Err() != nil || in.err != nil), elapsed, body.n)
	if err != nil {
		return s.dataError(tx, err, in.err, body.n, elapsed)
	}
	return s.relayed(tx, rep, body.n, elapsed)
}

// relayed logs a message the downstream took and answers the client.
func (s *Session) relayed(tx *transaction, rep *reply.Reply, size int64, elapsed time.Duration) error {
	s.b.env.health.ok(s.b.log, tx.target.Name())
	qid := relay.QueueID(rep)
	s.log.Info("relayed",
		"tx", tx.id,
		"from", reply.Clip(tx.from),
		"rcpts", len(tx.rcpts),
		"downstream", deliveredBy(tx),
		"reply", rep.String(),
		"queue_id", qid,
		"size", size,
		"latency", elapsed.Round(time.Microsecond),
	)
	text := "Ok: accepted by the downstream server (gateway id " + tx.id + ")"
	if qid != "" {
		text = "Ok: queued as " + qid + " (gateway id " + tx.id + ")"
	}
	return completed(text)
}

// dataError decides what the client hears when the message was not
// delivered. clientErr is the client's read error, if reading it failed.
func (s *Session) dataError(tx *transaction, err, clientErr error, size int64, elapsed time.Duration) error {
	attrs := []any{"tx", tx.id, "from", reply.Clip(tx.from), "rcpts", len(tx.rcpts), "size", size, "latency", elapsed.Round(time.Microsecond)}
	var fe *message.FilterError
	if errors.As(err, &fe) {
		return s.refuse("DATA", filterRefusal(fe), attrs...)
	}
	if se, ok := asSMTPError(err); ok {
		// go-smtp's own limits (552 5.3.4 message too big) end the reader.
		r := &reply.Reply{Code: se.Code, Enhanced: reply.Enhanced(se.EnhancedCode), Text: se.Message, Check: "message_size"}
		return s.refuse("DATA", r, attrs...)
	}
	var rep *relay.ReplyError
	if errors.As(err, &rep) {
		return s.downstreamError("DATA", err, tx.target, attrs...)
	}
	if s.ctx.Err() != nil || clientErr != nil {
		// The client went away or stalled mid-DATA: the downstream got no
		// final dot, so it keeps nothing. Nobody hears this reply. Only the
		// client's side decides this: a downstream timeout or EOF is 451
		// 4.4.1 below, for a client that is still there.
		s.log.Info("aborted", append(attrs, "reason", "client gone mid-DATA", "evidence", err.Error())...)
		return s.smtpError(&reply.Reply{Code: reply.C451LocalError, Enhanced: reply.E442BadConnection, Text: "Error: connection lost during DATA"})
	}
	return s.downstreamError("DATA", err, tx.target, attrs...)
}

func filterRefusal(fe *message.FilterError) *reply.Reply {
	if fe.Kind == message.KindLongLine {
		// RFC 3463 X.3.4: the message exceeds a limit of this system (one
		// line of it, here); 552 like max_message_bytes.
		return &reply.Reply{Code: reply.C552ExceededStorage, Enhanced: reply.E534MessageTooBig, Check: fe.Kind,
			Text:     fmt.Sprintf("Error: line %d of the message is too long for this server; lines over 998 bytes break RFC 5322 section 2.1.1, encode the content (quoted-printable or base64)", fe.Line),
			Evidence: fmt.Sprintf("line %d longer than max_data_line_length (byte %d)", fe.Line, fe.Offset)}
	}
	if fe.Kind == message.KindFoldedFirstLine {
		// Refused, not repaired: the line would continue our Received
		// field, and a header section cannot begin with a continuation
		// line (RFC 5322 §2.2.3); changing the message silently is worse.
		return &reply.Reply{Code: reply.C554TransactionFailed, Enhanced: reply.E560MediaError, Check: fe.Kind,
			Text: "Error: message starts with a folded header line (a line beginning with a space or tab); send a header field first"}
	}
	what := map[string]string{message.KindBareLF: "bare <LF>", message.KindBareCR: "bare <CR>", message.KindNUL: "NUL byte"}[fe.Kind]
	if fe.Kind == message.KindNUL {
		return &reply.Reply{Code: reply.C550MailboxUnavailable, Enhanced: reply.E560MediaError, Check: fe.Kind,
			Text:     "Error: message contains a NUL byte; NUL is not allowed in SMTP mail (RFC 5321 section 2.3.8)",
			Evidence: fmt.Sprintf("line %d", fe.Line)}
	}
	evidence := fmt.Sprintf("line %d offset %d", fe.Line, fe.Offset)
	if fe.Offset < 0 {
		evidence = fmt.Sprintf("line %d: a dot then a bare CR, which the DATA dot reader would drop", fe.Line)
	}
	return &reply.Reply{Code: reply.C550MailboxUnavailable, Enhanced: reply.E552SyntaxError, Check: fe.Kind,
		Text:     fmt.Sprintf("Line %d ends in %s, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)\nError: %s received", fe.Line, what, what),
		Evidence: evidence}
}

// outcome names how a relayed message ended, for the relay metric, in the
// order dataError decides what the client hears: the gateway's own refusal
// of the content ("refused") and a client that went away mid-message
// ("aborted") are the client's doing, so they are kept apart from what the
// downstream did ("rejected", "deferred", "failed"), which is what an
// operator's alert is about.
func outcome(err error, clientGone bool) string {
	var (
		r  *relay.ReplyError
		fe *message.FilterError
	)
	_, gatewayLimit := asSMTPError(err)
	switch {
	case err == nil:
		return "delivered"
	case errors.As(err, &fe) || gatewayLimit:
		return "refused"
	case errors.As(err, &r) && r.Code >= 500:
		return "rejected"
	case errors.As(err, &r):
		return "deferred"
	case clientGone:
		return "aborted"
	}
	return "failed"
}

// traceHeaders are the header fields the gateway adds on top: the HELO
// tags (RFC 8601 Authentication-Results and X-HELO-Check) and the
// Received trace field (RFC 5321 §4.4).
func (s *Session) traceHeaders(tx *transaction) []byte {
	var b bytes.Buffer
	host := s.env.Hostname
	ptr := ""
	if v, ok := s.currentVerdict(); ok {
		b.Write(message.Field("Authentication-Results", v.AuthResultsValue(host)))
		b.Write(message.Field(heloguard.HeaderName, v.HeaderValue(host)))
		ptr = v.IPRevName
	}
	ti := message.TraceInfo{
		HELO:      s.helo,
		ClientIP:  s.conn.Client().Addr(),
		ClientPTR: ptr,
		Hostname:  host,
		Protocol:  s.protocol(),
		ID:        tx.id,
		Time:      time.Now(),
	}
	if len(tx.rcpts) == 1 {
		ti.For = tx.rcpts[0]
	}
	if st := s.conn.TLS(); st != nil {
		ti.TLS = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	b.Write(message.Received(ti))
	return b.Bytes()
}

// protocol is the Received "with" keyword (RFC 3848).
func (s *Session) protocol() string {
	if !s.ehlo && s.conn.TLS() == nil && s.user == "" {
		return "SMTP"
	}
	p := "ESMTP"
	if s.conn.TLS() != nil {
		p += "S"
	}
	if s.user != "" {
		p += "A"
	}
	return p
}

// dropForgeable removes the header fields the gateway itself vouches for
// when they arrive from outside (RFC 8601 §5).
func dropForgeable(name string) bool {
	return strings.EqualFold(name, "Authentication-Results") || strings.EqualFold(name, heloguard.HeaderName)
}

// endWatch calls onEOF when the client's data ends cleanly, and keeps
// the error that ended it otherwise. After every read it asks check: an
// error from it refuses the message, and the bytes of that read are
// dropped.
type endWatch struct {
	r      io.Reader
	onEOF  func()
	check  func() error
	done   bool
	refuse error
	err    error
}

func (e *endWatch) Read(p []byte) (int, error) {
	if e.refuse != nil {
		return 0, e.refuse
	}
	n, err := e.r.Read(p)
	if e.check != nil {
		if e.refuse = e.check(); e.refuse != nil {
			return 0, e.refuse
		}
	}
	if err == io.EOF && !e.done {
		e.done = true
		e.onEOF()
	}
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// counter counts the bytes handed to the downstream.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// deliveredBy names the downstream the transaction went to: with a
// failover list (relay.Failover), the member that took it.
func deliveredBy(tx *transaction) string {
	if d, ok := tx.relayTx.(interface{ Downstream() string }); ok && d.Downstream() != "" {
		return d.Downstream()
	}
	return tx.target.Name()
}

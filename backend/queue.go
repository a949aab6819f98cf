package backend

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/queue"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
)

// Relay modes (config [relay] mode).
const (
	ModeProxy  = "proxy"
	ModeQueue  = "queue"
	ModeHybrid = "hybrid"
)

// Spool is the durable queue as sessions use it (*queue.Queue).
type Spool interface {
	Space() error
	Create(env queue.Envelope) (*queue.Writer, error)
	// Reachable says that the route's downstream answered a session
	// (ending the runner's hold on it).
	Reachable(route string)
}

var _ Spool = (*queue.Queue)(nil)

// verifyCacheMax bounds the verify cache: a downstream that accepts any
// local part (a catch-all) would otherwise let clients grow it without
// end, one RCPT at a time.
const verifyCacheMax = 200000

// verifyCache remembers the recipients the downstream accepted at RCPT, so
// that queue and hybrid mode accept them (and only them) while it cannot
// be reached. It lives in the Holder: shared by every listener, kept
// across reloads, at most verifyCacheMax entries.
type verifyCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // lower-cased address -> last acceptance
	max  int                  // 0: verifyCacheMax (tests set less)
}

// add records addr as accepted now. When the cache is full, expired
// entries (older than ttl) are dropped first; if it is still full, addr is
// not recorded (the recipients already there stay verified).
func (c *verifyCache) add(addr string, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	max := c.max
	if max == 0 {
		max = verifyCacheMax
	}
	key := strings.ToLower(addr)
	if _, ok := c.seen[key]; !ok && len(c.seen) >= max {
		for k, t := range c.seen {
			if now.Sub(t) > ttl {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= max {
			return
		}
	}
	c.seen[key] = now
}

func (c *verifyCache) ok(addr string, ttl time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, found := c.seen[strings.ToLower(addr)]
	if found && now.Sub(t) > ttl {
		delete(c.seen, strings.ToLower(addr))
		return false
	}
	return found
}

// spooling reports whether this session's mode keeps a spool.
func (e *Env) spooling() bool { return e.Spool != nil && (e.Mode == ModeQueue || e.Mode == ModeHybrid) }

// unreachable reports whether a downstream error at RCPT means it could
// not be reached (as opposed to an answer about the recipient).
func unreachable(err error) bool {
	var refusal *relay.ReplyError
	return !errors.As(err, &refusal) || refusal.Code == reply.C421ServiceNotAvailable
}

// rcptUnreachable decides a recipient while the downstream cannot be
// reached in queue or hybrid mode: accepted if the downstream accepted it
// within verify_cache, 451 4.4.1 otherwise.
func (s *Session) rcptUnreachable(tx *transaction, addr string, ropts relay.RcptOptions, target relay.Target, err error) error {
	if s.b.env.verify.ok(addr, s.env.VerifyCache, time.Now()) {
		s.b.env.health.failed(s.b.log, target.Name(), err)
		tx.spool = true
		tx.rcpts = append(tx.rcpts, addr)
		tx.ropts = append(tx.ropts, ropts)
		s.log.Info("rcpt accepted from the verify cache", "tx", tx.id, "rcpt", reply.Clip(addr), "downstream", target.Name(), "err", err.Error())
		return nil
	}
	r := &reply.Reply{Code: reply.C451LocalError, Enhanced: reply.E441NoAnswer, Check: "recipient_unverified",
		Text:     "<" + reply.Clip(addr) + ">: Recipient address not verified: the mail server behind this gateway is unreachable, try again later",
		Evidence: err.Error()}
	s.b.env.health.failed(s.b.log, target.Name(), err)
	return s.refuse("RCPT", r, "rcpt", addr, "downstream", target.Name())
}

// envelope is what the queue keeps of tx besides its bytes.
func (s *Session) envelope(tx *transaction) queue.Envelope {
	env := queue.Envelope{
		From: tx.from, Ret: tx.opts.Return, EnvID: tx.opts.EnvelopeID, SMTPUTF8: tx.opts.UTF8, Body: tx.opts.Body,
		User: s.user, Listener: s.b.lis.Name, ClientIP: s.conn.Client().Addr().String(), Helo: s.helo,
		GatewayID: tx.id,
	}
	if tx.target != nil {
		env.Route = tx.target.Name()
	}
	for i, a := range tx.rcpts {
		r := queue.Recipient{Addr: a}
		if i < len(tx.ropts) {
			r.Notify = tx.ropts[i].Notify
			if tx.ropts[i].ORCPT != "" {
				r.ORcpt = tx.ropts[i].ORCPTType + ";" + tx.ropts[i].ORCPT
			}
		}
		env.To = append(env.To, r)
	}
	return env
}

// dataSpooled is Data in queue and hybrid mode. body is the message as
// proxy mode relays it (filtered, trace headers added).
//
// queue mode, or hybrid when the downstream was unreachable at RCPT: the
// downstream transaction only verified the recipients and is reset; the
// message is written to the spool and the client hears 250 once Commit
// returned. hybrid otherwise: the message streams to the downstream and
// into a spool file at once; a downstream 250 or 5xx is passed through
// (the spool file removed), any other failure before the downstream's
// final 250 commits the spool file and the client hears 250.
func (s *Session) dataSpooled(tx *transaction, in *endWatch, body *counter) error {
	if !tx.spool && tx.target != nil {
		// The downstream answered every RCPT just now: the runner need
		// not wait out a hold on it.
		s.env.Spool.Reachable(tx.target.Name())
	}
	w, err := s.env.Spool.Create(s.envelope(tx))
	if err != nil {
		return s.spoolError(tx, err)
	}
	start := time.Now()
	if s.env.Mode == ModeQueue || tx.spool {
		tx.relayTx.Abort() // RSET: the transaction only verified the recipients
		if _, err := io.Copy(w, body); err != nil {
			w.Abort()
			if in.err == nil && s.ctx.Err() == nil && !isContentError(err) {
				return s.spoolError(tx, err)
			}
			return s.dataError(tx, err, in.err, body.n, time.Since(start))
		}
		return s.commitSpool(tx, w, body.n, start, "queue mode")
	}
	tee := &teeWriter{r: body, w: w}
	rep, err := tx.relayTx.Data(s.ctx, tee)
	elapsed := time.Since(start)
	var r *relay.ReplyError
	switch {
	case err == nil:
		s.b.metrics.RelayDone(tx.target.Name(), "delivered", elapsed, body.n)
		w.Abort()
		return s.relayed(tx, rep, body.n, elapsed)
	case isContentError(err) || (errors.As(err, &r) && r.Code >= 500) || s.ctx.Err() != nil || in.err != nil:
		s.b.metrics.RelayDone(tx.target.Name(), outcome(err, s.ctx.Err() != nil || in.err != nil), elapsed, body.n)
		w.Abort()
		return s.dataError(tx, err, in.err, body.n, elapsed)
	}
	// The downstream failed before its final 250: keep the copy. Read
	// what the downstream did not take, through the same filter.
	s.b.metrics.RelayDone(tx.target.Name(), outcome(err, false), elapsed, body.n)
	if _, rerr := io.Copy(io.Discard, tee); rerr != nil {
		w.Abort()
		return s.dataError(tx, rerr, in.err, body.n, time.Since(start))
	}
	if tee.werr != nil {
		w.Abort()
		return s.spoolError(tx, tee.werr)
	}
	if r == nil {
		s.b.env.health.failed(s.b.log, tx.target.Name(), err)
	}
	return s.commitSpool(tx, w, body.n, start, "downstream failed: "+err.Error())
}

func isContentError(err error) bool {
	var fe *message.FilterError
	_, limit := asSMTPError(err)
	return errors.As(err, &fe) || limit
}

func (s *Session) commitSpool(tx *transaction, w *queue.Writer, size int64, start time.Time, why string) error {
	id, err := w.Commit()
	if err != nil {
		return s.spoolError(tx, err)
	}
	s.log.Info("queued",
		"tx", tx.id,
		"from", reply.Clip(tx.from),
		"rcpts", len(tx.rcpts),
		"queue_id", id,
		"size", size,
		"reason", why,
		"latency", time.Since(start).Round(time.Microsecond),
	)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: "Ok: queued as " + id + " (gateway id " + tx.id + ")"}
}

// spoolError answers a spool that cannot take the message.
func (s *Session) spoolError(tx *transaction, err error) error {
	if errors.Is(err, queue.ErrFull) {
		return s.refuse("DATA", &reply.Reply{Code: reply.C452InsufficientStorage, Enhanced: reply.E431MailSystemFull, Check: "queue_full",
			Text: "Error: insufficient system storage, try again later", Evidence: err.Error()}, "tx", tx.id)
	}
	return s.refuse("DATA", &reply.Reply{Code: reply.C451LocalError, Enhanced: reply.E430MailSystem, Check: "queue_error",
		Text: "Error: local error in processing, try again later", Evidence: err.Error()}, "tx", tx.id)
}

// mailSpace refuses MAIL while the spool is full (queue and hybrid mode).
func (s *Session) mailSpace(from string) error {
	if !s.env.spooling() {
		return nil
	}
	if err := s.env.Spool.Space(); err != nil {
		return s.refuse("MAIL", &reply.Reply{Code: reply.C452InsufficientStorage, Enhanced: reply.E431MailSystemFull, Check: "queue_full",
			Text: "Error: insufficient system storage, try again later", Evidence: err.Error()}, "from", from)
	}
	return nil
}

// teeWriter copies what is read into the spool writer; a failed write is
// kept, not returned, so the downstream's delivery goes on.
type teeWriter struct {
	r    io.Reader
	w    io.Writer
	werr error
}

func (t *teeWriter) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && t.werr == nil {
		_, t.werr = t.w.Write(p[:n])
	}
	return n, err
}

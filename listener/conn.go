package listener

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpgateway/gateway/reply"
)

type mode int

const (
	modeCmd  mode = iota // reading command lines
	modeData             // inside DATA, until <CRLF>.<CRLF>
	modeBDAT             // inside a BDAT chunk (RFC 3030), a byte count
)

// Conn is a guarded client connection. go-smtp reads from and writes to it
// from its connection goroutine; Drain and Close may come from elsewhere.
type Conn struct {
	l              *Listener
	raw            net.Conn
	id             string
	client         netip.AddrPort
	proxyUntrusted bool
	local          net.Addr
	started        time.Time
	sessionEnd     time.Time
	log            *slog.Logger
	admitted       bool
	lim            *Limits // the listener's limits when the connection came

	// Read side; only the reading goroutine touches these.
	stash     []byte // bytes read ahead during the PROXY header
	in        inbuf
	deliver   []byte // rest of a processed line not yet handed over
	mode      mode
	dataState int
	dataLines int          // lines of the DATA in progress ended so far
	dotCR     atomic.Int32 // see DotCRLine
	bdatLeft  int64
	bdatLast  bool // the chunk being read is BDAT ... LAST
	lines     int
	authCont  bool // the next line answers a 334 challenge, it is no command
	rcptArg   string

	// Write side; same goroutine as reads (go-smtp writes replies from it).
	whead       []byte // start of the reply line being written
	replyLines  int    // lines of the current reply written so far
	ehloPending bool   // inject STARTTLS into the EHLO reply being written
	dataPending bool   // a DATA command waits for its 354
	pending     []string
	errors      int

	mu            sync.Mutex
	cur           net.Conn // raw, or the *tls.Conn over it
	tlsState      *tls.ConnectionState
	greetVerb     string
	greetings     int
	authenticated bool
	notes         []any

	stats      *stats
	draining   atomic.Bool
	inTx       atomic.Bool
	committing atomic.Bool
	eodPending atomic.Bool // the client's end of data is read, our reply not yet written
	waiting    atomic.Bool
	closed     atomic.Bool
	closeOnce  sync.Once
	releaseOne sync.Once
}

// ID is the connection's id, as it appears in logs and Received headers.
func (c *Conn) ID() string { return c.id }

// Client is the client's address: the real one, after a PROXY header.
func (c *Conn) Client() netip.AddrPort { return c.client }

// Listener is the name of the listener the connection came in on.
func (c *Conn) Listener() string { return c.l.cfg.Name }

// Logger is the connection's logger, carrying conn, listener and client_ip.
func (c *Conn) Logger() *slog.Logger { return c.log }

// TLS returns the TLS state, or nil while the connection is plaintext.
func (c *Conn) TLS() *tls.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tlsState
}

// Greeting returns the verb of the last HELO/EHLO command and how many
// greetings the client sent so far.
func (c *Conn) Greeting() (verb string, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.greetVerb, c.greetings
}

// RcptArgument is what followed "RCPT TO:" on the last command line
// go-smtp was given (never a SASL response), as the client sent it, or ""
// when that line is no RCPT command: go-smtp hands the session the
// address with source routes and quoting normalized away, and the
// session's checks need them.
func (c *Conn) RcptArgument() string { return c.rcptArg }

// SetInTransaction tells the guard whether a mail transaction is open
// (between an accepted MAIL and the end of the transaction), so that a
// drain leaves it to finish.
func (c *Conn) SetInTransaction(b bool) { c.inTx.Store(b) }

// SetCommitting marks the moment between the client's end of data and our
// reply to it: the downstream may already hold the message, so the
// connection must not be cut then.
func (c *Conn) SetCommitting(b bool) { c.committing.Store(b) }

// Committing reports whether SetCommitting(true) is in force, or the
// guard has read the client's end of data (the final dot, the last BDAT
// chunk) and the reply to it is not written yet: from that moment the
// downstream may take the message, so cutting the connection could lose a
// 250 the client never hears.
func (c *Conn) Committing() bool { return c.committing.Load() || c.eodPending.Load() }

// DotCRLine is the line (from 1) of the DATA just read where a line began
// with a dot and a CR not followed by LF, or 0. go-smtp's dot reader drops
// that dot and that CR without a word, so the bare CR never reaches the
// message filter: the session must refuse the message itself. BDAT has no
// dot reader; it reports 0 there.
func (c *Conn) DotCRLine() int { return int(c.dotCR.Load()) }

// SetAuthenticated records a successful AUTH (STARTTLS is refused after it).
func (c *Conn) SetAuthenticated() {
	c.mu.Lock()
	c.authenticated = true
	c.mu.Unlock()
}

// Annotate sets key/value attributes for the connection's disconnect log
// line; a key set again replaces its earlier value.
func (c *Conn) Annotate(args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for i := 0; i+1 < len(args); i += 2 {
		for j := 0; j+1 < len(c.notes); j += 2 {
			if c.notes[j] == args[i] {
				c.notes[j+1] = args[i+1]
				continue next
			}
		}
		c.notes = append(c.notes, args[i], args[i+1])
	}
}

// Drain asks the connection to end: at once when it is idle between
// transactions (421 4.3.2), else once its transaction is over.
func (c *Conn) Drain() {
	c.draining.Store(true)
	if c.waiting.Load() && !c.inTx.Load() {
		c.raw.SetReadDeadline(time.Now()) // wake the blocked read
	}
}

// Read hands go-smtp the client's bytes: in command mode one line at a
// time, so that the guard knows which command go-smtp is answering.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.closed.Load() {
			if c.mode != modeCmd {
				// Inside a message the end of the connection is never
				// the end of the data (see dataReadFailed).
				return 0, io.ErrUnexpectedEOF
			}
			return 0, io.EOF
		}
		if len(c.deliver) > 0 {
			n := copy(p, c.deliver)
			c.deliver = c.deliver[n:]
			return n, nil
		}
		var (
			n   int
			err error
		)
		switch c.mode {
		case modeData:
			return c.readData(p)
		case modeBDAT:
			return c.readBDAT(p)
		}
		n, err = c.readCommand(p)
		if n > 0 || err != nil {
			return n, err
		}
		// A command the guard answered itself (STARTTLS): read the next.
	}
}

// readCommand reads one command line. It returns 0, nil when the line was
// handled here and must not reach go-smtp.
func (c *Conn) readCommand(p []byte) (int, error) {
	if c.draining.Load() && !c.inTx.Load() {
		return 0, c.closeWith(named(replyShuttingDown, c.l.cfg.Hostname))
	}
	c.setReadDeadline(c.lim.CommandTimeout)
	if len(c.stash) > 0 {
		c.in.add(c.stash)
		c.stash = nil
	}
	for {
		if c.in.len() > 0 {
			if line, ok := c.in.line(); ok {
				return c.emit(p, line)
			}
			if limit := c.lineLimit(c.in.bytes()); c.in.len() > limit+2 {
				return 0, c.tooLong(limit)
			}
			n, err := c.netRead(c.in.space(1024))
			c.in.wrote(n)
			if n == 0 && err != nil {
				return 0, c.readFailed(err)
			}
			continue
		}
		// Nothing buffered: read straight into go-smtp's buffer.
		c.waiting.Store(true)
		if c.draining.Load() && !c.inTx.Load() {
			c.waiting.Store(false)
			return 0, c.closeWith(named(replyShuttingDown, c.l.cfg.Hostname))
		}
		buf := p
		if limit := c.lineLimit(nil) + 2; len(buf) > limit {
			buf = buf[:limit]
		}
		n, err := c.netRead(buf)
		c.waiting.Store(false)
		if n > 0 {
			if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
				if i+1 < n {
					c.in.add(buf[i+1 : n])
				}
				return c.emit(p, buf[:i+1])
			}
			c.in.add(buf[:n])
			if limit := c.lineLimit(c.in.bytes()); c.in.len() > limit+2 {
				return 0, c.tooLong(limit)
			}
			continue
		}
		if err != nil {
			return 0, c.readFailed(err)
		}
	}
}

// emit checks and records one complete command line and copies it to p
// (line may alias p). It returns 0, nil for a line handled here.
func (c *Conn) emit(p, line []byte) (int, error) {
	if limit := c.lineLimit(line); len(line) > limit+2 {
		return 0, c.tooLong(limit)
	}
	c.lines++
	if c.lines == 1 && c.proxyUntrusted && looksLikeProxy(line) {
		c.log.Info("refused", "reason", "proxy_protocol", "evidence", "PROXY header from a source not in proxy_trusted")
		c.l.refused("proxy_protocol")
		c.Close()
		return 0, io.EOF
	}
	if handled, err := c.onCommand(line); handled || err != nil {
		return 0, err
	}
	n := copy(p, line)
	if n < len(line) {
		c.deliver = line[n:]
	}
	return n, nil
}

// authLineLength is the limit, without CRLF, for an AUTH command line with
// its initial response and for the SASL responses after a 334: RFC 4954 §4
// requires servers to take at least 12288 octets there, more than the
// limit for other commands.
const authLineLength = 12288

// lineLimit is the length limit, without CRLF, of the command line that
// begins with head (all of it or the part read so far): max_line_length,
// or authLineLength for AUTH exchanges.
func (c *Conn) lineLimit(head []byte) int {
	if c.authCont || (len(head) >= 5 && bytes.EqualFold(head[:5], []byte("AUTH "))) {
		return max(c.lim.MaxLineLength, authLineLength)
	}
	return c.lim.MaxLineLength
}

// commandVerbs are the verbs go-smtp answers itself (SEND, SOML, SAML,
// EXPN, HELP and TURN with 502 not implemented, which is right for a
// command it recognizes); the guard answers any other verb.
var commandVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true,
	"DATA": true, "BDAT": true, "RSET": true, "NOOP": true, "QUIT": true,
	"VRFY": true, "AUTH": true, "STARTTLS": true,
	"EXPN": true, "HELP": true, "SEND": true, "SOML": true, "SAML": true, "TURN": true,
}

// controlChar returns the offset of the first control character in a
// command line, its line ending aside, or -1. HTAB is allowed (it is
// white space to some parsers, and harmless); NUL, a bare CR, DEL and the
// other C0 controls are not: RFC 5321 §2.3.8 and §4.1.1 leave no room for
// them, and echoed in a reply or logged they forge lines.
func controlChar(line []byte) int {
	end := len(line)
	if end > 0 && line[end-1] == '\n' {
		end--
	}
	if end > 0 && line[end-1] == '\r' {
		end--
	}
	for i, b := range line[:end] {
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return i
		}
	}
	return -1
}

// onCommand looks at a command line before go-smtp sees it.
func (c *Conn) onCommand(line []byte) (handled bool, err error) {
	if c.authCont {
		c.authCont = false // a SASL response (RFC 4954 §4), not a command
		return false, nil
	}
	text := strings.TrimRight(string(line), "\r\n")
	verb, args, _ := strings.Cut(text, " ")
	verb = strings.ToUpper(verb)
	if mc := c.lim.MaxCommands; mc > 0 && c.stats.commands() >= mc {
		c.stats.add(statName(verb), false)
		return true, c.closeWith(named(replyTooManyCommands, c.l.cfg.Hostname))
	}
	if i := controlChar(line); i >= 0 {
		// Never forwarded: go-smtp would echo the argument (EHLO's in its
		// 250) or take it into an address.
		c.log.Info("refused", "reason", "control_characters", "command", statName(verb), "code", 501, "enhanced", "5.5.2",
			"evidence", fmt.Sprintf("byte 0x%02x at offset %d of a %d-byte command line", line[i], i, len(text)))
		return true, c.answer(statName(verb), replyControlChars)
	}
	if verb != "" && !commandVerbs[verb] && !strings.HasPrefix(verb, "STARTTLS") {
		// RFC 5321 §4.2.4: 500 for an unrecognized command (go-smtp
		// answers a verb that is not four letters long 501 Bad command).
		c.log.Info("refused", "reason", "unknown_command", "code", 500, "enhanced", "5.5.1",
			"evidence", fmt.Sprintf("a %d-byte command line with an unknown verb", len(text)))
		return true, c.answer(statName(verb), replyUnknownCommand)
	}
	c.rcptArg = rcptArgument(text)
	switch {
	case strings.HasPrefix(verb, "STARTTLS"):
		// go-smtp takes any line starting with STARTTLS as STARTTLS.
		if c.l.cfg.TLS != nil {
			return true, c.startTLS(verb == "STARTTLS" && args == "")
		}
	case verb == "EHLO" || verb == "HELO":
		if mg := c.lim.MaxGreetings; mg > 0 && c.greetings >= mg {
			// Each greeting may start DNS checks (issue 12, bug 4).
			c.log.Info("refused", "reason", "too_many_greetings", "code", 421, "enhanced", "4.7.0", "limit", mg)
			c.stats.add(statName(verb), false)
			return true, c.closeWith(named(replyTooManyGreetings, c.l.cfg.Hostname))
		}
		c.mu.Lock()
		c.greetVerb = verb
		c.greetings++
		c.mu.Unlock()
		c.ehloPending = verb == "EHLO" && c.l.cfg.TLS != nil && c.TLS() == nil && !c.l.cfg.ImplicitTLS
	case verb == "MAIL" && c.greetings == 0 && c.l.cfg.BeforeGreeting != nil:
		if reply := c.l.cfg.BeforeGreeting(c); reply != "" {
			return true, c.answerWire("mail", reply+"\r\n")
		}
	case verb == "DATA":
		c.dataPending = true
		c.dotCR.Store(0)
	case verb == "BDAT":
		c.dotCR.Store(0)
		// The chunk follows the command whatever the reply (RFC 3030 §2):
		// mirror go-smtp's argument rules exactly to know its length.
		if size, ok := bdatSize(args); ok && size > 0 {
			c.mode = modeBDAT
			c.bdatLeft = size
			c.bdatLast = strings.Contains(strings.ToUpper(args), "LAST")
		} else if ok && strings.Contains(strings.ToUpper(args), "LAST") {
			c.bdatLast = true // "BDAT 0 LAST" ends the message at once
			c.pending = append(c.pending, statName(verb))
			c.endOfData()
			return false, nil
		}
	}
	c.pending = append(c.pending, statName(verb))
	return false, nil
}

// startTLS runs STARTTLS (RFC 3207) here instead of in go-smtp.
func (c *Conn) startTLS(wellFormed bool) error {
	if !wellFormed {
		return c.answer("starttls", replySTARTTLSSyntax)
	}
	c.mu.Lock()
	active, authed := c.tlsState != nil, c.authenticated
	c.mu.Unlock()
	if active || c.l.cfg.ImplicitTLS {
		return c.answer("starttls", replyTLSActive)
	}
	if authed {
		return c.answer("starttls", replyTLSAfterAuth)
	}
	if n := c.in.len(); n > 0 {
		// RFC 3207 §4.2 / CVE-2011-0411: plaintext pipelined behind
		// STARTTLS must never be executed inside the TLS session.
		c.log.Info("starttls injection discarded", "bytes", n)
		c.in.reset()
	}
	if err := c.writeRaw(replyReadyTLS.Wire()); err != nil {
		c.Close()
		return io.EOF
	}
	c.stats.add("starttls", true)
	c.raw.SetReadDeadline(time.Time{})
	if err := c.handshake(); err != nil {
		c.log.Info("tls handshake failed", "evidence", err.Error())
		c.Close()
		return io.EOF
	}
	c.log.Debug("tls started", "version", tls.VersionName(c.TLS().Version))
	return nil
}

// answer writes a reply of our own to a command go-smtp never sees.
func (c *Conn) answer(verb string, r reply.Reply) error {
	return c.answerWire(verb, r.Wire())
}

// answerWire is answer for a reply already rendered, each line ended by
// CRLF.
func (c *Conn) answerWire(verb, wire string) error {
	code, _ := strconv.Atoi(wire[:3])
	c.stats.add(verb, code < 400)
	if err := c.writeRaw(wire); err != nil {
		c.Close()
		return io.EOF
	}
	if code >= 400 {
		return c.countError()
	}
	return nil
}

func (c *Conn) readData(p []byte) (int, error) {
	c.setReadDeadline(c.lim.DataTimeout)
	if c.in.len() > 0 {
		src := c.in.bytes()
		if len(src) > len(p) {
			src = src[:len(p)]
		}
		end, found := c.scanData(src)
		n := copy(p, src[:end])
		c.in.consume(n)
		if found {
			c.mode = modeCmd
			c.endOfData()
		}
		return n, nil
	}
	n, err := c.netRead(p)
	if n > 0 {
		end, found := c.scanData(p[:n])
		if end < n {
			c.in.add(p[end:n]) // pipelined commands after the dot
		}
		if found {
			c.mode = modeCmd
			c.endOfData()
		}
		return end, nil
	}
	return 0, c.dataReadFailed(err)
}

func (c *Conn) readBDAT(p []byte) (int, error) {
	c.setReadDeadline(c.lim.DataTimeout)
	if int64(len(p)) > c.bdatLeft {
		p = p[:c.bdatLeft]
	}
	var (
		n   int
		err error
	)
	if c.in.len() > 0 {
		n = copy(p, c.in.bytes())
		c.in.consume(n)
	} else {
		n, err = c.netRead(p)
	}
	c.bdatLeft -= int64(n)
	if c.bdatLeft == 0 {
		c.mode = modeCmd
		if c.bdatLast {
			c.endOfData()
		}
	}
	if n == 0 && err != nil {
		return 0, c.dataReadFailed(err)
	}
	return n, nil
}

// endOfData records that the client's end of data was read. Unless go-smtp
// already answered the command (it refuses a BDAT before reading its chunk),
// the reply to it is still to come: until then the connection is committing.
func (c *Conn) endOfData() {
	if len(c.pending) > 0 {
		c.eodPending.Store(true)
	}
}

// Data scanner states: exactly go-smtp's dataReader, so that the guard and
// go-smtp agree on where DATA ends, byte for byte.
const (
	dsBeginLine = iota
	dsDot
	dsDotCR
	dsCR
	dsData
)

// scanData advances the DATA state over b and returns how many bytes
// belong to the message (through the terminating <CRLF>.<CRLF>).
func (c *Conn) scanData(b []byte) (int, bool) {
	st := c.dataState
	for i, ch := range b {
		switch st {
		case dsBeginLine:
			switch ch {
			case '.':
				st = dsDot
			case '\r':
				st = dsCR
			default:
				st = dsData
			}
		case dsDot:
			if ch == '\r' {
				st = dsDotCR
			} else {
				st = dsData
			}
		case dsDotCR:
			if ch == '\n' {
				c.dataState = dsBeginLine
				return i + 1, true
			}
			if c.dotCR.Load() == 0 {
				c.dotCR.Store(int32(min(c.dataLines+1, 1<<30)))
			}
			st = dsData
		case dsCR:
			if ch == '\n' {
				st = dsBeginLine
				c.dataLines++
			} else {
				st = dsData
			}
		case dsData:
			if ch == '\r' {
				st = dsCR
			}
		}
	}
	c.dataState = st
	return len(b), false
}

// go-smtp answers an AUTH initial response or SASL response that is not
// base64 with a 454 (temporary, as if the server were at fault); RFC 4954
// §4 wants 501 with 5.5.2 (the client's syntax error). Its reply is a
// fixed line written in one piece, replaced here as a whole.
var (
	goSMTPInvalidBase64 = []byte("454 4.7.0 Invalid base64 data\r\n")
	invalidBase64Reply  = []byte(replyInvalidBase64.Wire())
)

// Write passes go-smtp's replies to the client, watching each reply line:
// it adds STARTTLS to the EHLO reply, answers undecodable SASL data with
// 501 5.5.2, switches to DATA mode on 354, counts errors and closes after
// a 421.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	total := 0
	for len(p) > 0 {
		seg := p
		i := bytes.IndexByte(p, '\n')
		if i >= 0 {
			seg = p[:i+1]
		}
		if i >= 0 && len(c.whead) == 0 && c.hidden(seg) {
			total += len(seg)
			p = p[len(seg):]
			continue
		}
		out := seg
		if len(c.whead) == 0 && bytes.Equal(seg, goSMTPInvalidBase64) {
			out = invalidBase64Reply
		}
		if len(c.whead) < 4 {
			c.whead = append(c.whead, out[:min(len(out), 4-len(c.whead))]...)
		}
		if _, err := c.cur.Write(out); err != nil {
			return total, err
		}
		total += len(seg) // all of go-smtp's line is consumed, whatever went out
		p = p[len(seg):]
		if i < 0 {
			break
		}
		if err := c.replyLine(); err != nil {
			return total + len(p), nil // the connection is closed; drop the rest
		}
	}
	return total, nil
}

// hidden reports whether line, a whole reply line about to be written,
// is an extension of an EHLO reply that Config.Advertise declines.
func (c *Conn) hidden(line []byte) bool {
	adv := c.l.cfg.Advertise
	if adv == nil || c.replyLines == 0 || len(c.pending) == 0 || c.pending[0] != "ehlo" {
		return false
	}
	kw, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("250-"))
	if !ok || len(kw) == 0 || bytes.ContainsAny(kw, " =") {
		return false
	}
	return !adv(string(kw))
}

// replyLine acts on one complete reply line just written.
func (c *Conn) replyLine() error {
	head := c.whead
	c.whead = c.whead[:0]
	if len(head) < 4 {
		return nil
	}
	code, err := strconv.Atoi(string(head[:3]))
	if err != nil {
		return nil
	}
	c.replyLines++
	if head[3] == '-' {
		if c.replyLines == 1 && c.ehloPending && code == 250 {
			c.ehloPending = false
			if _, err := c.cur.Write([]byte("250-STARTTLS\r\n")); err != nil {
				return err
			}
		}
		return nil
	}
	c.replyLines = 0
	c.ehloPending = false
	switch {
	case code == 334:
		c.authCont = true
		return nil
	case code == 354 && c.dataPending:
		c.dataPending = false
		c.mode = modeData
		c.dataState = dsBeginLine
		c.dataLines = 0
		return nil
	}
	c.dataPending = false
	// A final reply: an end of data read before it is answered now.
	c.eodPending.Store(false)
	verb := "" // the greeting answers no command
	if len(c.pending) > 0 {
		verb = c.pending[0]
		c.pending = c.pending[1:]
	}
	c.stats.add(verb, code < 400)
	if code == 421 {
		// RFC 5321 §3.8: 421 means we close the channel.
		c.Close()
		return net.ErrClosed
	}
	if code >= 400 {
		return c.countError()
	}
	return nil
}

func (c *Conn) countError() error {
	c.errors++
	if me := c.lim.MaxErrors; me > 0 && c.errors >= me {
		c.log.Info("too many errors", "errors", c.errors)
		return c.closeWith(named(replyTooManyErrors, c.l.cfg.Hostname))
	}
	return nil
}

// setReadDeadline bounds the next network read by d and by the session cap.
func (c *Conn) setReadDeadline(d time.Duration) {
	dl := time.Now().Add(d)
	if !c.sessionEnd.IsZero() && c.sessionEnd.Before(dl) {
		dl = c.sessionEnd
	}
	c.raw.SetReadDeadline(dl)
}

func (c *Conn) netRead(p []byte) (int, error) {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	return cur.Read(p)
}

// readFailed turns a read error between commands into the right goodbye.
func (c *Conn) readFailed(err error) error {
	if !isTimeout(err) {
		c.Close()
		return io.EOF
	}
	switch {
	case c.draining.Load():
		return c.closeWith(named(replyShuttingDown, c.l.cfg.Hostname))
	case !c.sessionEnd.IsZero() && !time.Now().Before(c.sessionEnd):
		c.log.Info("session time limit", "limit", c.lim.SessionTimeout)
		return c.closeWith(named(replySessionTimeLimit, c.l.cfg.Hostname))
	default:
		c.log.Info("timeout", "state", "command", "limit", c.lim.CommandTimeout)
		return c.closeWith(named(replyTimeout, c.l.cfg.Hostname))
	}
}

// errDataTimeout reaches the session's DATA reader, which then aborts the
// downstream transaction; it is not EOF, so nothing mistakes it for the end.
var errDataTimeout = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "listener: client timed out during DATA" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }

func (c *Conn) dataReadFailed(err error) error {
	if isTimeout(err) {
		c.log.Info("timeout", "state", "data", "limit", c.lim.DataTimeout)
		c.closeWith(named(replyTimeout, c.l.cfg.Hostname))
		return errDataTimeout
	}
	c.Close()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		// A clean close (FIN, TLS close_notify) inside DATA or a BDAT
		// chunk cuts the message short: never io.EOF, which go-smtp's
		// io.Copy of a BDAT chunk takes for the chunk's normal end and
		// would then hand the truncated message on as complete.
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *Conn) tooLong(limit int) error {
	c.log.Info("refused", "reason", "line_too_long", "code", 500, "enhanced", "5.5.2", "limit", limit)
	return c.closeWith(replyLineTooLong)
}

// closeWith writes a last reply and closes. It returns io.EOF for go-smtp,
// which then ends the connection quietly.
func (c *Conn) closeWith(r reply.Reply) error {
	c.stats.add("", r.Code < 400)
	c.writeRaw(r.Wire())
	c.Close()
	return io.EOF
}

// writeRaw writes bytes of our own, through TLS when it is active.
func (c *Conn) writeRaw(s string) error {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	cur.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := io.WriteString(cur, s)
	return err
}

// Close closes the connection and writes the disconnect log line.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.mu.Lock()
		cur := c.cur
		notes := append([]any(nil), c.notes...)
		c.mu.Unlock()
		if tc, ok := cur.(*tls.Conn); ok {
			// Don't let close_notify block on a dead peer.
			c.raw.SetWriteDeadline(time.Now().Add(time.Second))
			err = tc.Close()
		} else {
			err = cur.Close()
		}
		c.release()
		c.l.forget(c)
		args := append([]any{"duration", time.Since(c.started).Round(time.Millisecond), "commands", c.stats.String()}, notes...)
		c.log.Info("disconnect", args...)
	})
	return err
}

func (c *Conn) release() {
	c.releaseOne.Do(func() {
		if c.admitted && c.l.cfg.Gate != nil {
			c.l.cfg.Gate.Release(c.client.Addr())
		}
	})
}

// LocalAddr is the address the client connected to (from the PROXY header
// when there is one).
func (c *Conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.raw.LocalAddr()
}

// RemoteAddr is the client's address (from the PROXY header when there is
// one).
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.client) }

// SetDeadline sets the write deadline only: the guard owns read deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

// SetReadDeadline is ignored: the guard sets read deadlines itself, per
// command and per DATA read (RFC 5321 §4.5.3.2).
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline bounds writes to the client.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	return cur.SetWriteDeadline(t)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// looksLikeProxy recognizes a PROXY v1 line or the v2 signature's start.
func looksLikeProxy(line []byte) bool {
	return bytes.HasPrefix(line, []byte("PROXY ")) || bytes.Equal(line, []byte("\r\n"))
}

// rcptArgument returns what follows "RCPT TO:" on the command line.
func rcptArgument(line string) string {
	if len(line) >= 8 && strings.EqualFold(line[:8], "RCPT TO:") {
		return strings.TrimSpace(line[8:])
	}
	return ""
}

// bdatSize parses BDAT arguments the way go-smtp does: a size that fits
// 32 bits and an optional LAST.
func bdatSize(args string) (int64, bool) {
	f := strings.Fields(args)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// dsnFullLimit is the largest message a DSN returns whole (RET=FULL or no
// RET); bigger ones are returned as headers only, as Postfix's
// bounce_size_limit does.
const dsnFullLimit = 1 << 20

// dsnEvent is one recipient's line in a DSN.
type dsnEvent struct {
	rcpt    Recipient
	action  string // failed, delayed, delivered (RFC 3464 §2.3.3)
	status  string // 5.1.1
	diag    string // the downstream's reply, "550 5.1.1 no such user"
	expired bool
}

// wants reports whether r asked for a DSN of this kind (SUCCESS, FAILURE,
// DELAY). No NOTIFY means FAILURE,DELAY (RFC 3461 §4.1 leaves the choice
// to the MTA; this is what most MTAs do).
func wants(r *Recipient, kind string) bool {
	if len(r.Notify) == 0 {
		return kind == "FAILURE" || kind == "DELAY"
	}
	if slices.Contains(r.Notify, "NEVER") {
		return false
	}
	return slices.Contains(r.Notify, kind)
}

var enhancedRe = regexp.MustCompile(`^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b`)

// statusOf takes the enhanced status code from a reply (or from fallback),
// else the generic one of class.
func statusOf(reply, fallback string, class int) string {
	for _, s := range []string{reply, fallback} {
		if m := enhancedRe.FindStringSubmatch(s); m != nil && m[1][0] == byte('0'+class) {
			return m[1]
		}
	}
	return fmt.Sprintf("%d.0.0", class)
}

var dsnKind = map[string]string{"failed": "FAILURE", "delayed": "DELAY", "delivered": "SUCCESS"}

// sendDSN spools one DSN (RFC 3464) to env's sender for the events whose
// recipients asked for it. Never for a message from <>.
func (q *Queue) sendDSN(env *Envelope, f io.ReaderAt, m *msgFile, events []dsnEvent, log *slog.Logger) error {
	var ev []dsnEvent
	for _, e := range events {
		if wants(&e.rcpt, dsnKind[e.action]) {
			ev = append(ev, e)
		}
	}
	if len(ev) == 0 {
		return nil
	}
	if env.From == "" {
		log.Info("queue no DSN for a message from <>", "recipients", len(ev), "action", ev[0].action)
		return nil
	}
	w, err := q.dsnWriter(env, ev, f, m)
	if err != nil {
		return err
	}
	id, err := w.Commit()
	if err != nil {
		return err
	}
	q.mu.Lock()
	for _, e := range ev {
		q.dsns[e.action]++
	}
	q.mu.Unlock()
	log.Info("queue DSN spooled", "dsn_id", id, "to", env.From, "action", ev[0].action, "recipients", len(ev))
	return nil
}

func (q *Queue) dsnWriter(env *Envelope, ev []dsnEvent, f io.ReaderAt, m *msgFile) (*Writer, error) {
	now := q.now()
	host := q.opts.Hostname
	utf := env.SMTPUTF8 || !isASCII(env.From)
	full := env.Ret != "HDRS" && m.size <= dsnFullLimit && env.Body != "BINARYMIME"
	eightBit := utf || (full && env.Body == "8BITMIME")

	var b bytes.Buffer
	crlf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...); b.WriteString("\r\n") }
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	boundary := "=_gw_" + hex.EncodeToString(rb[:])

	subject := "Successful Mail Delivery Report"
	for _, e := range ev {
		if e.action == "delayed" && subject != "Undelivered Mail Returned to Sender" {
			subject = "Delayed Mail (still being retried)"
		}
		if e.action == "failed" {
			subject = "Undelivered Mail Returned to Sender"
		}
	}
	crlf("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	crlf("To: <%s>", oneLine(env.From))
	crlf("Subject: %s", subject)
	crlf("Date: %s", now.Format(time.RFC1123Z))
	crlf("Message-ID: <%s.dsn@%s>", env.ID+"."+hex.EncodeToString(rb[:4]), host)
	crlf("Auto-Submitted: auto-replied")
	crlf("MIME-Version: 1.0")
	crlf("Content-Type: multipart/report; report-type=delivery-status;")
	crlf("\tboundary=\"%s\"", boundary)
	crlf("")
	crlf("This is a MIME-encapsulated message.")
	crlf("")

	// Part 1: for humans.
	crlf("--%s", boundary)
	crlf("Content-Type: text/plain; charset=utf-8")
	if eightBit {
		crlf("Content-Transfer-Encoding: 8bit")
	}
	crlf("Content-Description: Notification")
	crlf("")
	crlf("This is the mail gateway at %s.", host)
	crlf("")
	for _, action := range []string{"failed", "delayed", "delivered"} {
		var lines []string
		for _, e := range ev {
			if e.action == action {
				l := "<" + oneLine(e.rcpt.Addr) + ">"
				if e.diag != "" {
					l += ": " + e.diag
				}
				if e.expired {
					l += " (gave up after " + q.opts.MaxAge.String() + ")"
				}
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		switch action {
		case "failed":
			crlf("Your message could not be delivered to the following recipients.")
			crlf("This is a permanent error; the message will not be retried for them:")
		case "delayed":
			crlf("Your message has not been delivered yet to the following recipients.")
			crlf("It is still being retried until %s; you need not resend it:", env.Arrival.Add(q.opts.MaxAge).Format(time.RFC1123Z))
		case "delivered":
			crlf("Your message was delivered to the following recipients:")
		}
		crlf("")
		for _, l := range lines {
			crlf("  %s", l)
		}
		crlf("")
	}

	// Part 2: for machines (RFC 3464 §2; RFC 6533 for SMTPUTF8).
	crlf("--%s", boundary)
	if utf {
		crlf("Content-Type: message/global-delivery-status")
		crlf("Content-Transfer-Encoding: 8bit")
	} else {
		crlf("Content-Type: message/delivery-status")
	}
	crlf("Content-Description: Delivery report")
	crlf("")
	crlf("Reporting-MTA: dns; %s", host)
	if env.GatewayID != "" {
		crlf("X-Gateway-Queue-ID: %s", oneLine(env.GatewayID))
	}
	if env.EnvID != "" {
		crlf("Original-Envelope-Id: %s", oneLine(env.EnvID))
	}
	crlf("Arrival-Date: %s", env.Arrival.Format(time.RFC1123Z))
	for _, e := range ev {
		crlf("")
		if o := oneLine(e.rcpt.ORcpt); o != "" {
			if !strings.Contains(o, ";") {
				o = "rfc822;" + o
			}
			crlf("Original-Recipient: %s", o)
		}
		typ := "rfc822"
		if !isASCII(e.rcpt.Addr) {
			typ = "utf-8"
		}
		crlf("Final-Recipient: %s; %s", typ, oneLine(e.rcpt.Addr))
		crlf("Action: %s", e.action)
		crlf("Status: %s", e.status)
		if e.diag != "" {
			crlf("Diagnostic-Code: smtp; %s", e.diag)
		}
		crlf("Last-Attempt-Date: %s", now.Format(time.RFC1123Z))
		if e.action == "delayed" {
			crlf("Will-Retry-Until: %s", env.Arrival.Add(q.opts.MaxAge).Format(time.RFC1123Z))
		}
	}
	crlf("")

	// Part 3: the message, or its header section.
	crlf("--%s", boundary)
	switch {
	case full && utf:
		crlf("Content-Type: message/global")
	case full:
		crlf("Content-Type: message/rfc822")
	case utf:
		crlf("Content-Type: message/global-headers")
	default:
		crlf("Content-Type: text/rfc822-headers")
	}
	if eightBit {
		crlf("Content-Transfer-Encoding: 8bit")
	}
	crlf("Content-Description: %s", map[bool]string{true: "Undelivered message", false: "Undelivered message headers"}[full])
	crlf("")

	dsnEnv := Envelope{
		From:      "",
		To:        []Recipient{{Addr: env.From, Notify: []string{"NEVER"}}},
		SMTPUTF8:  utf,
		GatewayID: env.GatewayID,
		Route:     q.opts.DSNRoute,
		Arrival:   now,
	}
	if eightBit {
		dsnEnv.Body = "8BITMIME"
	}
	w, err := q.create(dsnEnv, false)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		w.Abort()
		return nil, err
	}
	body := io.NewSectionReader(f, m.bodyOff, m.size)
	if full {
		_, err = io.Copy(w, body)
		if err == nil && m.size > 0 {
			err = endLine(w, f, m)
		}
	} else {
		err = copyHeaders(w, body)
	}
	if err == nil {
		_, err = fmt.Fprintf(w, "\r\n--%s--\r\n", boundary)
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// endLine ends the copied message with a line break if it lacks one, so
// the closing boundary starts a line.
func endLine(w io.Writer, f io.ReaderAt, m *msgFile) error {
	var last [1]byte
	if _, err := f.ReadAt(last[:], m.bodyOff+m.size-1); err != nil {
		return err
	}
	if last[0] != '\n' {
		_, err := io.WriteString(w, "\r\n")
		return err
	}
	return nil
}

// copyHeaders copies the header section of the message in r (up to the
// first empty line) and ends it with one.
func copyHeaders(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			_, werr := io.WriteString(w, "\r\n")
			return werr
		}
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		if err != nil {
			if err == io.EOF {
				_, werr := io.WriteString(w, "\r\n")
				return werr
			}
			return err
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

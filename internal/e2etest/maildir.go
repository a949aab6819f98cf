package e2etest

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Message is one message delivered by a private Postfix instance: one
// Maildir file, one envelope recipient (virtual(8) writes a copy per
// recipient).
//
// Postfix stores lines with LF endings, whatever the client sent (RFC 5321
// §2.3.8: CRLF on the wire). Raw is the file as stored; Body, BodyBytes,
// Relayed and Since give the wire form, every LF turned back into CRLF, so
// tests can compare them with the bytes a client sent. Postfix also splits
// lines longer than line_length_limit (2048), so keep test lines shorter.
type Message struct {
	// Path is the Maildir file.
	Path string
	// Raw is the file's bytes: the delivery headers Postfix added, then
	// the message with LF line endings.
	Raw []byte
	// Recipient is the envelope recipient, from the Delivered-To header
	// virtual(8) adds.
	Recipient string
	// OriginalRecipient is the recipient as given at RCPT TO, from
	// X-Original-To (it differs from Recipient only after rewriting).
	OriginalRecipient string
	// Sender is the envelope sender (MAIL FROM), from Return-Path,
	// without angle brackets; "" for the null sender <>.
	Sender string
	// Header is Raw's header section parsed by net/mail, including the
	// headers Postfix added; nil when it does not parse.
	Header mail.Header
	// Body is everything after the first empty line, in wire form (CRLF).
	Body []byte
	// Delivered is the delivery time recorded in the Maildir file name.
	Delivered time.Time
}

// BodyBytes returns m.Body: the message body in wire form (CRLF).
func (m Message) BodyBytes() []byte { return m.Body }

// Wire returns Raw in wire form: every LF becomes CRLF. A line stored as
// "a\r" (sent as "a\r\r\n") comes back as sent.
func (m Message) Wire() []byte { return toCRLF(m.Raw) }

// Since returns the message in wire form from the first line that starts
// with marker, or nil when no line does. To start at the gateway's own
// trace header, use "Received: from " plus the EHLO name the test's client
// gave the gateway: Postfix's Received header above it names the gateway's
// EHLO name instead. Relayed does the same without a marker.
func (m Message) Since(marker string) []byte {
	if marker == "" {
		return nil
	}
	for off := 0; off < len(m.Raw); {
		if bytes.HasPrefix(m.Raw[off:], []byte(marker)) {
			return toCRLF(m.Raw[off:])
		}
		nl := bytes.IndexByte(m.Raw[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	return nil
}

// Relayed returns the message in wire form as the client that relayed it
// into Postfix (the gateway) sent it: Raw without the Return-Path,
// X-Original-To and Delivered-To headers virtual(8) prepended and without
// the Received header Postfix's smtpd(8) prepended (RFC 5321 §4.4). If the
// first remaining header is not a Received header "by ... (Postfix)", it is
// kept, so a comparison shows what is there.
func (m Message) Relayed() []byte {
	_, rest := deliveryHeaders(m.Raw)
	name, field, after := nextField(rest)
	if strings.EqualFold(name, "Received") && bytes.Contains(field, []byte("(Postfix)")) {
		rest = after
	}
	return toCRLF(rest)
}

// deliveryHeaders reads the leading Return-Path, X-Original-To and
// Delivered-To lines of a Maildir file and returns their values (by
// lowercase name) and the bytes after them.
func deliveryHeaders(raw []byte) (map[string]string, []byte) {
	vals := map[string]string{}
	for {
		name, field, after := nextField(raw)
		key := strings.ToLower(name)
		switch key {
		case "return-path", "x-original-to", "delivered-to":
		default:
			return vals, raw
		}
		if _, seen := vals[key]; seen {
			// A second Delivered-To belongs to the message itself.
			return vals, raw
		}
		v := strings.TrimSpace(string(field[len(name)+1:]))
		vals[key] = v
		raw = after
	}
}

// nextField splits the header field at the start of b (with its folded
// continuation lines, RFC 5322 §2.2.3) from the rest. name is "" when b does
// not start with a header field.
func nextField(b []byte) (name string, field, rest []byte) {
	colon := bytes.IndexByte(b, ':')
	nl := bytes.IndexByte(b, '\n')
	if colon <= 0 || (nl >= 0 && nl < colon) || bytes.ContainsAny(b[:colon], " \t") {
		return "", nil, b
	}
	end := len(b)
	for off := colon; ; {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			break
		}
		next := off + i + 1
		if next >= len(b) || (b[next] != ' ' && b[next] != '\t') {
			end = next
			break
		}
		off = next
	}
	return string(b[:colon]), b[:end], b[end:]
}

// toCRLF turns every LF into CRLF.
func toCRLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// parseMessage builds a Message from a Maildir file's path and content.
func parseMessage(path string, raw []byte, modTime time.Time) Message {
	m := Message{Path: path, Raw: raw, Delivered: modTime}
	vals, _ := deliveryHeaders(raw)
	m.Recipient = vals["delivered-to"]
	m.OriginalRecipient = vals["x-original-to"]
	m.Sender = strings.TrimSuffix(strings.TrimPrefix(vals["return-path"], "<"), ">")
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header = msg.Header
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		m.Body = toCRLF(raw[i+2:])
	}
	if d, ok := maildirTime(filepath.Base(path)); ok {
		m.Delivered = d
	}
	return m
}

// maildirName matches the unique names virtual(8) gives Maildir files:
// "SECONDS.VdevIinodeMmicroseconds.host".
var maildirName = regexp.MustCompile(`^([0-9]+)\.V[0-9a-f]+I[0-9a-f]+M([0-9]+)\.`)

// maildirTime returns the delivery time encoded in a Maildir file name.
func maildirTime(name string) (time.Time, bool) {
	m := maildirName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	sec, err1 := strconv.ParseInt(m[1], 10, 64)
	usec, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || usec >= 1e6 {
		return time.Time{}, false
	}
	return time.Unix(sec, usec*1e3), true
}

// readMaildirs returns every message in the new and cur directories of the
// Maildirs directly under base, sorted by delivery time, then path.
func readMaildirs(base string) ([]Message, error) {
	var files []string
	for _, sub := range []string{"new", "cur"} {
		found, err := filepath.Glob(filepath.Join(base, "*", sub, "*"))
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	msgs := make([]Message, 0, len(files))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, parseMessage(f, raw, fi.ModTime()))
	}
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].Delivered.Equal(msgs[j].Delivered) {
			return msgs[i].Delivered.Before(msgs[j].Delivered)
		}
		return msgs[i].Path < msgs[j].Path
	})
	return msgs, nil
}

// Messages returns every message the instance has delivered so far, sorted
// by delivery time.
func (p *Postfix) Messages(t testing.TB) []Message {
	t.Helper()
	msgs, err := readMaildirs(p.l.mail)
	if err != nil {
		t.Fatalf("Postfix.Messages: %v", err)
	}
	return msgs
}

// WaitMessages polls until the instance has delivered at least n messages
// and returns them all; after timeout it fails the test with the count and
// the maillog tail.
func (p *Postfix) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := p.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix.WaitMessages: %d of %d messages delivered by %s after %v; maillog (tail):\n%s",
				len(msgs), n, p.addr, timeout, tail(p.readLog(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

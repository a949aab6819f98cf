package message

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// foldAt is the line length header fields are folded to when possible
// (RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters).
const foldAt = 78

// Limits on client-supplied values put into a trace field, so a hostile
// HELO or address cannot make a field arbitrarily long.
const (
	maxDomain  = 255 // RFC 5321 §4.5.3.1.2
	maxPath    = 256 // RFC 5321 §4.5.3.1.3
	maxComment = 64
)

// TraceInfo is what the gateway knows about one message's arrival, for its
// Received field.
type TraceInfo struct {
	HELO      string     // the name the client gave in HELO/EHLO, as sent
	ClientIP  netip.Addr // the client's address; zero when unknown
	ClientPTR string     // the client's verified reverse DNS name, or ""
	Hostname  string     // the gateway's own host name
	Protocol  string     // SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848)
	ID        string     // the gateway's id for this message, for the logs
	For       string     // the one recipient, or "" when there are several
	TLS       string     // e.g. "TLS1.3 TLS_AES_128_GCM_SHA256", or ""
	Time      time.Time  // when the message arrived; zero means now
}

// Received returns the Received trace field for t (RFC 5321 §4.4), folded
// to lines of at most 78 characters where possible and ending in CRLF:
//
//	Received: from helo.example (ptr.example [192.0.2.7])
//		by mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1
//		(TLS1.3 TLS_AES_128_GCM_SHA256)
//		for <rcpt@example.com>; Tue, 24 Nov 2026 05:42:19 +0000
//
// Every value is sanitized, none can add a line of its own. A HELO that is
// not a domain or an address literal is shown as "unknown", followed by a
// comment holding its printable characters, e.g. "(helo=bad?name)".
func Received(t TraceInfo) []byte {
	from := []string{"from " + orUnknown(domainOrLiteral(t.HELO))}
	if tcp := tcpInfo(t.ClientIP, t.ClientPTR); tcp != "" {
		from = append(from, "("+tcp+")")
	}
	if t.HELO != "" && domainOrLiteral(t.HELO) == "" {
		from = append(from, "(helo="+commentText(t.HELO, maxComment, false)+")")
	}

	proto := atom(t.Protocol, 16)
	if proto == "" {
		proto = "SMTP"
	}
	by := []string{"by " + orUnknown(domainOrLiteral(t.Hostname)), "(gateway)", "with " + proto}
	if id := atom(t.ID, maxComment); id != "" {
		by = append(by, "id "+id)
	}

	groups := [][]string{from, by}
	if t.TLS != "" {
		groups = append(groups, []string{"(" + commentText(t.TLS, maxComment, true) + ")"})
	}

	when := t.Time
	if when.IsZero() {
		when = time.Now()
	}
	date := when.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	if t.For != "" {
		groups = append(groups, []string{"for <" + mailbox(t.For) + ">;", date})
	} else {
		last := groups[len(groups)-1]
		last[len(last)-1] += ";"
		groups = append(groups, []string{date})
	}

	f := folder{tab: true}
	f.start("Received:")
	for _, g := range groups {
		f.newLine()
		for _, tok := range g {
			f.add(" ", tok)
		}
	}
	return f.finish()
}

// Field returns "Name: value" and CRLF, folded at white space to lines of
// at most 78 characters where possible (RFC 5322 §2.2.3). CR, LF and other
// control characters in value become spaces or '?', and trailing white
// space is dropped, so value cannot end the field early; characters that
// may not appear in a field name (RFC 5322 §3.6.8) become '-'.
func Field(name, value string) []byte {
	var f folder
	f.start(fieldNameText(name) + ":")
	v := strings.TrimRight(unstructured(value), " \t")
	// Split v into words, each with the white space before it, and fold
	// only before a word's white space: a continuation line then always
	// holds more than white space.
	first := true
	for len(v) > 0 {
		ws := len(v) - len(strings.TrimLeft(v, " \t"))
		end := strings.IndexAny(v[ws:], " \t")
		if end < 0 {
			end = len(v) - ws
		}
		space, word := v[:ws], v[ws:ws+end]
		if first && space == "" {
			space = " "
		}
		if first {
			f.glue(space, word)
		} else {
			f.add(space, word)
		}
		first = false
		v = v[ws+end:]
	}
	return f.finish()
}

// folder builds a header field line by line.
type folder struct {
	b       []byte
	lineLen int  // length of the current line
	empty   bool // the current line holds nothing after its lead
	tab     bool // continuation lines begin with a TAB instead of the space before the token
}

func (f *folder) start(lead string) {
	f.b = append(f.b[:0], lead...)
	f.lineLen, f.empty = len(lead), true
}

// newLine starts a continuation line, unless the field has nothing yet.
func (f *folder) newLine() {
	if f.empty {
		return
	}
	f.b = append(f.b, "\r\n"...)
	f.lineLen, f.empty = 0, true
}

// add appends sep and tok, folding before sep when the line would grow
// past foldAt; a line never breaks inside tok.
func (f *folder) add(sep, tok string) {
	if !f.empty && f.lineLen+len(sep)+len(tok) > foldAt {
		f.b = append(f.b, "\r\n"...)
		f.lineLen = 0
	}
	if f.lineLen == 0 && f.tab {
		sep = "\t"
	}
	f.glue(sep, tok)
}

// glue appends sep and tok to the current line without folding.
func (f *folder) glue(sep, tok string) {
	f.b = append(f.b, sep...)
	f.b = append(f.b, tok...)
	f.lineLen += len(sep) + len(tok)
	f.empty = false
}

func (f *folder) finish() []byte {
	return append(f.b, "\r\n"...)
}

// domainOrLiteral returns s when it is a domain (letters, digits, '-',
// '_' and dots) or an address literal such as "[192.0.2.7]" or
// "[IPv6:2001:db8::1]", and "" otherwise.
func domainOrLiteral(s string) string {
	if s == "" || len(s) > maxDomain {
		return ""
	}
	if s[0] == '[' {
		if len(s) < 3 || s[len(s)-1] != ']' {
			return ""
		}
		for i := 1; i < len(s)-1; i++ {
			if c := s[i]; !isAlnum(c) && c != '.' && c != ':' {
				return ""
			}
		}
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return ""
		}
	}
	if s[0] == '.' || strings.Contains(s, "..") {
		return ""
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// tcpInfo renders the TCP-info of RFC 5321 §4.4: "ptr [192.0.2.7]",
// "unknown [IPv6:2001:db8::1]" without a verified name, or "" when the
// address is unknown.
func tcpInfo(ip netip.Addr, ptr string) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	lit := "[" + ip.String() + "]"
	if ip.Is6() {
		lit = "[IPv6:" + ip.WithZone("").String() + "]"
	}
	name := domainOrLiteral(strings.TrimSuffix(ptr, "."))
	if strings.HasPrefix(name, "[") {
		name = ""
	}
	return orUnknown(name) + " " + lit
}

// commentText makes s safe inside a header comment: printable ASCII
// without parentheses or backslash (RFC 5322 §3.2.2 ctext), other bytes
// replaced by '?', at most limit bytes. Spaces are kept only when
// keepSpace is set.
func commentText(s string, limit int, keepSpace bool) string {
	if len(s) > limit {
		s = s[:limit]
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == ' ' && keepSpace:
		case c < 33 || c > 126 || c == '(' || c == ')' || c == '\\':
			b[i] = '?'
		}
	}
	return string(b)
}

// atom keeps only letters, digits and ".-_" of s, at most limit bytes: for
// values such as the protocol name and the message id that the gateway
// sets itself but that must not break the field either.
func atom(s string, limit int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < limit; i++ {
		if c := s[i]; isAlnum(c) || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mailbox makes an envelope address safe between angle brackets: controls,
// white space, "<>();" become '?', so a parser can find neither the end of
// the path, a comment, nor the ';' before the date in it; UTF-8 (RFC 6532)
// is kept when valid.
func mailbox(s string) string {
	if len(s) > maxPath {
		s = s[:maxPath]
	}
	valid := utf8.ValidString(s)
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c == 127 || strings.IndexByte("<>();", c) >= 0 || c > 127 && !valid {
			b[i] = '?'
		}
	}
	return string(b)
}

// unstructured makes s safe as an unstructured field body: CR, LF and TAB
// become spaces, other controls '?'. UTF-8 (RFC 6532) is left alone.
func unstructured(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '\r' || c == '\n' || c == '\t':
			b[i] = ' '
		case c < 32 || c == 127:
			b[i] = '?'
		}
	}
	return string(b)
}

// fieldNameText makes s a valid field name (RFC 5322 §3.6.8: printable
// ASCII except ':').
func fieldNameText(s string) string {
	if s == "" {
		return "X-Unnamed"
	}
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 || c == ':' {
			b[i] = '-'
		}
	}
	return string(b)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

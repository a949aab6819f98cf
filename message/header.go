package message

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
)

// headerChunk is the most of one header line the rewriter holds at a time.
// A longer line is handled in pieces; only the field name must fall within
// the first piece (RFC 5322 §2.1.1 limits a whole line to 998 characters).
const headerChunk = 4 << 10

// NewHeaderRewriter returns a reader that yields prepend, then the message
// read from r with some fields of its header section removed.
//
// The header section ends at the first empty line (RFC 5322 §2.1). Each
// field there is a line that does not begin with white space plus the
// continuation lines that do (RFC 5322 §2.2.3, unfolding); a field is
// removed, continuation lines included, when drop returns true for its
// name in canonical form (textproto.CanonicalMIMEHeaderKey, e.g.
// "Authentication-Results"). drop may be nil to remove nothing. Fields
// kept, the empty line and the body pass byte for byte; after the header
// section the reader copies straight from r.
//
// Memory is bounded: lines are handled in pieces of 4 KiB. A line whose
// field name (the text before ':') does not fit in the first piece, or a
// line without ':', is not a field the rewriter can match and is passed on
// unchanged. A message without an empty line is all header.
//
// A message whose first line begins with a space or a tab is refused: the
// reader fails with a *FilterError of kind KindFoldedFirstLine after
// prepend. That line would be a continuation line (RFC 5322 §2.2.3) and
// join the last field of prepend, the gateway's own Received field; a
// header section cannot start with one (RFC 5322 §2.2, §3.5). A
// continuation line after a removed field goes with it, so nothing the
// client sends can join a field the gateway writes.
//
// prepend is not copied; the caller must not change it while reading.
func NewHeaderRewriter(r io.Reader, prepend []byte, drop func(name string) bool) io.Reader {
	return &headerRewriter{
		src:      r,
		br:       bufio.NewReaderSize(r, headerChunk),
		pending:  prepend,
		drop:     drop,
		inHeader: true,
	}
}

// DropNames returns a drop function for NewHeaderRewriter that matches the
// given field names case-insensitively, e.g.
// DropNames("Authentication-Results", "X-HELO-Check").
func DropNames(names ...string) func(name string) bool {
	names = append([]string(nil), names...)
	return func(name string) bool {
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
}

type headerRewriter struct {
	src      io.Reader
	br       *bufio.Reader
	pending  []byte // output not yet returned: prepend, or a line in br's buffer
	drop     func(string) bool
	inHeader bool
	midLine  bool // the last piece read did not end its line
	dropping bool // the current field is being removed
	started  bool // something was read from the source
	lines    int  // header lines begun so far
	err      error
}

// Read implements io.Reader.
func (h *headerRewriter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.pending) > 0 {
			c := copy(p[n:], h.pending)
			h.pending = h.pending[c:]
			n += c
			continue
		}
		if h.err != nil {
			break
		}
		if !h.inHeader {
			if n > 0 {
				// Add the body bytes already at hand (no blocking): one
				// write downstream instead of two.
				if h.br.Buffered() > 0 {
					c, _ := h.br.Read(p[n:])
					n += c
				}
				break
			}
			return h.readBody(p)
		}
		if n > 0 && h.br.Buffered() == 0 && h.started {
			// Do not block on the source while holding its output. (The
			// prepended fields alone are worth waiting for: the first
			// write downstream then carries the message's start too.)
			break
		}
		h.started = true
		line, err := h.br.ReadSlice('\n')
		if len(line) > 0 {
			var herr error
			h.pending, herr = h.header(line, err == bufio.ErrBufferFull)
			if herr != nil {
				h.err = herr
				continue
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			h.err = err
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, h.err
}

// readBody passes the body on: first what br still holds, then straight
// from the source.
func (h *headerRewriter) readBody(p []byte) (int, error) {
	var n int
	var err error
	if h.br.Buffered() > 0 {
		n, err = h.br.Read(p)
	} else {
		n, err = h.src.Read(p)
	}
	if err != nil {
		h.err = err
	}
	return n, err
}

// header decides about one piece of a header line and returns what to
// emit: the piece or nothing, or an error that refuses the message.
func (h *headerRewriter) header(line []byte, partial bool) ([]byte, error) {
	if !h.midLine {
		h.lines++
		switch {
		case isEmptyLine(line):
			// "\n" or "\r\n": the empty line that ends the header section.
			h.inHeader, h.dropping = false, false
			return line, nil
		case (line[0] == ' ' || line[0] == '\t') && h.lines == 1:
			// It would continue the last field prepended.
			return nil, &FilterError{Kind: KindFoldedFirstLine, Offset: 0, Line: 1}
		case line[0] == ' ' || line[0] == '\t':
			// A continuation line belongs to the field before it.
		default:
			name := fieldName(line)
			h.dropping = name != "" && h.drop != nil && h.drop(textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	h.midLine = partial
	if h.dropping {
		return nil, nil
	}
	return line, nil
}

// isEmptyLine reports whether line is "\n" or "\r\n".
func isEmptyLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// fieldName returns the name of the field that line starts, or "" when it
// does not start one: no ':' in it, or characters a field name may not
// hold (RFC 5322 §3.6.8 ftext; white space before the colon is the
// obsolete syntax of §4.5 and is allowed).
func fieldName(line []byte) string {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return ""
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return ""
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return ""
		}
	}
	return string(name)
}

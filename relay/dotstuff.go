package relay

import (
	"bytes"
	"io"
)

// dotStuffer writes a message body to the downstream connection in bulk,
// doing what crlfGuard in front of textproto's DotWriter does byte by byte:
// every line ending becomes CRLF (a bare CR or bare LF included, so no
// downstream can see an end of data that we did not send: SMTP smuggling),
// and a line starting with "." gets a second one (RFC 5321 §4.5.2).
//
// The final CRLF of what was written so far is held back (pending), so that
// the caller can hand it to go-smtp's data writer at the end: that writer
// then knows it is at the start of a line and ends the message with exactly
// ".\r\n". Everything else goes straight to w, in chunks as large as the
// caller's reads, instead of one bufio call per byte.
type dotStuffer struct {
	w         io.Writer
	out       []byte // scratch, reused
	lineStart bool   // the next byte starts a line
	afterCR   bool   // the last byte was a CR (already written as CRLF)
	pending   bool   // a CRLF is held back
}

func newDotStuffer(w io.Writer, scratch []byte) *dotStuffer {
	return &dotStuffer{w: w, out: scratch[:0], lineStart: true}
}

var crlf = []byte("\r\n")

// Write stuffs p and writes all of it but a final CRLF.
func (d *dotStuffer) Write(p []byte) (int, error) {
	n := len(p)
	out := d.out[:0]
	if d.pending {
		out = append(out, crlf...)
		d.pending = false
	}
	for len(p) > 0 {
		if d.afterCR {
			d.afterCR = false
			if p[0] == '\n' {
				p = p[1:] // the LF of a CRLF whose CR went out as CRLF
				continue
			}
		}
		if d.lineStart {
			d.lineStart = false
			if p[0] == '.' {
				out = append(out, '.')
			}
		}
		// The rest of this line, up to its CR or LF (two vectorized
		// scans beat one byte-by-byte IndexAny).
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			out = append(out, p...)
			break
		}
		out = append(out, p[:i]...)
		out = append(out, crlf...)
		d.lineStart = true
		d.afterCR = p[i] == '\r'
		p = p[i+1:]
	}
	if bytes.HasSuffix(out, crlf) {
		out = out[:len(out)-2]
		d.pending = true
	}
	d.out = out
	if len(out) == 0 {
		return n, nil
	}
	if _, err := d.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// Pending reports whether a final CRLF is held back.
func (d *dotStuffer) Pending() bool { return d.pending }

package message

import (
	"fmt"
	"io"
)

// Mode says what a Filter does with one kind of suspicious byte.
type Mode int

// The modes a Filter knows. LineEndings takes Reject or Normalize; NUL takes
// Reject or Strip. Any other value is treated as Reject, the safe choice.
const (
	// Reject stops the stream with a *FilterError at the first offending byte.
	Reject Mode = iota
	// Normalize turns a bare LF or a bare CR into CRLF.
	Normalize
	// Strip removes NUL bytes.
	Strip
)

// String names the mode for logs and configuration messages.
func (m Mode) String() string {
	switch m {
	case Reject:
		return "reject"
	case Normalize:
		return "normalize"
	case Strip:
		return "strip"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// FilterOptions chooses what a Filter does with bare line endings and NULs.
// The zero value rejects both.
type FilterOptions struct {
	LineEndings Mode // Reject or Normalize
	NUL         Mode // Reject or Strip
	// MaxLineLength is the longest line allowed, in bytes without its line
	// ending (a stripped NUL does not count); a longer one stops the stream
	// with a *FilterError of KindLongLine. 0: no limit.
	MaxLineLength int
}

// FilterStats counts what a Filter has seen so far.
type FilterStats struct {
	Bytes  int64 // bytes read from the source: the message as the client sent it
	BareLF int64 // LF not preceded by CR (normalized or, in Reject mode, the one refused)
	BareCR int64 // CR not followed by LF
	NUL    int64 // NUL bytes stripped
}

// Kinds of FilterError, stable strings for logs and metrics.
const (
	KindBareLF = "bare_lf"
	KindBareCR = "bare_cr"
	KindNUL    = "nul"
	// KindLongLine: a line longer than FilterOptions.MaxLineLength.
	KindLongLine = "data_line_length"
	// KindFoldedFirstLine: the message starts with a line beginning with
	// white space (NewHeaderRewriter refuses it).
	KindFoldedFirstLine = "folded_first_line"
)

// FilterError reports the first byte a Filter in Reject mode refused, or
// the line NewHeaderRewriter refused.
type FilterError struct {
	Kind   string // KindBareLF, KindBareCR, KindNUL or KindFoldedFirstLine
	Offset int64  // offset of the byte in the source, from 0
	Line   int    // line of the byte, from 1
}

// Error describes the refused byte and where it was.
func (e *FilterError) Error() string {
	what := e.Kind
	switch e.Kind {
	case KindBareLF:
		what = "bare LF"
	case KindBareCR:
		what = "bare CR"
	case KindNUL:
		what = "NUL byte"
	case KindLongLine:
		what = "line too long"
	case KindFoldedFirstLine:
		what = "folded header line first"
	}
	return fmt.Sprintf("message: %s at line %d (byte %d)", what, e.Line, e.Offset)
}

// filterBufSize is the Filter's read buffer: large enough that a Read from
// a network source moves a useful amount, small enough to keep per-session
// memory low.
const filterBufSize = 16 << 10

// maxEmptyReads bounds how often a source may return (0, nil) in a row
// before Read gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Filter is an io.Reader that passes a DATA body on with CRLF line endings
// only (RFC 5321 §2.3.8) and, as configured, without NULs. Bytes it has
// returned before a *FilterError are CRLF-only too, but the message as a
// whole must be discarded when Read fails: relay does so by never sending
// the final dot.
//
// A Filter uses a fixed buffer and does not allocate per Read.
type Filter struct {
	src  io.Reader
	opts FilterOptions
	buf  []byte
	r, w int

	afterCR bool  // the last line-ending byte consumed was a CR; its LF may follow
	crOff   int64 // offset and line of that CR, for a bare-CR error
	crLine  int
	carryLF bool // the LF of an emitted CRLF did not fit in the caller's buffer
	line    int  // current line, from 1
	lineLen int  // bytes of the current line so far, line ending excluded

	stats  FilterStats
	srcErr error // the source's error (io.EOF included), acted on once buf is drained
	err    error // what Read returns once nothing is left: io.EOF, srcErr or a *FilterError
}

// NewFilter returns a Filter reading the DATA body from r.
func NewFilter(r io.Reader, o FilterOptions) *Filter {
	return &Filter{src: r, opts: o, buf: make([]byte, filterBufSize), line: 1}
}

// Stats returns the counts so far.
func (f *Filter) Stats() FilterStats {
	return f.stats
}

// Read implements io.Reader. In Reject mode it returns a *FilterError as
// soon as an offending byte is seen, together with the bytes before it. An
// error of the source is returned unchanged, so errors.Is works on it.
func (f *Filter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if f.carryLF {
		p[0] = '\n'
		n, f.carryLF = 1, false
	}
	for n < len(p) && f.err == nil {
		if f.r == f.w {
			if f.srcErr != nil {
				f.finish()
				break
			}
			if n > 0 {
				break // return what we have rather than block on the source
			}
			f.fill()
			continue
		}
		n += f.process(p[n:])
	}
	if _, bad := f.err.(*FilterError); bad {
		return n, f.err
	}
	if n > 0 {
		return n, nil
	}
	return 0, f.err
}

// fill reads the next chunk of the source into buf.
func (f *Filter) fill() {
	for range maxEmptyReads {
		m, err := f.src.Read(f.buf)
		f.r, f.w, f.srcErr = 0, m, err
		if m > 0 || err != nil {
			return
		}
	}
	f.srcErr = io.ErrNoProgress
}

// finish handles the end of the source: a CR that ended the stream had no
// LF after it, so it was bare.
func (f *Filter) finish() {
	if f.srcErr == io.EOF && f.afterCR {
		f.afterCR = false
		if f.opts.LineEndings != Normalize {
			f.err = &FilterError{Kind: KindBareCR, Offset: f.crOff, Line: f.crLine}
			return
		}
		f.stats.BareCR++
	}
	f.err = f.srcErr
}

// process moves bytes from buf to out, converting line endings, and returns
// how many it wrote. It stops when out is full, buf is empty or a byte is
// refused.
func (f *Filter) process(out []byte) int {
	in := f.buf[f.r:f.w]
	base := f.stats.Bytes // source offset of in[0]
	i, o := 0, 0
loop:
	for i < len(in) && o < len(out) {
		c := in[i]
		if c != '\r' && c != '\n' && c != 0 {
			if f.afterCR && !f.bareCR() {
				break
			}
			// Copy the run of ordinary bytes in one go: the common case.
			lim := min(len(in), i+len(out)-o)
			j := i + 1
			for j < lim {
				if c := in[j]; c == '\r' || c == '\n' || c == 0 {
					break
				}
				j++
			}
			if lim := f.opts.MaxLineLength; lim > 0 && f.lineLen+(j-i) > lim {
				// Pass on the part within the limit; the rest is refused.
				j = i + lim - f.lineLen
				o += copy(out[o:], in[i:j])
				i = j
				f.err = &FilterError{Kind: KindLongLine, Offset: base + int64(i), Line: f.line}
				break loop
			}
			f.lineLen += j - i
			o += copy(out[o:], in[i:j])
			i = j
			continue
		}
		switch c {
		case 0:
			// A NUL is removed before line endings are looked at, so
			// "\r\x00\n" with Strip is one CRLF.
			if f.opts.NUL != Strip {
				f.err = &FilterError{Kind: KindNUL, Offset: base + int64(i), Line: f.line}
				break loop
			}
			f.stats.NUL++
			i++
		case '\r':
			if f.afterCR && !f.bareCR() {
				break loop
			}
			// Emit CRLF now; the LF of the source, if it follows, is
			// swallowed. In Reject mode a CR that turns out bare is
			// refused before anything after it is emitted.
			o += f.emitCRLF(out[o:])
			f.afterCR, f.crOff, f.crLine = true, base+int64(i), f.line
			f.line++
			f.lineLen = 0
			i++
		case '\n':
			i++
			if f.afterCR {
				f.afterCR = false
				continue
			}
			if f.opts.LineEndings != Normalize {
				i--
				f.err = &FilterError{Kind: KindBareLF, Offset: base + int64(i), Line: f.line}
				break loop
			}
			f.stats.BareLF++
			o += f.emitCRLF(out[o:])
			f.line++
			f.lineLen = 0
		}
	}
	f.r += i
	f.stats.Bytes += int64(i)
	return o
}

// bareCR records that the pending CR had no LF after it. It reports false
// (and sets the error) when bare CRs are rejected.
func (f *Filter) bareCR() bool {
	f.afterCR = false
	if f.opts.LineEndings != Normalize {
		f.err = &FilterError{Kind: KindBareCR, Offset: f.crOff, Line: f.crLine}
		return false
	}
	f.stats.BareCR++
	return true
}

// emitCRLF writes CRLF to out (len(out) ≥ 1), carrying the LF over to the
// next Read when only one byte is left.
func (f *Filter) emitCRLF(out []byte) int {
	out[0] = '\r'
	if len(out) < 2 {
		f.carryLF = true
		return 1
	}
	out[1] = '\n'
	return 2
}

package message

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// wrapReader picks one of the readers by the fuzzer's choice.
func wrapReader(r io.Reader, how uint8) io.Reader {
	return readers[int(how)%len(readers)].wrap(r)
}

// firstBare is the reference for Reject mode with NULs stripped: the kind,
// source offset and line of the first bare CR or LF, or kind "".
func firstBare(in []byte) (kind string, offset int64, line int) {
	var s []byte
	var offs []int64
	for i, c := range in {
		if c != 0 {
			s = append(s, c)
			offs = append(offs, int64(i))
		}
	}
	line = 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r':
			if i+1 == len(s) || s[i+1] != '\n' {
				return KindBareCR, offs[i], line
			}
			line++
			i++
		case '\n':
			return KindBareLF, offs[i], line
		}
	}
	return "", 0, 0
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"a\r\nb\r\n", "a\n.\nMAIL FROM:<x>\n", "a\r.\rb", "a\r\n.\rb", "a\r.\r\nb",
		"\r", "\n", "\r\r\n", "\x00\r\x00\n", "x\r\n.\r\n", "",
	} {
		f.Add([]byte(s), uint8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, how, size uint8) {
		bufSize := int(size % 8) // 0 means io.ReadAll
		// Normalize: output is the reference normalization, CRLF-only,
		// and its length is accounted for by the counts.
		nf := NewFilter(wrapReader(bytes.NewReader(in), how), FilterOptions{LineEndings: Normalize, NUL: Strip})
		out, err := readAll(nf, bufSize)
		if err != nil {
			t.Fatalf("normalize: %v", err)
		}
		if i := bareEOL(out); i >= 0 {
			t.Fatalf("normalize output has a bare line ending at %d: %q", i, out)
		}
		if want := normalizeRef(in, true); !bytes.Equal(out, want) {
			t.Fatalf("normalize output %q, want %q", out, want)
		}
		s := nf.Stats()
		if s.Bytes != int64(len(in)) {
			t.Fatalf("Bytes %d, want %d", s.Bytes, len(in))
		}
		if got := s.Bytes - s.NUL + s.BareLF + s.BareCR; got != int64(len(out)) {
			t.Fatalf("output %d bytes, counts account for %d (%+v)", len(out), got, s)
		}

		// Reject: an error exactly when the reference finds a bare line
		// ending, at the same place.
		rf := NewFilter(wrapReader(bytes.NewReader(in), how), FilterOptions{LineEndings: Reject, NUL: Strip})
		out, err = readAll(rf, bufSize)
		if i := bareEOL(out); i >= 0 {
			t.Fatalf("reject output has a bare line ending at %d: %q", i, out)
		}
		kind, off, line := firstBare(in)
		var fe *FilterError
		switch {
		case kind == "" && err != nil:
			t.Fatalf("reject: error %v, reference finds nothing", err)
		case kind != "" && !errors.As(err, &fe):
			t.Fatalf("reject: error %v, reference finds %s at %d", err, kind, off)
		case kind != "" && (fe.Kind != kind || fe.Offset != off || fe.Line != line):
			t.Fatalf("reject: %+v, reference finds %s at %d line %d", fe, kind, off, line)
		}
	})
}

func FuzzHeaderRewriter(f *testing.F) {
	for _, s := range []string{
		"From: a@b\r\nAuthentication-Results: x\r\n\ty\r\nSubject: s\r\n\r\nbody\r\n",
		"X-HELO-Check: pass\r\n\r\n",
		"no separator",
		"\r\n\r\n",
		" continuation first\r\n\r\n",
		"A: b\nAuthentication-Results: x\n\nbody",
	} {
		f.Add([]byte(s), uint8(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, how, size uint8) {
		prepend := []byte("Received: by test\r\n")
		r := NewHeaderRewriter(wrapReader(bytes.NewReader(in), how), prepend, dropAuth)
		out, err := readAll(r, int(size%8))
		if len(in) > 0 && (in[0] == ' ' || in[0] == '\t') {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Kind != KindFoldedFirstLine || !bytes.Equal(out, prepend) {
				t.Fatalf("folded first line: output %q, error %v; want the prepend and %s", out, err, KindFoldedFirstLine)
			}
			return
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if want := rewriteRef(in, prepend, dropAuth); !bytes.Equal(out, want) {
			t.Fatalf("output %q, want %q", out, want)
		}
		if body, ok := bodyOf(in); ok && !bytes.HasSuffix(out, body) {
			t.Fatalf("body %q not preserved in %q", body, out)
		}
	})
}

// bodyOf returns what follows the first empty line of in (RFC 5322 §2.1),
// found without the line-by-line logic of the rewriter.
func bodyOf(in []byte) ([]byte, bool) {
	for _, sep := range []string{"\r\n", "\n"} {
		if bytes.HasPrefix(in, []byte(sep)) {
			return in[len(sep):], true
		}
	}
	crlf := bytes.Index(in, []byte("\n\r\n"))
	lf := bytes.Index(in, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return in[crlf+3:], true
	case lf >= 0:
		return in[lf+2:], true
	}
	return nil, false
}

// TestFuzzReaderWrap keeps wrapReader honest: every choice must deliver
// the bytes unchanged.
func TestFuzzReaderWrap(t *testing.T) {
	for how := range uint8(len(readers)) {
		got, err := io.ReadAll(wrapReader(bytes.NewReader([]byte("abc")), how))
		if err != nil || string(got) != "abc" {
			t.Errorf("reader %d: %q, %v", how, got, err)
		}
	}
}

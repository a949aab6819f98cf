package relay

import (
	"bytes"
	"io"
	"testing"
)

func TestCRLFGuard(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "CRLF untouched", in: "a\r\nb\r\n", want: "a\r\nb\r\n"},
		{name: "bare CR mid-line", in: "a\rb", want: "a\r\nb"},
		{name: "CR CR LF", in: "a\r\r\nb", want: "a\r\n\r\nb"},
		{name: "bare CR at the end", in: "a\r", want: "a\r\n"},
		{name: "CR dot CR", in: "x\r.\ry", want: "x\r\n.\r\ny"},
		{name: "bare LF left to the dot writer", in: "a\nb", want: "a\nb"},
		{name: "empty", in: "", want: ""},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 1000} {
			t.Run(tc.name, func(t *testing.T) {
				var out bytes.Buffer
				g := &crlfGuard{w: &out}
				in := []byte(tc.in)
				for len(in) > 0 {
					n := min(chunk, len(in))
					if m, err := g.Write(in[:n]); err != nil || m != n {
						t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
					}
					in = in[n:]
				}
				if err := g.Close(); err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.want {
					t.Errorf("chunks of %d: %q, want %q", chunk, out.String(), tc.want)
				}
			})
		}
	}
}

// crlfGuard (the reference dotStuffer is checked against) writes a message whose line endings should all be CRLF to the
// go-smtp data writer, turning any bare CR into CRLF. The data writer
// (textproto's DotWriter) dot-stuffs lines and turns bare LF into CRLF but
// passes a bare CR through, after which a line starting with "." would
// not be stuffed: an end of data for a downstream that takes a bare CR as
// a line end (SMTP smuggling). message.Filter makes this a no-op; the
// guard keeps relay safe on its own.
type crlfGuard struct {
	w  io.Writer
	cr bool // the last byte written was a CR
}

var lf = []byte{'\n'}

func (g *crlfGuard) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if g.cr && p[0] != '\n' {
		if _, err := g.w.Write(lf); err != nil {
			return 0, err
		}
	}
	g.cr = false
	start := 0
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\r')
		if j < 0 {
			break
		}
		i += j + 1
		if i == len(p) {
			g.cr = true
			break
		}
		if p[i] != '\n' {
			if _, err := g.w.Write(p[start:i]); err != nil {
				return start, err
			}
			if _, err := g.w.Write(lf); err != nil {
				return i, err
			}
			start = i
		}
	}
	if _, err := g.w.Write(p[start:]); err != nil {
		return start, err
	}
	return len(p), nil
}

// Close ends a message that stopped on a CR.
func (g *crlfGuard) Close() error {
	if !g.cr {
		return nil
	}
	g.cr = false
	_, err := g.w.Write(lf)
	return err
}

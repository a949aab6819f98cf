package relay

import (
	"bytes"
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

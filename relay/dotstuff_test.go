package relay

import (
	"bufio"
	"bytes"
	"net/textproto"
	"testing"
)

// referenceDATA is what the byte-by-byte path sends for body: crlfGuard in
// front of textproto's DotWriter, closed (which adds the end of data).
func referenceDATA(body []byte) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	dw := textproto.NewWriter(bw).DotWriter()
	g := &crlfGuard{w: dw}
	g.Write(body)
	g.Close()
	dw.Close()
	return out.Bytes()
}

// stuffedDATA is what Data sends now: the dotStuffer straight to the
// connection, the held-back CRLF through the DotWriter, then its Close.
func stuffedDATA(t testing.TB, body []byte, chunk int) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	d := newDotStuffer(&out, make([]byte, 0, 64))
	for in := body; len(in) > 0; {
		n := min(chunk, len(in))
		if m, err := d.Write(in[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
		}
		in = in[n:]
	}
	dw := textproto.NewWriter(bw).DotWriter()
	if d.Pending() {
		dw.Write(crlf)
	}
	dw.Close()
	return out.Bytes()
}

var dotStuffSeeds = []string{
	"",
	"a",
	"a\r\n",
	"Subject: x\r\n\r\nbody\r\n",
	".\r\n",
	"..\r\n.x\r\n",
	"a\r\n.\r\nMAIL FROM:<x@y>\r\n",
	"a\n.\nb\n",
	"a\r.\rb\r",
	"a\r\n.\rb",
	"a\r.\r\nb",
	"x\r",
	"\r\n",
	"\n.",
	"\r\r\n\n.",
	"no line end at all",
}

func TestDotStufferMatchesReference(t *testing.T) {
	for _, s := range dotStuffSeeds {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			got, want := stuffedDATA(t, []byte(s), chunk), referenceDATA([]byte(s))
			if !bytes.Equal(got, want) {
				t.Errorf("%q in chunks of %d:\n got %q\nwant %q", s, chunk, got, want)
			}
		}
	}
}

// The invariant behind the comparison: only CRLF line endings, and the
// only end of data is the final one.
func FuzzDotStuffer(f *testing.F) {
	for _, s := range dotStuffSeeds {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		got := stuffedDATA(t, body, int(chunk)+1)
		if want := referenceDATA(body); !bytes.Equal(got, want) {
			t.Fatalf("%q in chunks of %d:\n got %q\nwant %q", body, int(chunk)+1, got, want)
		}
		if i := bytes.Index(got, []byte("\r\n.\r\n")); i != len(got)-5 && !(i < 0 && bytes.Equal(got, []byte(".\r\n"))) {
			t.Fatalf("an end of data before the end: %q", got)
		}
	})
}

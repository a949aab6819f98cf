package message

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// sampleMessage returns a message of about size bytes: a header section
// with a forged Authentication-Results field, then CRLF text lines.
func sampleMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("Received: from a.example (a.example [192.0.2.1])\r\n\tby b.example with ESMTP id 1\r\n")
	b.WriteString("From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: benchmark\r\n")
	b.WriteString("Authentication-Results: forged.example;\r\n\tspf=pass smtp.mailfrom=example.com\r\n")
	b.WriteString("Message-ID: <1@example.com>\r\nDate: Tue, 24 Nov 2026 05:42:19 +0000\r\n\r\n")
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()[:size]
}

var benchSizes = []struct {
	name string
	size int
}{
	{"10KB", 10 << 10},
	{"1MB", 1 << 20},
}

// benchStream runs one sub-benchmark per size: a sample message read to
// its end through wrap(source). One op is one message.
func benchStream(b *testing.B, wrap func(src io.Reader) io.Reader) {
	for _, sz := range benchSizes {
		msg := sampleMessage(sz.size)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			src := bytes.NewReader(msg)
			buf := make([]byte, 32<<10)
			for b.Loop() {
				src.Reset(msg)
				if _, err := io.CopyBuffer(io.Discard, onlyReader{wrap(src)}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFilter(b *testing.B) {
	benchStream(b, func(src io.Reader) io.Reader {
		return NewFilter(src, FilterOptions{LineEndings: Normalize, NUL: Strip})
	})
}

func BenchmarkHeaderRewriter(b *testing.B) {
	if !strings.Contains(string(sampleMessage(1<<10)), "Authentication-Results") {
		b.Fatal("sample lacks the field to drop")
	}
	prepend := Field("X-HELO-Check", "pass")
	drop := DropNames("Authentication-Results", "X-HELO-Check")
	benchStream(b, func(src io.Reader) io.Reader { return NewHeaderRewriter(src, prepend, drop) })
}

// onlyReader hides WriterTo so io.CopyBuffer measures Read.
type onlyReader struct{ io.Reader }

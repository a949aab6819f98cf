package message

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDataPath measures what DATA does to every message on its way
// to the downstream: the smuggling filter (bare CR/LF, NUL) under the
// header rewriter that prepends the Received trace field and drops
// forgeable fields. One op is one message; MB/s and allocs per message.
func BenchmarkDataPath(b *testing.B) {
	info := TraceInfo{
		HELO: "mail.sender-lab.net", ClientIP: netip.MustParseAddr("192.0.2.7"), ClientPTR: "mail.sender-lab.net",
		Hostname: "mx.example.com", Protocol: "ESMTP", ID: "a1b2c3d4e5f6", For: "bob@example.org",
		Time: time.Date(2026, 11, 24, 5, 42, 19, 0, time.UTC),
	}
	drop := DropNames("Authentication-Results", "X-HELO-Check")
	benchStream(b, func(src io.Reader) io.Reader {
		prepend := append(Received(info), Field("X-HELO-Check", "pass")...)
		f := NewFilter(src, FilterOptions{LineEndings: Reject, NUL: Reject})
		return NewHeaderRewriter(f, prepend, drop)
	})
}

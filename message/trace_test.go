package message

import (
	"bufio"
	"bytes"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

var arrival = time.Date(2026, 11, 24, 5, 42, 19, 0, time.UTC)

// exampleTrace is the trace of the package documentation's example.
func exampleTrace() TraceInfo {
	return TraceInfo{
		HELO:      "helo.example",
		ClientIP:  netip.MustParseAddr("192.0.2.7"),
		ClientPTR: "ptr.example",
		Hostname:  "mx.example.com",
		Protocol:  "ESMTPS",
		ID:        "3f2a9c0b1e.1",
		For:       "rcpt@example.com",
		TLS:       "TLS1.3 TLS_AES_128_GCM_SHA256",
		Time:      arrival,
	}
}

// checkField verifies that b is exactly one well-formed header field
// called name: CRLF line endings only, continuation lines starting with
// white space and holding more than white space, and a MIME parser finding
// that one field and nothing else. It returns the value unfolded as RFC
// 5322 §2.2.3 says: CRLFs removed, nothing else.
func checkField(t *testing.T, b []byte, name string) string {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("field does not end in CRLF: %q", b)
	}
	if i := bareEOL(b); i >= 0 {
		t.Fatalf("bare line ending at %d: %q", i, b)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	if !strings.HasPrefix(lines[0], name+":") {
		t.Fatalf("first line %q does not start with %q", lines[0], name+":")
	}
	for _, l := range lines[1:] {
		if l == "" || l[0] != ' ' && l[0] != '\t' || strings.TrimSpace(l) == "" {
			t.Fatalf("bad continuation line %q in %q", l, b)
		}
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(b, "\r\n"...)))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("parse %q: %v", b, err)
	}
	if len(h) != 1 || len(h.Values(name)) != 1 {
		t.Fatalf("parsed %q as %v, want one %s field", b, h, name)
	}
	unfolded := strings.ReplaceAll(strings.TrimSuffix(string(b), "\r\n"), "\r\n", "")
	return strings.TrimLeft(strings.TrimPrefix(unfolded, name+":"), " \t")
}

// maxLine returns the length of the longest line of b.
func maxLine(b []byte) int {
	n := 0
	for _, l := range strings.Split(string(b), "\r\n") {
		n = max(n, len(l))
	}
	return n
}

func TestReceived(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*TraceInfo)
		want   string
	}{
		{
			name:   "the documented example",
			modify: func(*TraceInfo) {},
			want: "Received: from helo.example (ptr.example [192.0.2.7])\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1\r\n" +
				"\t(TLS1.3 TLS_AES_128_GCM_SHA256)\r\n" +
				"\tfor <rcpt@example.com>; Tue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "no TLS, no single recipient: semicolon ends the last clause",
			modify: func(ti *TraceInfo) { ti.TLS, ti.For, ti.Protocol = "", "", "ESMTP" },
			want: "Received: from helo.example (ptr.example [192.0.2.7])\r\n" +
				"\tby mx.example.com (gateway) with ESMTP id 3f2a9c0b1e.1;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "no verified name, IPv6 literal",
			modify: func(ti *TraceInfo) { ti.ClientPTR, ti.ClientIP = "", netip.MustParseAddr("2001:db8::25") },
			want: "Received: from helo.example (unknown [IPv6:2001:db8::25])\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1\r\n" +
				"\t(TLS1.3 TLS_AES_128_GCM_SHA256)\r\n" +
				"\tfor <rcpt@example.com>; Tue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "IPv4-mapped address shown as IPv4",
			modify: func(ti *TraceInfo) { ti.ClientIP, ti.TLS, ti.For = netip.MustParseAddr("::ffff:192.0.2.8"), "", "" },
			want: "Received: from helo.example (ptr.example [192.0.2.8])\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "address literal HELO kept",
			modify: func(ti *TraceInfo) { ti.HELO, ti.TLS, ti.For = "[192.0.2.7]", "", "" },
			want: "Received: from [192.0.2.7] (ptr.example [192.0.2.7])\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "invalid HELO shown as unknown with a sanitized comment",
			modify: func(ti *TraceInfo) { ti.HELO, ti.TLS, ti.For = "my (mail) server", "", "" },
			want: "Received: from unknown (ptr.example [192.0.2.7]) (helo=my??mail??server)\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "empty HELO and unknown address",
			modify: func(ti *TraceInfo) { ti.HELO, ti.ClientIP, ti.TLS, ti.For = "", netip.Addr{}, "", "" },
			want: "Received: from unknown\r\n" +
				"\tby mx.example.com (gateway) with ESMTPS id 3f2a9c0b1e.1;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
		{
			name:   "empty protocol becomes SMTP",
			modify: func(ti *TraceInfo) { ti.Protocol, ti.ID, ti.TLS, ti.For = "", "", "", "" },
			want: "Received: from helo.example (ptr.example [192.0.2.7])\r\n" +
				"\tby mx.example.com (gateway) with SMTP;\r\n" +
				"\tTue, 24 Nov 2026 05:42:19 +0000\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ti := exampleTrace()
			tc.modify(&ti)
			got := Received(ti)
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			checkField(t, got, "Received")
			if n := maxLine(got); n > foldAt {
				t.Errorf("line of %d characters, want ≤ %d", n, foldAt)
			}
		})
	}
}

func TestReceivedInjection(t *testing.T) {
	evil := "x\r\nBcc: victim@example.org\r\n\r\nbody"
	tests := []struct {
		name   string
		modify func(*TraceInfo)
	}{
		{name: "HELO with CRLF", modify: func(ti *TraceInfo) { ti.HELO = evil }},
		{name: "HELO with bare LF", modify: func(ti *TraceInfo) { ti.HELO = "a\nBcc: v@example.org" }},
		{name: "HELO with parentheses and backslash", modify: func(ti *TraceInfo) { ti.HELO = `a) (b\` }},
		{name: "HELO with NUL and 8-bit bytes", modify: func(ti *TraceInfo) { ti.HELO = "a\x00\xff\xfe" }},
		{name: "very long HELO", modify: func(ti *TraceInfo) { ti.HELO = strings.Repeat("a.", 5000) }},
		{name: "PTR with CRLF", modify: func(ti *TraceInfo) { ti.ClientPTR = evil }},
		{name: "PTR that is an address literal", modify: func(ti *TraceInfo) { ti.ClientPTR = "[10.0.0.1]" }},
		{name: "recipient with CRLF", modify: func(ti *TraceInfo) { ti.For = evil }},
		{name: "recipient with angle brackets", modify: func(ti *TraceInfo) { ti.For = "a>; x <b" }},
		{name: "recipient with invalid UTF-8", modify: func(ti *TraceInfo) { ti.For = "\xc3\x28@example.org" }},
		{name: "hostname with CRLF", modify: func(ti *TraceInfo) { ti.Hostname = evil }},
		{name: "protocol with CRLF", modify: func(ti *TraceInfo) { ti.Protocol = evil }},
		{name: "id with CRLF", modify: func(ti *TraceInfo) { ti.ID = evil }},
		{name: "TLS with CRLF and parentheses", modify: func(ti *TraceInfo) { ti.TLS = "TLS1.3) \r\nBcc: v@example.org (" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ti := exampleTrace()
			tc.modify(&ti)
			got := Received(ti)
			v := checkField(t, got, "Received")
			if bytes.ContainsAny(got, "\x00\xff\xfe") {
				t.Errorf("client text survived unsanitized: %q", got)
			}
			if strings.Count(v, "(") != strings.Count(v, ")") {
				t.Errorf("unbalanced comment parentheses in %q", v)
			}
			if n := strings.Count(v, ";"); n != 1 {
				t.Errorf("%d semicolons in %q, want only the one before the date", n, v)
			}
		})
	}
}

func TestReceivedValidUTF8RecipientKept(t *testing.T) {
	ti := exampleTrace()
	ti.For = "jörg@bücher.example"
	if got := Received(ti); !bytes.Contains(got, []byte("for <jörg@bücher.example>;")) {
		t.Errorf("UTF-8 recipient not kept (RFC 6532): %q", got)
	}
}

func TestField(t *testing.T) {
	words := "word1 word2 word3 word4 word5 word6 word7 word8 word9 word10 word11 word12 word13 word14"
	long := strings.Repeat("b", 90)
	tests := []struct {
		name        string
		field       string
		value       string
		want        string
		wantUnfold  string
		maxLineLong bool // a single word longer than a line is allowed
	}{
		{name: "short", field: "X-HELO-Check", value: "pass (fqdn)", want: "X-HELO-Check: pass (fqdn)\r\n", wantUnfold: "pass (fqdn)"},
		{name: "empty value", field: "X-A", value: "", want: "X-A:\r\n", wantUnfold: ""},
		{
			name: "folded at white space", field: "X-Long", value: words,
			want:       "X-Long: word1 word2 word3 word4 word5 word6 word7 word8 word9 word10 word11\r\n word12 word13 word14\r\n",
			wantUnfold: words,
		},
		{
			name: "white space runs are kept across the fold", field: "X-Long", value: "a   " + long,
			want: "X-Long: a\r\n   " + long + "\r\n", wantUnfold: "a   " + long, maxLineLong: true,
		},
		{name: "CRLF becomes spaces", field: "Subject", value: "hi\r\nBcc: v@example.org", want: "Subject: hi  Bcc: v@example.org\r\n", wantUnfold: "hi  Bcc: v@example.org"},
		{name: "bare CR and LF become spaces", field: "Subject", value: "a\rb\nc", want: "Subject: a b c\r\n", wantUnfold: "a b c"},
		{name: "trailing CRLF removed", field: "Subject", value: "a\r\n", want: "Subject: a\r\n", wantUnfold: "a"},
		{name: "controls become question marks", field: "Subject", value: "a\x00b\x7fc", want: "Subject: a?b?c\r\n", wantUnfold: "a?b?c"},
		{name: "UTF-8 kept", field: "Subject", value: "grüße", want: "Subject: grüße\r\n", wantUnfold: "grüße"},
		{name: "bad field name sanitized", field: "Bcc: v\r\nX", value: "1", want: "Bcc--v--X: 1\r\n", wantUnfold: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Field(tc.field, tc.value)
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			name := strings.SplitN(string(got), ":", 2)[0]
			v := checkField(t, got, name)
			if v != tc.wantUnfold {
				t.Errorf("unfolded value %q, want %q", v, tc.wantUnfold)
			}
			if n := maxLine(got); n > foldAt && !tc.maxLineLong {
				t.Errorf("line of %d characters, want ≤ %d", n, foldAt)
			}
		})
	}
}

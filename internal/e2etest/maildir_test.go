package e2etest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// delivered is a Maildir file as virtual(8) writes it for a message relayed
// by a gateway whose Received header is folded over two lines.
const delivered = "Return-Path: <bob@example.net>\n" +
	"X-Original-To: alice@example.com\n" +
	"Delivered-To: alice@example.com\n" +
	"Received: from gw.test (unknown [127.0.0.1])\n" +
	"\tby mx.downstream.test (Postfix) with ESMTP id 1149D9840F1\n" +
	"\tfor <alice@example.com>; Tue, 24 Nov 2026 06:05:28 +0000 (UTC)\n" +
	"Received: from client.test ([127.0.0.2])\n" +
	"\tby gw.test with ESMTP id abc\n" +
	"Subject: hi\n" +
	"\n" +
	"body line\n" +
	".dot\n"

func TestMessageViews(t *testing.T) {
	m := parseMessage("/m/example.com/new/1795500328.Vfe00I985a6eM103348.vm", []byte(delivered), time.Time{})
	tests := []struct {
		name, got, want string
	}{
		{"recipient from Delivered-To", m.Recipient, "alice@example.com"},
		{"original recipient from X-Original-To", m.OriginalRecipient, "alice@example.com"},
		{"sender without brackets", m.Sender, "bob@example.net"},
		{"header parsed", m.Header.Get("Subject"), "hi"},
		{"body in wire form", string(m.Body), "body line\r\n.dot\r\n"},
		{"BodyBytes is Body", string(m.BodyBytes()), "body line\r\n.dot\r\n"},
		{"relayed drops what Postfix added",
			string(m.Relayed()),
			"Received: from client.test ([127.0.0.2])\r\n\tby gw.test with ESMTP id abc\r\nSubject: hi\r\n\r\nbody line\r\n.dot\r\n"},
		{"since a marker", string(m.Since("Subject:")), "Subject: hi\r\n\r\nbody line\r\n.dot\r\n"},
		{"since matches only at line start", string(m.Since("by gw.test")), ""},
		{"since a missing marker", string(m.Since("X-Nothing:")), ""},
		{"since an empty marker", string(m.Since("")), ""},
		{"wire form of everything", string(m.Wire()[:32]), "Return-Path: <bob@example.net>\r\n"},
		{"delivery time from the file name", m.Delivered.UTC().Format(time.RFC3339Nano), "2026-11-24T06:05:28.103348Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestRelayedEdgeCases(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{name: "no Postfix Received is kept",
			raw:  "Return-Path: <>\nDelivered-To: a@example.com\nReceived: from x by y\nS: 1\n\nb\n",
			want: "Received: from x by y\r\nS: 1\r\n\r\nb\r\n"},
		{name: "null sender",
			raw:  "Return-Path: <>\nReceived: from x\n\tby mx (Postfix)\n\nb\n",
			want: "\r\nb\r\n"},
		{name: "second Delivered-To belongs to the message",
			raw:  "Delivered-To: a@example.com\nReceived: by mx (Postfix)\nDelivered-To: old@example.com\n\nb\n",
			want: "Delivered-To: old@example.com\r\n\r\nb\r\n"},
		{name: "CR before LF is kept",
			raw:  "Received: by mx (Postfix)\nS: x\r\n\nb\n",
			want: "S: x\r\r\n\r\nb\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseMessage("f", []byte(tc.raw), time.Time{})
			if got := string(m.Relayed()); got != tc.want {
				t.Errorf("Relayed = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadMaildirs(t *testing.T) {
	base := t.TempDir()
	files := []struct{ path, content string }{
		{"example.org/new/1700000002.V1I2M5.host", "Delivered-To: c@example.org\n\nthird\n"},
		{"example.com/new/1700000001.V1I1M999999.host", "Delivered-To: b@example.com\n\nsecond\n"},
		{"example.com/cur/1700000001.V1I3M7.host:2,S", "Delivered-To: a@example.com\n\nfirst\n"},
		{"example.com/tmp/1700000000.V1I4M1.host", "Delivered-To: partial@example.com\n\nunfinished\n"},
	}
	for _, f := range files {
		p := filepath.Join(base, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := readMaildirs(base)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Recipient)
	}
	want := []string{"a@example.com", "b@example.com", "c@example.org"}
	if len(got) != len(want) {
		t.Fatalf("recipients = %q, want %q (tmp/ is not delivered yet)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("recipients = %q, want %q in delivery order", got, want)
			break
		}
	}
}

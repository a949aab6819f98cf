package e2etest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantCode  int
		wantLines []string
		wantRaw   string
		wantErr   string // substring; "EOF" for a clean close
	}{
		{name: "single line", in: "250 2.1.5 Ok\r\n", wantCode: 250, wantLines: []string{"2.1.5 Ok"}, wantRaw: "250 2.1.5 Ok\r\n"},
		{name: "multi-line", in: "250-mx.test\r\n250-SIZE 100\r\n250 CHUNKING\r\n",
			wantCode: 250, wantLines: []string{"mx.test", "SIZE 100", "CHUNKING"}, wantRaw: "250-mx.test\r\n250-SIZE 100\r\n250 CHUNKING\r\n"},
		{name: "code only", in: "354\r\n", wantCode: 354, wantLines: []string{""}, wantRaw: "354\r\n"},
		{name: "bare LF kept in raw", in: "221 Bye\n", wantCode: 221, wantLines: []string{"Bye"}, wantRaw: "221 Bye\n"},
		{name: "stops after the last line", in: "250 Ok\r\n250 Next\r\n", wantCode: 250, wantLines: []string{"Ok"}, wantRaw: "250 Ok\r\n"},
		{name: "clean close", in: "", wantErr: "EOF"},
		{name: "close mid-reply", in: "250-first\r\n", wantErr: "reading reply after"},
		{name: "code changes", in: "250-a\r\n251 b\r\n", wantErr: "code changed"},
		{name: "not a code", in: "hello\r\n", wantErr: "malformed reply code"},
		{name: "bad separator", in: "250_x\r\n", wantErr: "malformed reply line"},
		{name: "too short", in: "25\r\n", wantErr: "malformed reply line"},
		{name: "code out of range", in: "999 x\r\n", wantErr: "malformed reply code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readReply error = %v, want containing %q", err, tc.wantErr)
				}
				if tc.wantErr == "EOF" && !errors.Is(err, io.EOF) {
					t.Fatalf("readReply error = %v, want io.EOF", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readReply: %v", err)
			}
			if rep.Code != tc.wantCode || rep.Raw != tc.wantRaw || strings.Join(rep.Lines, "|") != strings.Join(tc.wantLines, "|") {
				t.Errorf("readReply = %+v, want code %d lines %q raw %q", rep, tc.wantCode, tc.wantLines, tc.wantRaw)
			}
		})
	}
}

// scriptedServer accepts one connection on 127.0.0.1, sends greeting, then
// answers each line it reads with the next of replies and closes after the
// last. It returns the address and a channel with every line it read.
func scriptedServer(t *testing.T, greeting string, replies ...string) (string, <-chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []string, 1)
	go func() {
		var lines []string
		defer func() { got <- lines }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, greeting); err != nil {
			return
		}
		br := bufio.NewReader(c)
		for _, r := range replies {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines = append(lines, line)
			if _, err := io.WriteString(c, r); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String(), got
}

// TestRawClient speaks to a scripted server and shows Raw sends exactly
// what it is given, from the local IP it is given, parses replies and
// notices the close.
func TestRawClient(t *testing.T) {
	addr, got := scriptedServer(t, "220-mx.test ESMTP\r\n220 ready\r\n",
		"250-mx.test\r\n250 PIPELINING\r\n",
		"250 2.1.0 Ok\r\n",
		"221 2.0.0 Bye\r\n")
	r := DialRaw(t, addr, "127.0.0.3")
	if host, _, _ := net.SplitHostPort(r.LocalAddr().String()); host != "127.0.0.3" {
		t.Errorf("local address = %v, want 127.0.0.3", r.LocalAddr())
	}
	steps := []struct {
		name string
		do   func() Reply
		want string
	}{
		{"greeting is read on dial", func() Reply { return r.Greeting }, "220-mx.test ESMTP\r\n220 ready\r\n"},
		{"Cmd appends CRLF", func() Reply { return r.Cmd(t, "EHLO client.test") }, "250-mx.test\r\n250 PIPELINING\r\n"},
		{"Send adds nothing", func() Reply {
			r.Send(t, []byte("MAIL FROM:<a@b>\n"))
			return r.ReadReply(t)
		}, "250 2.1.0 Ok\r\n"},
		{"QUIT", func() Reply { return r.Cmd(t, "QUIT") }, "221 2.0.0 Bye\r\n"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if rep := s.do(); rep.Raw != s.want {
				t.Errorf("reply %q, want %q", rep.Raw, s.want)
			}
		})
	}
	r.WaitClosed(t, 5*time.Second)
	lines := <-got
	want := []string{"EHLO client.test\r\n", "MAIL FROM:<a@b>\n", "QUIT\r\n"}
	if strings.Join(lines, "") != strings.Join(want, "") {
		t.Errorf("server read %q, want %q", lines, want)
	}
}

// TestRawStartTLSRefused shows StartTLS fails the test on a non-220 reply.
func TestRawStartTLSRefused(t *testing.T) {
	addr, _ := scriptedServer(t, "220 mx.test\r\n", "454 4.7.0 TLS not available\r\n")
	r := newRecorder(t)
	r.run(func() {
		raw := DialRaw(r, addr, "")
		raw.StartTLS(r)
	})
	r.runCleanups()
	if f := strings.Join(r.failures(), "\n"); !strings.Contains(f, "454 4.7.0 TLS not available") {
		t.Errorf("failures = %q, want the 454 reply", f)
	}
}

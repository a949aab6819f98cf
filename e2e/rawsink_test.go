package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// rawSink is a recording downstream: a minimal SMTP server that keeps every
// byte it receives, so a test can look at the stream the way a lenient
// legacy server would (the SMTP smuggling question: how many MAIL commands
// arrived, and did any bare CR or LF get through?).
type rawSink struct {
	ln       net.Listener
	mu       sync.Mutex
	streams  []*bytes.Buffer // one per connection, every byte received
	messages [][]byte        // bodies up to a strict <CRLF>.<CRLF>, dot-unstuffed
	queued   int
}

func startRawSink(t *testing.T) *rawSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSink{ln: ln}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *rawSink) addr() string { return s.ln.Addr().String() }

func (s *rawSink) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

type recordingReader struct {
	r   net.Conn
	buf *bytes.Buffer
	mu  *sync.Mutex
}

func (r recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (s *rawSink) handle(c net.Conn) {
	defer c.Close()
	rec := &bytes.Buffer{}
	s.mu.Lock()
	s.streams = append(s.streams, rec)
	s.mu.Unlock()
	br := bufio.NewReader(recordingReader{r: c, buf: rec, mu: &s.mu})
	w := bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	say("220 sink.test ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-sink.test")
			say("250-PIPELINING")
			say("250-8BITMIME")
			say("250 SIZE 104857600")
		case strings.HasPrefix(cmd, "HELO"):
			say("250 sink.test")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go ahead")
			var body bytes.Buffer
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.messages = append(s.messages, body.Bytes())
			s.queued++
			n := s.queued
			s.mu.Unlock()
			say(fmt.Sprintf("250 2.0.0 Ok: queued as SINK%d", n))
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 2.0.0 Ok")
		}
	}
}

// snapshot returns copies of the byte streams and the messages so far.
func (s *rawSink) snapshot() (streams [][]byte, messages [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.streams {
		streams = append(streams, bytes.Clone(b.Bytes()))
	}
	return streams, append([][]byte(nil), s.messages...)
}

// countMAIL counts the mail transactions a lenient legacy server would
// complete from stream: one that ends lines at CRLF, bare LF or bare CR,
// and ends DATA at any line holding a single dot, whatever its line
// endings. A smuggled second transaction would show up here as an extra
// one; text that merely looks like commands inside a message body does
// not, nor does a transaction the gateway began and then abandoned (MAIL,
// RCPT, RSET or a dropped connection).
func countMAIL(stream []byte) int {
	norm := bytes.ReplaceAll(stream, []byte("\r\n"), []byte("\n"))
	norm = bytes.ReplaceAll(norm, []byte("\r"), []byte("\n"))
	n, inData := 0, false
	for _, l := range bytes.Split(norm, []byte("\n")) {
		up := bytes.ToUpper(l)
		switch {
		case inData:
			if string(l) == "." {
				inData = false
				n++
			}
		case string(up) == "DATA":
			inData = true
		}
	}
	return n
}

// bareEndings reports bare CR or LF anywhere in b.
func bareEndings(b []byte) bool {
	for i, ch := range b {
		switch ch {
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return true
			}
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return true
			}
		}
	}
	return false
}

package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/reply"
)

// --- a go-smtp server with a recording backend ---

// message is what a downstream recorded as delivered.
type message struct {
	From     string
	Opts     smtp.MailOptions
	Rcpts    []string
	RcptOpts []smtp.RcptOptions
	Data     string
}

// sink is a go-smtp Backend that records deliveries and can refuse.
type sink struct {
	mu       sync.Mutex
	sessions int
	logouts  int
	mails    int
	messages []message
	aborted  int // DATA whose reader failed (the client dropped it)
	tlsSeen  bool

	// Replies, settable by tests before use; nil means accept.
	mailErr func(n int, from string) error // n counts MAIL commands from 1
	rcptErr map[string]error
	dataErr error
	// dataStarted, if set, receives once the first DATA byte is read.
	dataStarted chan struct{}
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	if _, ok := c.TLSConnectionState(); ok {
		s.tlsSeen = true
	}
	return &sinkSession{s: s, c: c}, nil
}

func (s *sink) snapshot() (sessions, logouts, mails, aborted int, msgs []message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions, s.logouts, s.mails, s.aborted, append([]message(nil), s.messages...)
}

type sinkSession struct {
	s   *sink
	c   *smtp.Conn
	cur message
}

func (ss *sinkSession) Reset() { ss.cur = message{} }

func (ss *sinkSession) Logout() error {
	ss.s.mu.Lock()
	ss.s.logouts++
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.s.mu.Lock()
	ss.s.mails++
	n, f := ss.s.mails, ss.s.mailErr
	if _, ok := ss.c.TLSConnectionState(); ok {
		ss.s.tlsSeen = true
	}
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(n, from); err != nil {
			return err
		}
	}
	ss.cur = message{From: from}
	if opts != nil {
		ss.cur.Opts = *opts
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	err := ss.s.rcptErr[to]
	ss.s.mu.Unlock()
	if err != nil {
		return err
	}
	ss.cur.Rcpts = append(ss.cur.Rcpts, to)
	if opts != nil {
		ss.cur.RcptOpts = append(ss.cur.RcptOpts, *opts)
	}
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	var b bytes.Buffer
	first := make([]byte, 1)
	n, err := r.Read(first)
	b.Write(first[:n])
	ss.s.mu.Lock()
	if ss.s.dataStarted != nil && n > 0 {
		close(ss.s.dataStarted)
		ss.s.dataStarted = nil
	}
	ss.s.mu.Unlock()
	if err == nil {
		_, err = io.Copy(&b, r)
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if err != nil && err != io.EOF {
		ss.s.aborted++
		return err
	}
	if ss.s.dataErr != nil {
		return ss.s.dataErr
	}
	ss.cur.Data = b.String()
	ss.s.messages = append(ss.s.messages, ss.cur)
	return nil
}

// startSink runs a go-smtp server for s on 127.0.0.1:0 and returns its
// address; configure adjusts the server before it starts.
func startSink(t testing.TB, s *sink, configure func(*smtp.Server)) string {
	t.Helper()
	return serveSink(t, s, configure, false)
}

// startSinkImplicitTLS runs the server behind TLS from the first byte.
func startSinkImplicitTLS(t testing.TB, s *sink, conf *tls.Config) string {
	t.Helper()
	return serveSink(t, s, func(srv *smtp.Server) { srv.TLSConfig = conf }, true)
}

func serveSink(t testing.TB, s *sink, configure func(*smtp.Server), implicitTLS bool) string {
	t.Helper()
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.ErrorLog = discardLog{}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	if configure != nil {
		configure(srv)
	}
	return serveServer(t, srv, implicitTLS)
}

// serveServer runs srv on 127.0.0.1:0 until the test ends.
func serveServer(t testing.TB, srv *smtp.Server, implicitTLS bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		// Shutdown first: go-smtp v0.26's Close clears a connection's
		// session without the lock its handler reads it under (a data
		// race the race detector reports); Shutdown waits for the
		// handlers, and Close only ends what is still open after that.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		ln.Close() // Shutdown may run before Serve has registered ln
		<-done
	})
	return ln.Addr().String()
}

type discardLog struct{}

func (discardLog) Printf(string, ...interface{}) {}
func (discardLog) Println(...interface{})        {}

// --- a scripted raw-socket server, for exact bytes and misbehaviour ---

// rawServer speaks just enough SMTP, records every command line and the
// raw DATA bytes, and lets a test override any reply.
type rawServer struct {
	ln   net.Listener
	ext  []string // EHLO keywords
	hook func(conn int, cmd string) string

	mu    sync.Mutex
	log   []string // "1 MAIL FROM:<a>": connection number and command
	data  []string // raw bytes between 354 and the end of data, dot included
	conns []net.Conn
	wg    sync.WaitGroup
}

// Special hook results.
const (
	replyHang  = "<hang>"  // never answer
	replyClose = "<close>" // close the connection
)

// startRaw starts a rawServer; hook may return "" for the default reply.
func startRaw(t testing.TB, ext []string, hook func(conn int, cmd string) string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, ext: ext, hook: hook}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.stop)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func (s *rawServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// killAll closes every connection from the server side.
func (s *rawServer) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *rawServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *rawServer) datas() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.data...)
}

func (s *rawServer) serve() {
	defer s.wg.Done()
	for n := 1; ; n++ {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(n, c)
		}()
	}
}

func (s *rawServer) reply(n int, cmd, def string) string {
	if s.hook != nil {
		if r := s.hook(n, cmd); r != "" {
			return r
		}
	}
	return def
}

// session runs one connection; it returns when the client or the script
// ends it.
func (s *rawServer) session(n int, c net.Conn) {
	r := bufio.NewReader(c)
	send := func(resp string) bool {
		switch resp {
		case replyHang:
			io.Copy(io.Discard, r) // until the client gives up
			return false
		case replyClose:
			return false
		}
		if before, ok := strings.CutSuffix(resp, replyClose); ok {
			io.WriteString(c, before) // reply, then hang up
			return false
		}
		_, err := io.WriteString(c, resp+"\r\n")
		return err == nil
	}
	if !send(s.reply(n, "<greeting>", "220 raw.test ESMTP")) {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.log = append(s.log, fmt.Sprintf("%d %s", n, cmd))
		s.mu.Unlock()
		verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
		def := "250 2.0.0 Ok"
		switch verb {
		case "EHLO":
			lines := append([]string{"raw.test"}, s.ext...)
			var b strings.Builder
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				fmt.Fprintf(&b, "250%s%s\r\n", sep, l)
			}
			def = strings.TrimSuffix(b.String(), "\r\n")
		case "DATA":
			def = "354 End data with <CR><LF>.<CR><LF>"
		case "QUIT":
			def = "221 2.0.0 Bye"
		}
		resp := s.reply(n, cmd, def)
		if !send(resp) {
			return
		}
		switch {
		case verb == "QUIT":
			return
		case verb == "DATA" && strings.HasPrefix(resp, "354"):
			var d bytes.Buffer
			for !bytes.HasSuffix(d.Bytes(), []byte("\r\n.\r\n")) && d.String() != ".\r\n" {
				l, err := r.ReadBytes('\n')
				d.Write(l)
				if err != nil {
					return // dropped mid-DATA: nothing recorded
				}
			}
			s.mu.Lock()
			s.data = append(s.data, d.String())
			s.mu.Unlock()
			if !send(s.reply(n, "<end of data>", "250 2.0.0 Ok: queued as RAW123")) {
				return
			}
		}
	}
}

// --- helpers ---

// newTarget builds an SMTPTarget for addr with short timeouts and a dial
// counter.
func newTarget(t testing.TB, addr string, modify func(*SMTPConfig)) (*SMTPTarget, *counters) {
	t.Helper()
	cnt := &counters{events: map[string]int{}}
	d := &net.Dialer{}
	cfg := SMTPConfig{
		Address:        addr,
		StartTLS:       downstream.TLSNone,
		HeloName:       "gw.test",
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			cnt.dials.Add(1)
			return d.DialContext(ctx, network, a)
		},
		Observe: cnt.observe,
	}
	if modify != nil {
		modify(&cfg)
	}
	tg, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, cnt
}

type counters struct {
	dials  atomic.Int64
	mu     sync.Mutex
	events map[string]int
}

func (c *counters) observe(e string) {
	c.mu.Lock()
	c.events[e]++
	c.mu.Unlock()
}

func (c *counters) event(e string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[e]
}

// send runs one whole transaction and returns Data's results.
func send(t testing.TB, tg Target, from string, rcpts []string, body string) (*reply.Reply, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := tg.Begin(ctx, from, MailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	for _, r := range rcpts {
		if err := tx.Rcpt(ctx, r, RcptOptions{}); err != nil {
			return nil, err
		}
	}
	return tx.Data(ctx, strings.NewReader(body))
}

// eventually polls cond for up to five seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

var errBoom = errors.New("client connection reset")

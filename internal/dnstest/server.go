package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL of every record and of the negative-caching SOA
// until SetTTL changes it.
const DefaultTTL = 60 * time.Second

// Server is a running test DNS server. Its methods are safe for concurrent
// use while it serves.
type Server struct {
	tb      testing.TB // nil for a Listen server
	addr    string
	udp     *dns.Server
	tcp     *dns.Server
	closing chan struct{}
	once    sync.Once
	stopErr error

	mu      sync.Mutex
	ttl     time.Duration
	names   map[string]*node  // by canonical name
	faults  map[string]*fault // by canonical name
	queries map[question]int  // seen, by canonical name and type
	errs    []error           // bad input seen by a Listen server
}

// node is the data of one owner name.
type node struct {
	v4, v6 []netip.Addr
	ptr    []string
	mx     []mxData
	cname  string
}

type mxData struct {
	pref uint16
	host string
}

// fault is what a test asked the server to do wrong for one name.
type fault struct {
	rcode    int
	delay    time.Duration
	drop     bool
	truncate bool
}

type question struct {
	name  string
	qtype uint16
}

// Start runs a server on 127.0.0.1 (UDP and TCP on the same free port) and
// stops it when the test ends. Bad input to the Add methods fails the test.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := listen("127.0.0.1:0", tb)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("dnstest: close: %v", err)
		}
	})
	return s
}

// Listen runs a server on addr ("127.0.0.1:0" picks a free port, shared by
// UDP and TCP) for use outside tests; Close stops it. Bad input to the Add
// methods is reported by Err.
func Listen(addr string) (*Server, error) {
	return listen(addr, nil)
}

func listen(addr string, tb testing.TB) (*Server, error) {
	pc, ln, err := bindPair(addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		tb:      tb,
		addr:    pc.LocalAddr().String(),
		closing: make(chan struct{}),
		ttl:     DefaultTTL,
		names:   make(map[string]*node),
		faults:  make(map[string]*fault),
		queries: make(map[question]int),
	}
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		failed := make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { failed <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("serve %s: %w", s.addr, err)
		}
	}
	return s, nil
}

// bindPair opens UDP and TCP on the same port. With port 0 the kernel
// picks a free UDP port that may be taken for TCP, so a few picks are
// tried.
func bindPair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("address %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	var lastErr error
	for range tries {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, lastErr)
}

// Addr returns the "127.0.0.1:PORT" the server answers on, UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server, releasing any query held by Delay. It is safe to
// call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.stopErr = errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
	})
	return s.stopErr
}

// Err returns the bad input the Add methods of a Listen server ignored,
// or nil. (A Start server fails its test instead.)
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// SetTTL sets the TTL of every answer from now on, and the TTL and
// MINIMUM of the SOA sent with negative answers. DNS TTLs are whole
// seconds; less than a second is sent as 0.
func (s *Server) SetTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = max(d, 0)
}

// Queries returns how many queries for (name, qtype) the server has seen,
// whether it answered them or not. A truncated UDP answer and its TCP
// retry count as two.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[question{canonical(name), qtype}]
}

// Total returns how many queries the server has seen in all, for any
// name and type: what a test of a query budget counts.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

// canonical is the form names are stored and matched in: lower case,
// absolute (RFC 4343: DNS names compare case-insensitively).
func canonical(name string) string {
	return dns.CanonicalName(name)
}

// bad reports invalid input: it fails the test of a Start server and is
// kept for Err on a Listen server.
func (s *Server) bad(format string, args ...any) {
	err := fmt.Errorf("dnstest: "+format, args...)
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Error(err)
		return
	}
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

// validName reports whether name can be an owner name.
func validName(name string) bool {
	_, ok := dns.IsDomainName(name)
	return ok && strings.TrimSuffix(name, ".") != ""
}

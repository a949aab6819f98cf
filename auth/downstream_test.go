package auth

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/downstream"
	"github.com/smtpgateway/gateway/internal/testcert"
)

// acceptBob is the downstream's password check: one user, one password.
func acceptBob(identity, username, password string) error {
	if username == "bob@example.com" && password == "right pw" {
		return nil
	}
	return ErrInvalidCredentials
}

// replyWith makes the downstream answer AUTH with a fixed reply.
func replyWith(code int, enhanced smtp.EnhancedCode) func(string, string, string) error {
	return func(string, string, string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: "scripted reply"}
	}
}

// outcome classifies a Verify result.
type outcome int

const (
	ok outcome = iota
	invalid
	temporary
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, ErrInvalidCredentials):
		return invalid
	}
	return temporary
}

func (o outcome) String() string { return [...]string{"ok", "invalid credentials", "temporary"}[o] }

func TestDownstreamVerify(t *testing.T) {
	tc := testcert.New(t, "downstream.test", "127.0.0.1")
	cert, pool := &tc.TLS, tc.Pool
	trusted := &tls.Config{RootCAs: pool}
	tests := []struct {
		name         string
		server       testServerConfig
		tls          downstream.TLSMode
		tlsConfig    *tls.Config
		password     string
		want         outcome
		wantErr      string // substring of the error, if any
		wantAttempts int32
	}{
		{name: "success", password: "right pw", want: ok, wantAttempts: 1},
		{name: "wrong password", password: "wrong", want: invalid, wantErr: "535 5.7.8", wantAttempts: 1},
		{name: "LOGIN when PLAIN is not offered", server: testServerConfig{mechs: []string{sasl.Login}}, password: "right pw", want: ok, wantAttempts: 1},
		{name: "LOGIN wrong password", server: testServerConfig{mechs: []string{sasl.Login}}, password: "wrong", want: invalid, wantAttempts: 1},
		{name: "no usable mechanism", server: testServerConfig{mechs: []string{"CRAM-MD5"}}, password: "right pw", want: temporary, wantErr: "neither AUTH PLAIN nor AUTH LOGIN"},
		{name: "downstream 454", server: testServerConfig{verify: replyWith(454, smtp.EnhancedCode{4, 7, 0})}, password: "right pw", want: temporary, wantErr: "454 4.7.0", wantAttempts: 1},
		{name: "downstream 421", server: testServerConfig{verify: replyWith(421, smtp.EnhancedCode{4, 3, 2})}, password: "right pw", want: temporary, wantAttempts: 1},
		{name: "downstream 538 encryption required", server: testServerConfig{verify: replyWith(538, smtp.EnhancedCode{5, 7, 11})}, password: "right pw", want: temporary, wantErr: "538 5.7.11", wantAttempts: 1},
		{name: "downstream 534 mechanism too weak", server: testServerConfig{verify: replyWith(534, smtp.EnhancedCode{5, 7, 9})}, password: "right pw", want: temporary, wantAttempts: 1},
		{name: "downstream 554 is a refusal", server: testServerConfig{verify: replyWith(554, smtp.EnhancedCode{5, 7, 1})}, password: "right pw", want: invalid, wantAttempts: 1},
		{name: "STARTTLS", server: testServerConfig{tls: downstream.TLSRequired, cert: cert}, tls: downstream.TLSRequired, tlsConfig: trusted, password: "right pw", want: ok, wantAttempts: 1},
		{name: "STARTTLS wrong password", server: testServerConfig{tls: downstream.TLSRequired, cert: cert}, tls: downstream.TLSRequired, tlsConfig: trusted, password: "wrong", want: invalid, wantAttempts: 1},
		{name: "STARTTLS not offered", tls: downstream.TLSRequired, tlsConfig: trusted, password: "right pw", want: temporary, wantErr: "does not offer STARTTLS"},
		{name: "STARTTLS untrusted certificate", server: testServerConfig{tls: downstream.TLSRequired, cert: cert}, tls: downstream.TLSRequired, tlsConfig: &tls.Config{}, password: "right pw", want: temporary, wantErr: "certificate"},
		{name: "implicit TLS", server: testServerConfig{tls: downstream.TLSImplicit, cert: cert}, tls: downstream.TLSImplicit, tlsConfig: trusted, password: "right pw", want: ok, wantAttempts: 1},
		{name: "implicit TLS against plain server", tls: downstream.TLSImplicit, tlsConfig: trusted, password: "right pw", want: temporary, wantErr: "TLS handshake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.server.verify == nil {
				tc.server.verify = acceptBob
			}
			ts := startTestServer(t, tc.server)
			if tc.tls == "" {
				tc.tls = downstream.TLSNone
			}
			d, err := NewDownstream(DownstreamConfig{
				Address: ts.addr, TLS: tc.tls, TLSConfig: tc.tlsConfig,
				HeloName: "gateway.test", Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Verify(context.Background(), "bob@example.com", tc.password)
			if got := classify(err); got != tc.want {
				t.Fatalf("Verify = %v (%v), want %v", err, got, tc.want)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q contains the password", err)
			}
			if got := ts.attempts.Load(); got != tc.wantAttempts {
				t.Errorf("downstream saw %d AUTH attempts, want %d", got, tc.wantAttempts)
			}
		})
	}
}

func TestDownstreamCache(t *testing.T) {
	type call struct {
		password  string
		advance   time.Duration // fake time passing before the call
		want      outcome
		wantConns int32 // downstream sessions so far
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		calls []call
	}{
		{
			name: "hit makes no second connection", ttl: time.Minute,
			calls: []call{{password: "right pw", want: ok, wantConns: 1}, {password: "right pw", want: ok, wantConns: 1}},
		},
		{
			name: "failures are never cached", ttl: time.Minute,
			calls: []call{{password: "wrong", want: invalid, wantConns: 1}, {password: "wrong", want: invalid, wantConns: 2}},
		},
		{
			name: "a cached success does not vouch for another password", ttl: time.Minute,
			calls: []call{{password: "right pw", want: ok, wantConns: 1}, {password: "wrong", want: invalid, wantConns: 2}},
		},
		{
			name: "entries expire after the TTL", ttl: time.Minute,
			calls: []call{
				{password: "right pw", want: ok, wantConns: 1},
				{password: "right pw", advance: 59 * time.Second, want: ok, wantConns: 1},
				{password: "right pw", advance: time.Second, want: ok, wantConns: 2},
			},
		},
		{
			name: "TTL 0 switches the cache off", ttl: 0,
			calls: []call{{password: "right pw", want: ok, wantConns: 1}, {password: "right pw", want: ok, wantConns: 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, testServerConfig{verify: acceptBob})
			d, err := NewDownstream(DownstreamConfig{Address: ts.addr, TLS: downstream.TLSNone, CacheTTL: tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			if d.cache != nil {
				d.cache.now = clock.Now
			}
			for i, c := range tc.calls {
				clock.now = clock.now.Add(c.advance)
				err := d.Verify(context.Background(), "bob@example.com", c.password)
				if got := classify(err); got != c.want {
					t.Fatalf("call %d: Verify = %v, want %v", i, err, c.want)
				}
				if got := ts.conns.Load(); got != c.wantConns {
					t.Fatalf("call %d: downstream sessions = %d, want %d", i, got, c.wantConns)
				}
			}
		})
	}
}

func TestSuccessCacheBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := newSuccessCache(nil, time.Minute, 2, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	c.add("a", "1")
	clock.now = clock.now.Add(time.Second)
	c.add("b", "2")
	clock.now = clock.now.Add(time.Second)
	c.add("c", "3") // full: "a" expires soonest and goes
	tests := []struct {
		name, user, pw string
		want           bool
	}{
		{name: "evicted oldest", user: "a", pw: "1", want: false},
		{name: "kept", user: "b", pw: "2", want: true},
		{name: "newest", user: "c", pw: "3", want: true},
		{name: "field boundary is part of the key", user: "b2", pw: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.hit(tc.user, tc.pw); got != tc.want {
				t.Errorf("hit(%q, %q) = %v, want %v", tc.user, tc.pw, got, tc.want)
			}
		})
	}
	if n := c.len(); n != 2 {
		t.Errorf("len = %d, want the bound 2", n)
	}
}

func TestDownstreamServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	d, err := NewDownstream(DownstreamConfig{Address: addr, TLS: downstream.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Verify(context.Background(), "bob@example.com", "right pw")
	if classify(err) != temporary || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Verify = %v, want a temporary connect error", err)
	}
}

// scriptedServer accepts connections on 127.0.0.1:0 and runs script on
// each, for misbehaviour go-smtp's server will not produce.
func scriptedServer(t *testing.T, script func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				script(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

func TestDownstreamMisbehavingServer(t *testing.T) {
	tests := []struct {
		name    string
		tls     downstream.TLSMode
		timeout time.Duration
		script  func(c net.Conn, r *bufio.Reader)
		wantErr string
	}{
		{
			name: "never greets", tls: downstream.TLSNone, timeout: 200 * time.Millisecond,
			script: func(c net.Conn, r *bufio.Reader) {
				r.ReadString('\n') // wait until the client gives up and closes
			},
			wantErr: "deadline exceeded",
		},
		{
			name: "stalls after EHLO", tls: downstream.TLSNone, timeout: 200 * time.Millisecond,
			script: func(c net.Conn, r *bufio.Reader) {
				c.Write([]byte("220 hi\r\n"))
				r.ReadString('\n')
				c.Write([]byte("250-hi\r\n250 AUTH PLAIN\r\n"))
				r.ReadString('\n') // AUTH, never answered
				r.ReadString('\n')
			},
			wantErr: "deadline exceeded",
		},
		{
			name: "busy greeting", tls: downstream.TLSNone,
			script: func(c net.Conn, r *bufio.Reader) {
				c.Write([]byte("554 5.3.2 not now\r\n"))
				r.ReadString('\n')
			},
			wantErr: "554",
		},
		{
			name: "data injected after the STARTTLS reply", tls: downstream.TLSRequired,
			script: func(c net.Conn, r *bufio.Reader) {
				c.Write([]byte("220 hi\r\n"))
				r.ReadString('\n')
				c.Write([]byte("250-hi\r\n250 STARTTLS\r\n"))
				r.ReadString('\n')
				c.Write([]byte("220 go ahead\r\n250 AUTH PLAIN\r\n"))
				r.ReadString('\n')
			},
			wantErr: "data after its STARTTLS reply",
		},
		{
			name: "STARTTLS refused", tls: downstream.TLSRequired,
			script: func(c net.Conn, r *bufio.Reader) {
				c.Write([]byte("220 hi\r\n"))
				r.ReadString('\n')
				c.Write([]byte("250-hi\r\n250 STARTTLS\r\n"))
				r.ReadString('\n')
				c.Write([]byte("454 4.7.0 TLS not available\r\n"))
				r.ReadString('\n')
			},
			wantErr: "454",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedServer(t, tc.script)
			d, err := NewDownstream(DownstreamConfig{Address: addr, TLS: tc.tls, Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Verify(context.Background(), "bob@example.com", "right pw")
			if classify(err) != temporary || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Verify = %v, want a temporary error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestDownstreamCallerCancels(t *testing.T) {
	started := make(chan struct{})
	addr := scriptedServer(t, func(c net.Conn, r *bufio.Reader) {
		close(started)
		r.ReadString('\n') // never greets; returns when the client closes
	})
	d, err := NewDownstream(DownstreamConfig{Address: addr, TLS: downstream.TLSNone, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	err = d.Verify(ctx, "bob@example.com", "right pw")
	if classify(err) != temporary || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify = %v, want a temporary error wrapping context.Canceled", err)
	}
}

func TestDownstreamHeloName(t *testing.T) {
	tc := testcert.New(t, "downstream.test", "127.0.0.1")
	cert, pool := &tc.TLS, tc.Pool
	var mu sync.Mutex
	var helos []string
	ts := startTestServer(t, testServerConfig{tls: downstream.TLSRequired, cert: cert, verify: acceptBob, onSession: func(c *smtp.Conn) {
		mu.Lock()
		helos = append(helos, c.Hostname())
		mu.Unlock()
	}})
	d, err := NewDownstream(DownstreamConfig{Address: ts.addr, TLS: downstream.TLSRequired, TLSConfig: &tls.Config{RootCAs: pool}, HeloName: "gw.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(context.Background(), "bob@example.com", "right pw"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// One session before STARTTLS, one after (RFC 3207 §4.2 resets it).
	if len(helos) != 2 || helos[0] != "gw.example.net" || helos[1] != "gw.example.net" {
		t.Errorf("downstream saw EHLO names %q, want gw.example.net before and after STARTTLS", helos)
	}
}

func TestNewDownstreamConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     DownstreamConfig
		wantErr []string
	}{
		{name: "minimal", cfg: DownstreamConfig{Address: "mail.example.com:587"}},
		{name: "all problems at once", cfg: DownstreamConfig{Address: "mail.example.com", TLS: "ssl", HeloName: "bad name", CacheTTL: -1}, wantErr: []string{
			`downstream address "mail.example.com"`, `downstream TLS "ssl"`, "HELO name", "negative",
		}},
		{name: "HELO injection", cfg: DownstreamConfig{Address: "[::1]:25", HeloName: "gw\r\nRSET"}, wantErr: []string{`HELO name "gw\x0d\x0aRSET"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDownstream(tc.cfg)
			if len(tc.wantErr) == 0 {
				if err != nil || d == nil {
					t.Fatalf("NewDownstream = %v", err)
				}
				if d.cfg.TLS != downstream.TLSRequired || d.cfg.Timeout != DefaultDownstreamTimeout || d.cfg.TLSConfig.ServerName != "mail.example.com" || d.cache != nil {
					t.Errorf("defaults not applied: %+v", d.cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("NewDownstream accepted a bad config")
			}
			if got := len(joined(err)); got != len(tc.wantErr) {
				t.Errorf("got %d errors, want %d: %v", got, len(tc.wantErr), err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// mapCache is a SharedCache in memory on the test's clock, standing in
// for Redis (state.AuthCache) in unit tests.
type mapCache struct {
	clock *fakeClock
	down  bool
	m     map[CacheSum]time.Time
}

func (c *mapCache) Seen(sum CacheSum) (time.Duration, error) {
	if c.down {
		return 0, errors.New("store down")
	}
	if exp, ok := c.m[sum]; ok && c.clock.now.Before(exp) {
		return exp.Sub(c.clock.now), nil
	}
	return 0, nil
}

func (c *mapCache) Store(sum CacheSum, ttl time.Duration) error {
	if c.down {
		return errors.New("store down")
	}
	c.m[sum] = c.clock.now.Add(ttl)
	return nil
}

// TestDownstreamSharedCache: two Downstreams (two replicas) with a
// shared store; the downstream server counts its sessions.
func TestDownstreamSharedCache(t *testing.T) {
	key := []byte(strings.Repeat("k", MinCacheKeyLen))
	otherKey := []byte(strings.Repeat("o", MinCacheKeyLen))
	type call struct {
		replica   int // 0 or 1
		password  string
		advance   time.Duration
		want      outcome
		wantConns int32
	}
	tests := []struct {
		name      string
		keys      [2][]byte
		storeDown bool
		calls     []call
	}{
		{
			name: "a login on one replica is a hit on the other", keys: [2][]byte{key, key},
			calls: []call{{0, "right pw", 0, ok, 1}, {1, "right pw", 0, ok, 1}},
		},
		{
			name: "failures are not shared", keys: [2][]byte{key, key},
			calls: []call{{0, "wrong", 0, invalid, 1}, {1, "wrong", 0, invalid, 2}},
		},
		{
			name: "a shared success does not vouch for another password", keys: [2][]byte{key, key},
			calls: []call{{0, "right pw", 0, ok, 1}, {1, "wrong", 0, invalid, 2}},
		},
		{
			name: "an entry learnt from the store keeps its expiry", keys: [2][]byte{key, key},
			calls: []call{
				{0, "right pw", 0, ok, 1},
				{1, "right pw", 50 * time.Second, ok, 1}, // 10s left in the store
				{1, "right pw", 9 * time.Second, ok, 1},  // B's own copy, 1s left
				{1, "right pw", time.Second, ok, 2},      // expired everywhere: not extended by B
			},
		},
		{
			name: "replicas with different keys share nothing", keys: [2][]byte{key, otherKey},
			calls: []call{{0, "right pw", 0, ok, 1}, {1, "right pw", 0, ok, 2}},
		},
		{
			name: "a failing store costs a downstream login, not a refusal", keys: [2][]byte{key, key}, storeDown: true,
			calls: []call{{0, "right pw", 0, ok, 1}, {1, "right pw", 0, ok, 2}, {1, "right pw", 0, ok, 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, testServerConfig{verify: acceptBob})
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			store := &mapCache{clock: clock, down: tc.storeDown, m: map[CacheSum]time.Time{}}
			var ds [2]*Downstream
			for i := range ds {
				d, err := NewDownstream(DownstreamConfig{Address: ts.addr, TLS: downstream.TLSNone, CacheTTL: time.Minute,
					CacheKey: tc.keys[i], Shared: store})
				if err != nil {
					t.Fatal(err)
				}
				d.cache.now = clock.Now
				ds[i] = d
			}
			for i, c := range tc.calls {
				clock.now = clock.now.Add(c.advance)
				err := ds[c.replica].Verify(context.Background(), "bob@example.com", c.password)
				if got := classify(err); got != c.want {
					t.Fatalf("call %d: Verify = %v, want %v", i, err, c.want)
				}
				if got := ts.conns.Load(); got != c.wantConns {
					t.Fatalf("call %d: downstream sessions = %d, want %d", i, got, c.wantConns)
				}
			}
			for sum := range store.m {
				for _, b := range [][]byte{[]byte("right pw"), []byte("bob@example.com")} {
					if strings.Contains(string(sum[:]), string(b)) {
						t.Errorf("the store holds %q in clear", b)
					}
				}
			}
		})
	}
}

func TestNewDownstreamCacheKey(t *testing.T) {
	store := &mapCache{clock: &fakeClock{}, m: map[CacheSum]time.Time{}}
	tests := []struct {
		name    string
		key     []byte
		shared  SharedCache
		wantErr string
	}{
		{name: "shared with a key", key: make([]byte, MinCacheKeyLen), shared: store},
		{name: "key without a store", key: make([]byte, 40)},
		{name: "short key", key: make([]byte, MinCacheKeyLen-1), wantErr: "cache key has 31 bytes, want at least 32"},
		{name: "shared without a key", shared: store, wantErr: "needs a cache key every replica shares"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDownstream(DownstreamConfig{Address: "127.0.0.1:25", TLS: downstream.TLSNone, CacheTTL: time.Minute,
				CacheKey: tc.key, Shared: tc.shared})
			if got := fmt.Sprint(err); tc.wantErr == "" && err != nil || tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Errorf("NewDownstream: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

package e2etest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRequire runs Require against a PATH holding only a fake swaks, and
// shows a missing tool skips with its install hint, or fails under
// GATEWAY_E2E=1.
func TestRequire(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "swaks"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	tests := []struct {
		name     string
		e2e      string
		tools    []string
		wantSkip string // substring; "" means no skip
		wantFail string // substring; "" means no failure
	}{
		{name: "present tool passes", tools: []string{"swaks"}},
		{name: "no tools passes", tools: nil},
		{name: "missing tool skips with hint", tools: []string{"curl"}, wantSkip: "needs curl (apt-get install curl)"},
		{name: "postfix hint", tools: []string{"postfix"}, wantSkip: "needs postfix (apt-get install postfix)"},
		{name: "fail2ban-regex comes with fail2ban", tools: []string{"fail2ban-regex"}, wantSkip: "apt-get install fail2ban"},
		{name: "every missing tool is named", tools: []string{"swaks", "curl", "python3"}, wantSkip: "needs curl (apt-get install curl); needs python3"},
		{name: "missing tool fails under GATEWAY_E2E=1", e2e: "1", tools: []string{"curl"}, wantFail: "needs curl (apt-get install curl)"},
		{name: "GATEWAY_E2E=0 still skips", e2e: "0", tools: []string{"curl"}, wantSkip: "needs curl"},
		{name: "unknown tool name is reported", tools: []string{"sendmail"}, wantSkip: `unknown tool "sendmail"`},
		{name: "haproxy hint", tools: []string{"haproxy"}, wantSkip: "needs haproxy (apt-get install haproxy)"},
		{name: "redis-server hint", tools: []string{"redis-server"}, wantSkip: "needs redis-server (apt-get install redis-server)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvE2E, tc.e2e)
			r := newRecorder(t)
			r.run(func() { Require(r, tc.tools...) })
			if got := r.skipped(); !contains(got, tc.wantSkip) {
				t.Errorf("skip = %q, want containing %q", got, tc.wantSkip)
			}
			if got := strings.Join(r.failures(), "\n"); !contains(got, tc.wantFail) {
				t.Errorf("failures = %q, want containing %q", got, tc.wantFail)
			}
		})
	}
}

// contains is strings.Contains, except that want "" requires got "".
func contains(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.Contains(got, want)
}

// TestStartRedisRequires shows a missing redis-server fails the
// scale-out tests under GATEWAY_E2E=1 instead of skipping them (it used
// to call t.Skip itself), and still skips without it.
func TestStartRedisRequires(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, e2e := range []string{"1", ""} {
		t.Run("GATEWAY_E2E="+e2e, func(t *testing.T) {
			t.Setenv(EnvE2E, e2e)
			r := newRecorder(t)
			r.run(func() { StartRedis(r) })
			defer r.runCleanups()
			failed, skipped := strings.Join(r.failures(), "\n"), r.skipped()
			if e2e == "1" && !strings.Contains(failed, "needs redis-server") {
				t.Errorf("GATEWAY_E2E=1: failures %q, skip %q; want a failure naming redis-server", failed, skipped)
			}
			if e2e == "" && (failed != "" || !strings.Contains(skipped, "needs redis-server")) {
				t.Errorf("failures %q, skip %q; want a skip naming redis-server", failed, skipped)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		name, version string
		want          bool
	}{
		{"same minor", "3.4.0", true},
		{"newer minor", "3.7.11", true},
		{"newer major", "4.0", true},
		{"older minor", "3.3.9", false},
		{"older major", "2.11.3", false},
		{"garbage", "three", false},
		{"major only", "3", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionAtLeast(tc.version, 3, 4); got != tc.want {
				t.Errorf("versionAtLeast(%q, 3, 4) = %v, want %v", tc.version, got, tc.want)
			}
		})
	}
}

func TestFreeAddr(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		t.Run(ip, func(t *testing.T) {
			addr := FreeAddr(t, ip)
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != ip {
				t.Fatalf("FreeAddr(%s) = %q (%v)", ip, addr, err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("listening on FreeAddr's %s: %v", addr, err)
			}
			ln.Close()
		})
	}
}

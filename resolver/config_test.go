package resolver

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
		servers []string
	}{
		{name: "IPv4 with port", cfg: Config{Servers: []string{"127.0.0.1:5353"}}, servers: []string{"127.0.0.1:5353"}},
		{name: "IPv4 port implied", cfg: Config{Servers: []string{"10.0.0.2"}}, servers: []string{"10.0.0.2:53"}},
		{name: "IPv6 bracketed", cfg: Config{Servers: []string{"[::1]:53"}}, servers: []string{"[::1]:53"}},
		{name: "IPv6 bare", cfg: Config{Servers: []string{"2001:db8::1"}}, servers: []string{"[2001:db8::1]:53"}},
		{name: "order kept", cfg: Config{Servers: []string{"192.0.2.2", "192.0.2.1"}}, servers: []string{"192.0.2.2:53", "192.0.2.1:53"}},
		{name: "host name refused", cfg: Config{Servers: []string{"dns.example"}}, wantErr: `"dns.example"`},
		{name: "bad port", cfg: Config{Servers: []string{"127.0.0.1:99999"}}, wantErr: `"127.0.0.1:99999"`},
		{name: "port zero", cfg: Config{Servers: []string{"127.0.0.1:0"}}, wantErr: "port 0"},
		{name: "unbracketed IPv6 with port", cfg: Config{Servers: []string{"::1:53:"}}, wantErr: `"::1:53:"`},
		{name: "empty server", cfg: Config{Servers: []string{""}}, wantErr: `Servers[0]`},
		{name: "negative timeout", cfg: Config{Timeout: -time.Second}, wantErr: "Timeout"},
		{name: "negative TTL", cfg: Config{NegativeTTL: -1}, wantErr: "NegativeTTL"},
		{name: "min above max", cfg: Config{MinTTL: time.Hour, MaxTTL: time.Minute}, wantErr: "MinTTL 1h0m0s exceeds MaxTTL 1m0s"},
		{name: "negative cache size", cfg: Config{CacheSize: -1}, wantErr: "CacheSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New() error = %v, want one containing %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if !slices.Equal(r.servers, tc.servers) {
				t.Errorf("servers = %q, want %q", r.servers, tc.servers)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{Servers: []string{"a.example", "127.0.0.1", "b.example"}, Timeout: -1})
	if err == nil {
		t.Fatal("New accepted bad servers")
	}
	for _, want := range []string{"Servers[0]", `"a.example"`, "Servers[2]", `"b.example"`, "Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name             string
		cfg              Config
		wantMin, wantMax time.Duration
		wantNeg, wantTO  time.Duration
		wantSize         int
	}{
		{name: "zero config", cfg: Config{}, wantMin: DefaultMinTTL, wantMax: DefaultMaxTTL, wantNeg: DefaultNegativeTTL, wantTO: DefaultTimeout, wantSize: DefaultCacheSize},
		{name: "max alone lowers default min", cfg: Config{MaxTTL: 50 * time.Millisecond}, wantMin: 50 * time.Millisecond, wantMax: 50 * time.Millisecond, wantNeg: DefaultNegativeTTL, wantTO: DefaultTimeout, wantSize: DefaultCacheSize},
		{name: "min alone raises default max", cfg: Config{MinTTL: 2 * time.Hour}, wantMin: 2 * time.Hour, wantMax: 2 * time.Hour, wantNeg: DefaultNegativeTTL, wantTO: DefaultTimeout, wantSize: DefaultCacheSize},
		{name: "explicit values kept", cfg: Config{MinTTL: time.Second, MaxTTL: time.Minute, NegativeTTL: time.Second, Timeout: time.Second, CacheSize: 7}, wantMin: time.Second, wantMax: time.Minute, wantNeg: time.Second, wantTO: time.Second, wantSize: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Servers = []string{"127.0.0.1"}
			r, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.minTTL != tc.wantMin || r.maxTTL != tc.wantMax || r.negTTL != tc.wantNeg || r.timeout != tc.wantTO || r.cache.max != tc.wantSize {
				t.Errorf("got min %v max %v neg %v timeout %v size %d", r.minTTL, r.maxTTL, r.negTTL, r.timeout, r.cache.max)
			}
		})
	}
}

func TestSystemServers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{name: "nameserver lines in order", path: write("two", "search example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), want: []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{name: "no nameserver", path: write("none", "options ndots:1\n"), want: []string{fallbackServer}},
		{name: "unreadable file", path: filepath.Join(dir, "missing"), want: []string{fallbackServer}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := systemServers(tc.path); !slices.Equal(got, tc.want) {
				t.Errorf("systemServers = %q, want %q", got, tc.want)
			}
		})
	}
}

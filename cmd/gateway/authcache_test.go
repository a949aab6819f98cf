package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/state"
)

// [state] cache_key_file is a secret file like the Redis password: warned
// when group or others may read it.
func TestSecretFileWarningsCacheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth-cache-key")
	if err := os.WriteFile(p, []byte(strings.Repeat("k", 48)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	cfg.State.CacheKeyFile = p
	got := secretFileWarnings(cfg)
	if len(got) != 1 || !strings.Contains(got[0], "state.cache_key_file "+p+" is readable by group or others (mode 0644)") {
		t.Fatalf("warnings %q, want one for state.cache_key_file", got)
	}
}

// The success cache is shared only with both [state] redis and
// cache_key_file; the key is the file's content.
func TestSharedAuthCache(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := state.Open(state.Options{URL: "redis://127.0.0.1:1/0"}) // never reached: nothing is looked up here
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		name       string
		r          *state.Redis
		file       string
		wantShared bool
		wantErr    string
	}{
		{name: "no redis", file: good},
		{name: "no key file", r: r},
		{name: "both", r: r, file: good, wantShared: true},
		{name: "key file gone since check-config", r: r, file: filepath.Join(dir, "missing"), wantErr: "state.cache_key_file: cannot read it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.State.CacheKeyFile = tc.file
			key, shared, err := sharedAuthCache(cfg, tc.r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (shared != nil) != tc.wantShared || (key != nil) != tc.wantShared {
				t.Fatalf("key %q, shared %v; want shared %v", key, shared, tc.wantShared)
			}
			if tc.wantShared && string(key) != strings.Repeat("k", 40) {
				t.Errorf("key %q, want the file's 40 bytes without the newline", key)
			}
		})
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// [state] cache_key_file: the key the replicas share for the downstream
// AUTH success cache.
func TestStateCacheKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", strings.Repeat("A", 64)+"\n")
	short := write("short", strings.Repeat("A", 31)+"\n\n")
	tests := []struct {
		name    string
		state   string
		wantErr []string // fragments; none: valid
	}{
		{name: "valid", state: "redis = \"redis://127.0.0.1:6379/0\"\ncache_key_file = " + quote(good)},
		{name: "unreadable", state: "redis = \"redis://127.0.0.1:6379/0\"\ncache_key_file = \"/nonexistent/key\"",
			wantErr: []string{"state.cache_key_file", "cannot read it"}},
		{name: "too short after the newline", state: "redis = \"redis://127.0.0.1:6379/0\"\ncache_key_file = " + quote(short),
			wantErr: []string{"state.cache_key_file", "holds 31 bytes, want at least 32", "head -c 48 /dev/urandom | base64 >"}},
		{name: "without redis", state: "cache_key_file = " + quote(good),
			wantErr: []string{"state.cache_key_file", "state.redis is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+"[state]\n"+tc.state+"\n"), "t.toml")
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse: no error, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	key, err := ReadCacheKey(good)
	if err != nil || string(key) != strings.Repeat("A", 64) {
		t.Errorf("ReadCacheKey = %q, %v; want the 64 bytes without the newline", key, err)
	}
}

func quote(s string) string { return `"` + s + `"` }

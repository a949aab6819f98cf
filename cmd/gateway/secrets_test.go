package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/config"
)

// Secret files readable by group or others are warned about, naming the
// file, its mode and the fix (issue 12).
func TestSecretFileWarnings(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		key, users string
		want       []string // fragments, one warning each
	}{
		{name: "private files", key: file("key600", 0o600), users: file("users600", 0o600)},
		{name: "owner read only", key: file("key400", 0o400), users: file("users400", 0o400)},
		{name: "world-readable key", key: file("key644", 0o644),
			want: []string{"tls.key_file " + filepath.Join(dir, "key644") + " is readable by group or others (mode 0644)"}},
		{name: "group-readable users file", users: file("users640", 0o640),
			want: []string{"auth.users_file " + filepath.Join(dir, "users640") + " is readable by group or others (mode 0640)"}},
		{name: "both", key: file("key604", 0o604), users: file("users660", 0o660),
			want: []string{"(mode 0604); it holds secrets: make it private with chmod 600 " + filepath.Join(dir, "key604"), "(mode 0660)"}},
		{name: "missing file is reported elsewhere", key: filepath.Join(dir, "nonexistent")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.TLS.KeyFile, cfg.Auth.UsersFile = tc.key, tc.users
			got := secretFileWarnings(cfg)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not contain %q", got[i], w)
				}
			}
		})
	}
}

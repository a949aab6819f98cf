package main

import (
	"fmt"
	"os"

	"github.com/smtpgateway/gateway/config"
)

// secretFileWarnings warns about secret files that others than their
// owner may read: the TLS private key and the users file (password
// hashes, which an attacker can crack offline). OpenSSH refuses such a
// key; Postfix warns. Here it is a warning, at check-config, at start and
// at reload, naming the file, its mode and the fix: a deployment that
// shares a key with a group on purpose (e.g. Debian's ssl-cert) keeps
// working. A file that cannot be read is reported where it is loaded.
func secretFileWarnings(cfg *config.Config) []string {
	var warns []string
	for _, f := range []struct{ key, path string }{
		{"tls.key_file", cfg.TLS.KeyFile},
		{"auth.users_file", cfg.Auth.UsersFile},
		{"state.password_file", cfg.State.PasswordFile},
		{"state.cache_key_file", cfg.State.CacheKeyFile},
	} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			warns = append(warns, fmt.Sprintf("%s %s is readable by group or others (mode %04o); it holds secrets: make it private with chmod 600 %s (owned by the user the gateway runs as)",
				f.key, f.path, perm, f.path))
		}
	}
	return warns
}

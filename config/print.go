package config

import (
	"bytes"
	"regexp"
	"sort"

	"github.com/BurntSushi/toml"
)

// Masked is what secrets are replaced with when the configuration is shown.
const Masked = "********"

// Effective renders the configuration after defaults, as TOML, with every
// secret (password hashes) masked, for "gateway check-config".
func (c *Config) Effective() (string, error) {
	cp := *c
	cp.Auth.Users = append([]User(nil), c.Auth.Users...)
	for i := range cp.Auth.Users {
		cp.Auth.Users[i].PasswordHash = Masked
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = "  "
	if err := enc.Encode(cp); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// urlPassword finds the password of a URL's userinfo
// (scheme://user:password@host), up to the last "@" (an unencoded "@" in
// the password must not leave its end visible): group 1 is what comes
// before it.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s"':]*):[^/?#\s"']*@`)

// MaskURLPasswords replaces the password in every URL of s that carries one
// (smtp://user:secret@host:25 becomes smtp://user:xxxxx@host:25). Every
// message that may quote the configuration goes through it: a validation
// error, a TOML syntax error showing its line, a log line.
func MaskURLPasswords(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}:xxxxx@")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package config

import (
	"bytes"
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

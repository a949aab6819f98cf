package config

import (
	"bytes"
	"regexp"
	"sort"
	"strings"

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
	return withDownstreamLists(buf.String(), c)
}

// withDownstreamLists writes back as lists the downstreams the file gave
// as failover lists: the encoder sees only their first URL, the string
// field, which it writes as "downstream = ..." at the top of [relay] and
// of each [[relay.route]].
func withDownstreamLists(s string, c *Config) (string, error) {
	lists := [][]string{c.Relay.Downstreams()}
	for _, rt := range c.Relay.Routes {
		lists = append(lists, rt.Downstreams())
	}
	lines := strings.SplitAfter(s, "\n")
	section := -1 // index into lists; -1 outside [relay] and its routes
	next := 1
	for i, line := range lines {
		trim := strings.TrimSpace(line)
		switch {
		case trim == "[relay]":
			section = 0
			continue
		case trim == "[[relay.route]]":
			section, next = next, next+1
			continue
		case strings.HasPrefix(trim, "["):
			section = -1
			continue
		}
		if section < 0 || section >= len(lists) || len(lists[section]) < 2 || !strings.HasPrefix(trim, "downstream = ") {
			continue
		}
		b, err := toml.Marshal(map[string][]string{"downstream": lists[section]})
		if err != nil {
			return "", err
		}
		lines[i] = line[:len(line)-len(strings.TrimLeft(line, " "))] + string(b)
		section = -1
	}
	return strings.Join(lines, ""), nil
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

package main

import (
	"fmt"
	"slices"

	"github.com/smtpgateway/gateway/config"
)

// placeholder is a value of config.toml.example still in a configuration:
// the example was copied and not edited there. It is valid, so nothing
// refuses it; check-config and serve warn.
type placeholder struct {
	key, value string
	put        string // what to write instead
}

func (p placeholder) String() string {
	return fmt.Sprintf("%s = %s is a placeholder from config.toml.example: put %s", p.key, p.value, p.put)
}

// exampleHash is the password hash of config.toml.example's user (a random
// password nobody knows).
const exampleHash = "$2a$12$IUsJWnII65P8SnBc1a3EWOqGnoR1FuW3anV5nQAqAUFRgh1E.Vd32"

// placeholders returns the example's values still in cfg, in the order of
// the example file. RFC 2606's example domains are never a real
// configuration, so local_domains names each of them.
func placeholders(cfg *config.Config) []placeholder {
	var out []placeholder
	if cfg.Hostname == "mx.example.com" {
		out = append(out, placeholder{"hostname", `"mx.example.com"`,
			"this gateway's public host name (the name your MX record points to, matching its PTR record)"})
	}
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if slices.Contains(cfg.LocalDomains, d) {
			out = append(out, placeholder{"local_domains", fmt.Sprintf("[... %q ...]", d),
				"the domains this gateway accepts mail for (" + d + " is reserved for examples, RFC 2606)"})
		}
	}
	if cfg.Relay.Downstream == "smtp://10.0.0.5:25" {
		out = append(out, placeholder{"relay.downstream", `"smtp://10.0.0.5:25"`,
			"the address of your mail server behind the gateway (smtp://host:port)"})
	}
	for i, u := range cfg.Auth.Users {
		if u.PasswordHash == exampleHash {
			out = append(out, placeholder{fmt.Sprintf("auth.user[%d].password_hash", i), "(the example's hash)",
				"a hash from `gateway hash-password` (and the user's own name and addresses)"})
		}
	}
	return out
}

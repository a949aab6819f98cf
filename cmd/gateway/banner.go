package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/smtpgateway/gateway/config"
)

// banner tells a person at the terminal what is running and how to try it.
func banner(w io.Writer, cfg *config.Config, labPass string) {
	var b strings.Builder
	if labPass != "" {
		fmt.Fprintf(&b, "gateway %s: embedded lab default (no -config): loopback only, nothing is relayed anywhere\n", version)
	} else {
		fmt.Fprintf(&b, "gateway %s: running as %s\n", version, cfg.Hostname)
	}
	for _, l := range cfg.Listeners {
		what := "mail for " + strings.Join(cfg.LocalDomains, ", ")
		if cfg.CatchAll() {
			what = "mail for any recipient (lab catch-all)"
		}
		if l.Kind != config.KindMX {
			what = "authenticated clients (AUTH PLAIN/LOGIN after TLS), any recipient"
		}
		fmt.Fprintf(&b, "  %-12s %-22s %-12s %s\n", l.Name, l.Address, l.Kind, what)
	}
	fmt.Fprintf(&b, "  mail goes to %s", cfg.Relay.Downstream)
	if strings.HasPrefix(cfg.Relay.Downstream, "maildir:") {
		fmt.Fprint(&b, " (a Maildir: new messages appear in new/)")
	}
	b.WriteString("\n")
	for _, l := range cfg.Listeners {
		if l.Kind == config.KindMX {
			fmt.Fprintf(&b, "try it:\n  swaks --server %s --ehlo mail.client-lab.net --from alice@client-lab.net --to bob@example.com\n", l.Address)
			break
		}
	}
	if labPass != "" {
		fmt.Fprintf(&b, "submission login: user %q password %q (generated for this run)\n", config.LabUser, labPass)
		for _, l := range cfg.Listeners {
			if l.Kind == config.KindSubmission {
				fmt.Fprintf(&b, "  swaks --server %s -tls --auth PLAIN --auth-user %s --auth-password %s --from %s@client-lab.net --to bob@example.com\n",
					l.Address, config.LabUser, labPass, config.LabUser)
			}
		}
	}
	io.WriteString(w, b.String())
}

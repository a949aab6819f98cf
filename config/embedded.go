package config

import (
	"fmt"
)

// Lab defaults used when "gateway serve" runs without -config: loopback
// only, mail for any recipient into ./maildir, the default HELO policy on.
// Nothing is ever relayed anywhere: the only downstream is the Maildir.
const (
	LabMXAddress         = "127.0.0.1:2525"
	LabSubmissionAddress = "127.0.0.1:2587"
	LabMaildir           = "./maildir"
	LabUser              = "lab"
)

// Embedded returns the lab configuration. passwordHash is the hash of the
// password generated for user "lab" on the submission listener.
func Embedded(passwordHash string) (*Config, error) {
	return EmbeddedAt(passwordHash, "", "")
}

// EmbeddedAt is Embedded with the mx and submission listeners on the
// given addresses ("" keeps LabMXAddress, LabSubmissionAddress). They
// must be loopback addresses: the lab accepts mail for every domain.
func EmbeddedAt(passwordHash, mx, submission string) (*Config, error) {
	return Parse([]byte(EmbeddedTOML(passwordHash, mx, submission)), "embedded default")
}

// EmbeddedTOML is the lab configuration as a file, the way
// "gateway check-config" without -config prints it to start from.
func EmbeddedTOML(passwordHash, mx, submission string) string {
	if mx == "" {
		mx = LabMXAddress
	}
	if submission == "" {
		submission = LabSubmissionAddress
	}
	return fmt.Sprintf(`# The embedded lab default of "gateway serve" without -config: loopback
# only, mail for any recipient into a Maildir, nothing relayed anywhere.
# Run it with "gateway serve -config FILE". For a real MX start from
# config.toml.example, which documents every key.
local_domains = ["*"]

[[listener]]
name = "mx"
address = %q
kind = "mx"

[[listener]]
name = "submission"
address = %q
kind = "submission"

[relay]
downstream = "maildir:%s"

[[auth.user]]
name = %q
password_hash = %q
addresses = ["%s@client-lab.net"]   # the sender the banner's swaks line uses
`, mx, submission, LabMaildir, LabUser, passwordHash, LabUser)
}

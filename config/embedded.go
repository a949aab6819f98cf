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
	doc := fmt.Sprintf(`
# The embedded lab default of "gateway serve" without -config.
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
`, LabMXAddress, LabSubmissionAddress, LabMaildir, LabUser, passwordHash, LabUser)
	return Parse([]byte(doc), "embedded default")
}

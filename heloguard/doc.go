// Package heloguard decides whether a client's HELO/EHLO name is acceptable.
// It does no I/O of its own; DNS arrives through Resolver.
//
// What it owns: the parser of the HELO argument (an RFC 5321 §4.1.2 Domain,
// an RFC 5321 §4.1.3 address literal, or neither), the named checks
// (Checks lists them in evaluation order; the names are the config keys
// under [helo.checks], the log values and the metric labels; each is one
// entry of checkTable in checks.go, with its function, the DNS lookups it
// reads and its default action under each profile, and everything else
// reads that table), the
// profiles that give each check a default action (cpanel, postfix,
// strict, monitor), the reply each profile sends on a refusal (compatible
// texts that senders can search for, with an optional explanatory line
// before them), and the text of the X-HELO-Check and
// Authentication-Results header fields (RFC 8601 iprev).
//
// What it does not own: sockets, go-smtp, logging, metrics and the decision
// of when to ask. The caller (package backend, and the check-helo command,
// which call the very same Policy.Evaluate) passes the facts of a session
// in a Client, a Resolver, and a context that bounds the DNS work; it gets
// back a Verdict, and sends Verdict.Refusal at the stage Policy.Stage
// names. A Policy is immutable once built by NewPolicy and safe for
// concurrent use.
//
// Decisions worth knowing:
//
//   - A single trailing dot is tolerated and dropped ("mail.example.com."
//     is "mail.example.com"): it is the DNS spelling of an absolute name,
//     harmless, and some MTAs send it. Two trailing dots are an empty
//     label.
//   - A bare IP address ("HELO 192.0.2.50") is recognised before the
//     domain grammar, so it fails bare_ip rather than fqdn; an address
//     literal is judged by literal only. Neither is looked up in DNS.
//   - Names are compared ASCII case-insensitively (RFC 1035 §2.3.3).
//   - self refuses our hostname and our local domains exactly, not names
//     under them (as cPanel does): other hosts of a customer's domain may
//     legitimately call themselves office.example.com. A client on one of
//     our own (non-loopback) addresses may use our name; a loopback client
//     may not unless trusted_networks lists it, since loopback is not
//     trusted by default.
//   - rdns_match compares with every PTR name, forward-confirmed or not:
//     whether they resolve back is fcrdns's question.
//   - A temporary DNS failure is its own result, temperror; it never leads
//     to a 5xx reply (RFC 5321 §4.2.1: 4yz for conditions that may go
//     away), at most to a 4xx.
//   - A temporary DNS failure of a check whose action is reject or
//     tempfail defers: cpanel, strict and monitor answer Exim's "451 4.4.3
//     Temporary local problem - please try later"; postfix answers the
//     450 form of the check's own reply, as Postfix does.
//   - strict and monitor use cPanel's reply for every check; the
//     explanatory line tells which check failed and how to fix it.
//   - Names are passed to the Resolver lower case and without a trailing
//     dot; single-label names are never looked up (fqdn judges them, and a
//     stub resolver would append its search list).
//   - deny_names is not one of Checks(): it has no action of its own. When
//     the policy has a deny list its result comes first in
//     Verdict.Results, so it decides ties.
//   - The checks run once per greeting; Verdict.WouldRefuse maps the same
//     results through every profile (the dry run of helo.profile). The
//     other profiles get the operator's [helo.checks] overrides and stage,
//     as if only the profile were changed: a check turned off has no
//     result, so showing a profile's defaults for it would be a guess. A
//     failure counts under reject, reject_all or tempfail; a temperror
//     never (it defers); deny_names under every profile; an exempt client
//     under none.
//   - Allow and deny patterns: "name" (exact), "*.example.com" (names
//     strictly under example.com), ".example.com" (example.com and every
//     name under it), "/regexp/" (Go RE2, case-insensitive, matched
//     against the HELO argument as sent). Precedence: authenticated,
//     trusted, allow_clients, then deny_names, then allow_names: an
//     address the operator trusts cannot be forged, a name can.
package heloguard

// Package address checks envelope addresses for the forms that turn an
// MTA into an open relay: the percent hack (user%remote@local), bang paths
// (remote!user@local), source routes (@local:user@remote, RFC 5321 §4.1.2
// and Appendix C), quoted local parts hiding an @, trailing dots and
// address literals. Legacy servers behind the gateway may still honour
// some of them, so the edge refuses them unless the operator allows them.
//
// The syntax and normal form of the domain are package domain's
// (domain.Mailbox, domain.Normalize).
//
// The package is pure string handling; what the client is told is decided
// by backend.
package address

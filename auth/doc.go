// Package auth checks the credentials of submission clients (RFC 6409,
// RFC 4954 SMTP AUTH): who may log in, with which password, as which
// envelope senders, and how often an address may get it wrong.
//
// It owns:
//   - the local credential Store (users from the configuration plus an
//     optional users file) and its password hashes (bcrypt, argon2id),
//   - the delegated Downstream verifier, which asks the legacy mail
//     server behind the gateway whether a user name and password are good,
//     and its cache of successes (HMAC sums only; shared by replicas
//     through a SharedCache, which package state keeps in Redis),
//   - the SASL server mechanisms PLAIN (RFC 4616) and LOGIN
//     (draft-murchison-sasl-login), as github.com/emersion/go-sasl servers,
//   - the brute-force Limiter, keyed by client address.
//
// It does not own SMTP replies, TLS policy or logging: backend decides
// whether AUTH is offered (only after TLS), turns ErrInvalidCredentials into
// 535 5.7.8 and other errors into 454 4.7.0 (RFC 4954 §6), and logs user
// names only through SanitizeUser (a user the verifier knows) or UserHash
// (any other name: it may be a password typed into the wrong field). Nothing in this package logs, and no
// error it returns contains a password or a password hash.
//
// Verifier is the boundary: backend holds a Verifier (a *Store or a
// *Downstream) and never learns where the answer came from.
package auth

// Package reply holds the one reply type of the gateway, Reply: every
// SMTP reply it writes or passes on (its own refusals, the listener's
// replies, a downstream's reply relayed to the client, the 250 that
// accepts a message) is plain data: a code, an enhanced status code, the
// text the client sees, and what the operator's log needs to know (the
// check name and evidence). It imports only the standard library so that
// listener, heloguard, relay, auth and backend can all build replies
// without depending on each other or on go-smtp.
//
// Codes are named once, in codes.go, and used by name:
//
//   - reply codes are C, the code, and its meaning in RFC 5321 (or the
//     RFC that defines it): C550MailboxUnavailable;
//   - enhanced status codes are E, the class, the subject and the detail
//     digits, and the meaning in the RFC 3463 registry: E571NotAuthorized
//     is 5.7.1, E5725ReverseDNS is 5.7.25 (the subject is always one
//     digit, so the digits read back unambiguously).
//
// Only backend turns a Reply into a go-smtp error (backend's smtpError);
// the listener, which writes under go-smtp, renders with Reply.Wire.
//
// It also owns how much of what the client sent a log line carries: Clip,
// which every layer that logs client-supplied strings uses.
package reply

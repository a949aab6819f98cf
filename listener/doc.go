// Package listener owns the TCP side of the gateway's SMTP edge: what
// happens to a connection before and around go-smtp.
//
// A Listener wraps a net.Listener. Each accepted connection is prepared in
// its own goroutine, so that a slow client never holds up Accept: PROXY
// protocol header (trusted load balancers only), connection limits in
// total, per client address and per minute (421 4.7.0), the pregreet test
// (a client that talks before the final 220 line gets 554 5.5.1), and the
// implicit TLS handshake of submissions listeners (RFC 8314).
//
// The Conn handed to go-smtp is a guard over the byte stream. It sees every
// command line before go-smtp does and every reply line go-smtp writes, so
// it can enforce what go-smtp leaves open:
//
//   - command lines longer than the limit (RFC 5321 §4.5.3.1.4; AUTH
//     exchanges may be 12288 bytes, RFC 4954 §4): 500 5.5.2 Line too long;
//   - command lines with control characters (NUL, bare CR, ...; HTAB
//     aside) are answered 501 5.5.2 here and never reach go-smtp, which
//     would echo or accept them;
//   - unrecognized verbs are answered 500 5.5.1 here (RFC 5321 §4.2.4);
//   - command and DATA timeouts (RFC 5321 §4.5.3.2) and a cap on the whole
//     session, so that slow clients are cut off;
//   - STARTTLS (RFC 3207) is done here, not in go-smtp: anything the client
//     pipelined behind STARTTLS in plaintext is discarded, never executed
//     after the handshake (the CVE-2011-0411 family);
//   - caps on commands and on error replies (421 4.7.0);
//   - a reply with code 421 closes the connection after it is written
//     (RFC 5321 §3.8);
//   - graceful drain: an idle session is told 421 4.3.2 and closed, a
//     transaction in flight is left to finish.
//
// Because TLS is terminated here, the guard reads plaintext in every case
// and go-smtp always sees a plain connection; the session learns about TLS
// from Conn.TLS. The package knows nothing of SMTP policy beyond framing:
// HELO checks, AUTH and relaying belong to backend.
package listener

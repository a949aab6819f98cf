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
// The Conn handed to go-smtp is a guard over the byte stream: a second
// framer under go-smtp's own. Two framers of one stream are how commands
// get smuggled, so the guard frames exactly as go-smtp does (one command
// line per Read, DATA ended by go-smtp's dot-reader states, BDAT sizes by
// go-smtp's argument rules; FuzzFramingDifferential checks this against a
// real go-smtp at every read), and it exists only for jobs that go-smtp
// v0.26 leaves no hook for. go-smtp's Backend hears of a command only
// after parsing it and only for HELO, MAIL, RCPT, AUTH, DATA/BDAT and
// RSET; its Server has fixed texts, one ReadTimeout and no reply hook.
// The jobs, each with why go-smtp cannot do it:
//
//   - command lines longer than the limit, AUTH exchanges up to 12288
//     bytes (RFC 5321 §4.5.3.1.4, RFC 4954 §4): 500 5.5.2 Line too long.
//     Server.MaxLineLength is one limit for every line, message lines
//     too (it would cut messages go-smtp should stream), with no room
//     for AUTH and its own "500 5.4.0 Too long line" text;
//   - command lines with control characters (NUL, bare CR, ...; HTAB
//     aside): 501 5.5.2, never reaching go-smtp, which would echo them
//     (EHLO's 250) or take them into an address, and answers NOOP, RSET
//     or VRFY without asking the Backend;
//   - unrecognized verbs: 500 5.5.1 (RFC 5321 §4.2.4); go-smtp answers
//     500 5.5.2, or 501 Bad command for a verb not four letters long;
//   - command and DATA timeouts (RFC 5321 §4.5.3.2) and a cap on the whole
//     session: Server.ReadTimeout is one per-line deadline (a DATA of any
//     length gets the one set at the DATA command), with no session cap
//     and no text of ours;
//   - STARTTLS (RFC 3207), with plaintext pipelined behind it discarded
//     (the CVE-2011-0411 family) and refused after AUTH (503): every job
//     here must read plaintext, so TLS cannot be go-smtp's, under which
//     the guard would see ciphertext. STARTTLS is added to the EHLO reply
//     here for the same reason;
//   - caps on commands, greetings and error replies (421 4.7.0): go-smtp
//     counts only its own syntax errors, three at most, and no commands;
//   - a reply with code 421 closes the connection after it is written
//     (RFC 5321 §3.8); go-smtp writes a Backend's 421 and reads on;
//   - graceful drain: an idle session is told 421 4.3.2 and closed, a
//     transaction in flight is left to finish; Server.Shutdown only
//     waits for every connection to end by itself;
//   - replies go-smtp writes as fixed lines: 501 5.5.2 for undecodable
//     SASL data (go-smtp's 454 says the server is at fault), the MAIL
//     before HELO/EHLO reply of the HELO policy (Config.BeforeGreeting;
//     go-smtp answers 502 without asking the Backend), EHLO keywords
//     hidden while the downstream lacks them (Config.Advertise; go-smtp's
//     EnableSMTPUTF8 and EnableDSN are fixed for the server);
//   - facts go-smtp hides from the session: the RCPT argument as sent
//     (go-smtp normalizes the address), the number of greetings (go-smtp
//     calls Session.Reset for a second EHLO as for RSET), a dot followed
//     by a bare CR in DATA (go-smtp's dot reader drops both silently), and
//     the moment the client's end of data is read, until our reply to it
//     (the connection must not be cut then).
//
// Because TLS is terminated here, the guard reads plaintext in every case
// and go-smtp always sees a plain connection; the session learns about TLS
// from Conn.TLS. The package knows nothing of SMTP policy beyond framing:
// HELO checks, AUTH and relaying belong to backend.
package listener

// Package message holds the streaming filters that stand between the
// client's DATA and the downstream MTA, and the trace fields the gateway
// adds to a message.
//
// Filter makes the body safe to hand on: go-smtp's server ends DATA only at
// <CRLF>.<CRLF> but passes bare LF and bare CR through as data, and an older
// downstream may treat "\n.\n" or "\r.\r" as the end of data. That
// difference is SMTP smuggling (CVE-2023-51764, CVE-2023-51765,
// CVE-2023-51766): a second message hidden in the first. After Filter the
// stream has CRLF line endings only (RFC 5321 §2.3.8), so the one
// end-of-data the downstream sees is the one relay writes.
//
// NewHeaderRewriter prepends the gateway's own trace fields and removes
// fields that only the gateway may write, such as Authentication-Results
// (RFC 8601 §5), from the header section. Received and Field build those
// fields with every client-supplied value sanitized, so a HELO name or an
// address can never start a header line of its own, and a message whose
// first line would continue the gateway's last field is refused
// (KindFoldedFirstLine).
//
// Everything here works on io.Reader streams with bounded memory; nothing
// buffers a whole message. The package decides nothing about policy: it
// reports what it saw (FilterError, FilterStats) and backend chooses the
// reply.
package message

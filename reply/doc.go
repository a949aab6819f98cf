// Package reply holds the one refusal type every layer of the gateway may
// return: plain data (an SMTP code, an enhanced status code, the text the
// client sees, and what the operator's log needs to know). It imports only
// the standard library so that heloguard, relay, auth and backend can all
// produce refusals without depending on each other or on go-smtp.
//
// Only backend turns a Refusal into a go-smtp error.
//
// It also owns how much of what the client sent a log line carries: Clip,
// which every layer that logs client-supplied strings uses.
package reply

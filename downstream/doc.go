// Package downstream owns what the gateway knows about the servers behind
// it before talking to them: the downstream URL (smtp://host:port,
// smtps://host:port, maildir:PATH), parsed once into a URL that config
// validates, cmd/gateway builds relay targets from and auth's downstream
// verifier dials; the TLS modes towards a downstream (TLSMode); and the
// hand-made STARTTLS exchange (StartTLS) that both relay and auth put in
// front of go-smtp's client.
//
// It is a leaf: it imports nothing of the gateway, so config, relay and
// auth can all use it without a dependency pointing the wrong way.
package downstream

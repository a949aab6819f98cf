// Package config owns the gateway's configuration file: one TOML document
// whose struct tree mirrors config.toml.example key for key.
//
// Load decodes a file key by key, refuses unknown keys (suggesting the
// known key of the same table a typo away), applies defaults and validates
// every value, reporting all problems of every kind at once, in file order,
// each with its line and key path, e.g.
//
//	gateway.toml:12: listener[1].address: "0.0.0.0" is not host:port; write it like "0.0.0.0:25" or "[::]:587"
//	gateway.toml:20: unknown key limits.max_mesage_bytes; did you mean max_message_bytes?
//
// Only a syntax error stops at the first problem (the rest of the file
// cannot be read). A key is one field with a toml tag in types.go, its
// default in defaults.go and its check in validate.go: decoding, locating
// and suggesting keys need no list of their own.
//
// The package knows nothing of SMTP sessions; it only says what the
// operator asked for. Other packages (backend, heloguard, relay, auth)
// receive plain values built from it by cmd/gateway.
package config

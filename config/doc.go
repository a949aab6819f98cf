// Package config owns the gateway's configuration file: one TOML document
// whose struct tree mirrors config.toml.example key for key.
//
// Load decodes a file (syntax and type errors keep their line), refuses
// unknown keys, applies defaults and validates every value, reporting all
// problems at once, each naming its key path, e.g.
//
//	listener[1].address: "0.0.0.0" has no port; write it as host:port, e.g. "0.0.0.0:25"
//
// The package knows nothing of SMTP sessions; it only says what the
// operator asked for. Other packages (backend, heloguard, relay, auth)
// receive plain values built from it by cmd/gateway.
package config

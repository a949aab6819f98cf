// Package domain owns the syntax and the normal form of domain names: the
// one place that says what a domain is (LDH labels of 1 to 63 octets, no
// hyphen at either end of a label, RFC 1035 §2.3.1, RFC 1123 §2.1,
// RFC 5321 §4.1.2), how long it may be, and how two spellings of the same
// name are made equal (case, one trailing dot, IDNA U-labels to A-labels,
// which SMTPUTF8 needs, RFC 6531 §3.3).
//
// Callers do not all want the same syntax, on purpose: a HELO name is
// LDH only, a recipient domain may still be a U-label, a DNS answer may
// carry '_'. Each difference is a named Rule here, with who uses it and
// why; no caller re-implements the check.
//
// It does not own address literals ([192.0.2.1]), mailboxes (package
// address), or any decision about what a client is told. It is pure
// string handling and allocates nothing on the syntax path.
package domain

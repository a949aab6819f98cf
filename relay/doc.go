// Package relay delivers accepted mail to downstream MTAs. It keeps no
// queue: the gateway says 250 to its client only after the downstream has
// said 250 ("proxy mode"), so a message is delivered exactly once per 250
// the client hears, and every failure is a reply the sender sees and can
// retry.
//
// A Target is where mail goes: SMTPTarget (smtp://host:port,
// smtps://host:port) speaks SMTP through github.com/emersion/go-smtp's
// client over a bounded pool of connections; MaildirTarget (maildir:PATH)
// writes files, for labs; Failover tries a list of targets in order (no
// failover once a recipient was accepted). The URLs are parsed by package
// downstream, which also does the STARTTLS exchange before go-smtp's
// client takes over. A Transaction mirrors the client's: MAIL FROM is
// sent lazily with the first RCPT, each RCPT is forwarded as it arrives and
// the downstream's refusal comes back as a *ReplyError, DATA is streamed and
// dot-stuffed (RFC 5321 §4.5.2). If the message cannot be read to its end
// or the context ends, the connection is dropped without the final dot, so
// the downstream discards the partial message (RFC 5321 §4.1.1.4). Router
// picks a Target by recipient domain.
//
// Errors come in two kinds: a *ReplyError is the downstream's own refusal, which
// may be passed on; anything else wraps ErrUnavailable (answer 451 4.4.1)
// or, from Data, the message reader's error.
//
// relay does not decide what the client hears, apply policy, rewrite
// messages (see package message) or retry later: backend does the first
// two, and the sender's MTA the last.
package relay

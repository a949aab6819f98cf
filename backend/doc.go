// Package backend is the gateway's go-smtp Backend and Session: the policy
// flow of one SMTP connection, from the first HELO to the last reply.
//
// A session asks heloguard for a verdict on the client's HELO name (started
// at HELO, awaited where the policy's stage says), enforces AUTH on
// submission listeners, refuses relaying for strangers and the address
// forms that open legacy servers to relaying, and relays each transaction
// through package relay in proxy mode: MAIL is forwarded at the first
// recipient, every RCPT in real time, DATA streamed through the smuggling
// filter of package message, and the client hears 250 only after the
// downstream said 250.
//
// In queue and hybrid mode ([relay] mode, queue.go) RCPT is still checked
// by the downstream and the accepted recipients are remembered for
// verify_cache; while the downstream cannot be reached only those are
// accepted. Data writes the same filtered bytes into a spool file (package
// queue): queue mode answers 250 once it is committed, hybrid mode streams
// to the downstream too and commits the copy only when the downstream
// failed before its final 250.
//
// backend is the only package that turns a reply.Reply into a go-smtp
// error (toSMTPError, the one conversion), and it writes the one log line
// per refusal that tells the operator why. It never hands go-smtp a plain
// error: go-smtp would send its text to the client.
package backend

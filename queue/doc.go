// Package queue is the gateway's durable spool: messages accepted in queue
// or hybrid mode are written here, fsynced, and delivered later by a
// runner with retries, per-route concurrency and RFC 3464 DSNs.
//
// It knows nothing of backend, go-smtp's server, relay or config: a
// message arrives through Create/Writer, leaves through a Deliverer, and
// main translates configuration into Options. One gateway process owns a
// spool directory (Open flocks dir/lock); the admin functions List, Show,
// Flush and Delete work on the directory alongside it.
//
// # On disk
//
//	dir/<id>.msg        the message: envelope header, body, trailer; never changed once committed
//	dir/<id>.state      bookkeeping (attempts, next attempt, per-recipient state); absent = untouched
//	dir/tmp/            files being written; emptied by Open
//	dir/quarantine/     corrupt messages, moved aside, logged, never delivered
//	dir/lock            flocked by the gateway process that owns the spool
//	dir/wake            created by Flush/Delete; the runner polls for it every second and re-reads the spool
//
// Ids are 24 lower-case hex digits (16 of the creation time in ns, 8
// random): they sort by creation and cannot name a path outside the spool.
//
// A message file is
//
//	"GWQ1 " <8 hex digits: length of the JSON> "\n"
//	<the immutable Envelope as JSON> "\n"
//	<the message, exactly as it is to be relayed, trace headers included>
//	"GWQ1 END " <16 hex digits: body size> " " <8 hex digits: CRC-32C of the body> "\n"
//
// A state file is JSON ({"attempts", "next_attempt", "last_error",
// "delay_warned", "rcpts": [{"status", "reply"}]}, one entry per envelope
// recipient, in order).
//
// # Durability
//
// Create writes the header to tmp/<id>.msg; Write appends; Commit writes
// the trailer, fsyncs the file, renames it to dir/<id>.msg and fsyncs
// dir. The rename is the commit point: only after the directory fsync
// does Commit return, and only then may the client hear 250. The
// directory fsync is a group commit: Commits, state updates and removals
// running at the same time share one (each still waits for an fsync that
// began after its own rename), while every message file gets its own
// fsync. Every state
// update is a new file in tmp/, fsynced, renamed over <id>.state, the
// directory fsynced: a crash leaves the old state or the new one. Open
// empties tmp/ (messages never committed: their clients never heard 250),
// removes state files whose message is gone, quarantines message files
// whose header or trailer does not parse, and schedules every other
// message. A body whose CRC does not match is quarantined at its next
// attempt, before anything of it is sent.
//
// # The duplicate windows
//
// A message is delivered twice, never lost, when the process dies
//   - after the downstream's final 250 and before the state update (or
//     the removal of a finished message) reached the disk: on restart the
//     recipients the downstream took are still pending and get the
//     message again. The window is one Deliver's return plus one
//     write+fsync+rename+fsync (a removal: unlink+unlink+fsync), where
//     the directory fsync is the group commit's and may first wait for
//     one already running: a few milliseconds (two directory fsyncs,
//     about 1.5 ms each on the benchmark's disk, at worst);
//   - after a DSN was committed and before the original's state update:
//     the DSN is sent again (DSNs are spooled first, so one is never lost
//     to a crash);
//   - after Commit's rename but before the client heard the 250 (or
//     before hybrid mode's Abort after the downstream took it): the
//     client, not knowing, sends again.
//
// # The runner
//
// Each message has a next attempt time; the runner starts every due
// message whose route has fewer than Concurrency deliveries in flight.
// Idle messages wait in a heap ordered by next attempt, due ones whose
// route is busy in a list per route, so a wake costs the same with a
// backlog of 100,000 messages as with none (BenchmarkDispatchBacklog).
// When an attempt finds the route's downstream unreachable (the
// Deliverer's error is ErrUnreachable: not reached, or the connection lost
// before it answered), the route is held: its other due messages wait,
// without an attempt or a state write each, for RetryMin (doubling per
// consecutive hold up to RetryMax, with jitter), until dir/wake, or until
// a session reaches the downstream (Reachable: its real-time RCPT check
// was answered); then they go again. Logged once per hold ("queue route
// held").
// After a failed attempt (Deliver's error, or a 4xx for some recipient)
// the next one is RetryMin doubled per attempt up to RetryMax, times a
// random factor in [0.75, 1.25), but never later than the delay warning
// or MaxAge. An attempt holds the message file's flock and re-reads the
// envelope and state from disk first, so admin commands never race it.
//
// # DSNs
//
// DSNs (RFC 3464: multipart/report; report-type=delivery-status) are
// spooled as new messages from <> to the original sender (NOTIFY=NEVER,
// route Options.DSNRoute) and delivered like any other: the downstream
// must accept them for remote senders, or DSNRoute must name a route that
// does. Never a DSN for a message from <>. Per recipient:
//   - 5xx: Action failed, Status from the reply's enhanced code (else
//     5.0.0), Diagnostic-Code "smtp; <the downstream's reply>";
//   - MaxAge reached: Action failed, Status 5.4.7, the last reply as
//     diagnostic; the message is removed;
//   - still pending DelayWarning after arrival: Action delayed, once per
//     message, with Will-Retry-Until;
//   - 2xx with NOTIFY=SUCCESS: Action delivered.
//
// NOTIFY absent means FAILURE,DELAY (RFC 3461 §4.1 lets the MTA choose;
// delay warnings still need Options.DelayWarning > 0). RET absent means
// FULL: the whole message as message/rfc822, except messages over 1 MiB
// and BINARYMIME ones, which are returned as headers (text/rfc822-headers)
// like RET=HDRS. Original-Recipient comes from ORCPT, Original-Envelope-Id
// from ENVID. For SMTPUTF8 messages (or a non-ASCII sender) the DSN uses
// RFC 6533: message/global-delivery-status, message/global or
// message/global-headers, and is itself sent with SMTPUTF8. All
// recipients finished in one attempt share one DSN. DSNs bypass MaxBytes
// and MinFreeBytes (one the queue owes must not be refused by the cap);
// if one cannot be written at all, it is logged as lost and the state is
// still written, so that no recipient gets the message twice.
//
// # Admin commands
//
// Flush takes a message's flock (waiting up to 30 seconds for an attempt
// in flight), sets its next attempt to now in the state file and creates
// dir/wake. Delete waits up to five
// minutes for an attempt in flight to end, then removes the message (no
// DSN) and creates dir/wake. The runner checks for dir/wake every second,
// removes it and re-reads the spool: new messages are scheduled, removed
// ones forgotten, next attempts re-read.
package queue

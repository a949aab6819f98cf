// Package e2etest is the harness for the gateway's end-to-end tests: it runs
// the real gateway binary, real SMTP clients (swaks, Python's smtplib, curl,
// and a byte-exact raw client) and a real Postfix as the downstream MTA, all
// on loopback addresses.
//
// It owns:
//   - Require: skip a test, naming the Debian package to install, when a tool
//     is missing; fail instead when GATEWAY_E2E=1 (CI), so a broken CI image
//     cannot pass by skipping everything. Main prints one line saying how
//     many tests Require skipped and why, visible without -v.
//   - Postfix: a private Postfix instance per call, with its own config,
//     queue, data and log under t.TempDir(), smtpd on 127.0.0.1:PORT only,
//     delivering every accepted message for its domains into a Maildir
//     (virtual(8)) and relaying nowhere. The system Postfix is never
//     configured, started or stopped, and its queue (/var/spool/postfix) is
//     never touched; of /etc/postfix only dynamicmaps.cf is read (Postfix's
//     meta_directory). The master(8) process is a direct child of the test
//     process, so its PID is known without pid files and every daemon it
//     spawns shares its session ID, which is how Stop finds them.
//   - Gateway: builds ./cmd/gateway once per test process (with -race when
//     the tests run with -race; Main removes the binary afterwards) and runs
//     `gateway serve -config FILE` with captured output.
//   - Clients: Swaks, Python, Curl (bounded in time) and Raw, an SMTP client
//     that sends exactly the bytes a test gives it (RFC 5321 §4.2 replies are
//     parsed into Reply).
//
// It does not own the tests themselves (package e2e), the gateway's
// configuration format (the tests write TOML text), or any assertion about
// the gateway's behaviour beyond the process contract: the binary must exit
// 0 on SIGTERM and must not report a data race.
//
// Every wait is bounded, every process the harness starts is ended by PID in
// a t.Cleanup, and all helpers report through testing.TB, so they must be
// called from the test's goroutine, like t.Fatal. Ports come from FreeAddr,
// so several test binaries can run instances at once; a readiness check
// accepts a port only when /proc shows the started process holds it.
//
// Running Postfix needs root (master(8) binds, chowns and drops privileges)
// and Postfix ≥ 3.4 (maillog_file with postlogd(8), so no syslog daemon is
// needed).
package e2etest

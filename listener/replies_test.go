package listener

import (
	"testing"

	"github.com/smtpgateway/gateway/reply"
)

// TestGuardRepliesWire pins the bytes of every reply the guard writes
// itself: they are a public interface (README's "SMTP replies"), written
// as literal strings before they became reply.Reply values.
func TestGuardRepliesWire(t *testing.T) {
	const host = "mx.example.net"
	tests := []struct {
		name string
		r    reply.Reply
		want string
	}{
		{"shutting down", named(replyShuttingDown, host), "421 4.3.2 mx.example.net Service shutting down, try again later\r\n"},
		{"too many commands", named(replyTooManyCommands, host), "421 4.7.0 mx.example.net Error: too many commands\r\n"},
		{"too many greetings", named(replyTooManyGreetings, host), "421 4.7.0 mx.example.net Error: too many HELO/EHLO commands\r\n"},
		{"too many errors", named(replyTooManyErrors, host), "421 4.7.0 mx.example.net Error: too many errors\r\n"},
		{"session time limit", named(replySessionTimeLimit, host), "421 4.4.2 mx.example.net Error: session time limit exceeded\r\n"},
		{"timeout", named(replyTimeout, host), "421 4.4.2 mx.example.net Error: timeout exceeded\r\n"},
		{"pregreet", named(replyPregreet, host), "554 5.5.1 mx.example.net Error: you talked before the greeting; wait for the final 220 line (RFC 5321 §4.3.1)\r\n"},
		{"too many connections", tooManyConnections(host, "3 connections from 127.0.0.2 (limit 3)"),
			"421-4.7.0 mx.example.net: 3 connections from 127.0.0.2 (limit 3); try again later\r\n421 4.7.0 Too many connections\r\n"},
		{"control characters", replyControlChars, "501 5.5.2 Syntax error: control characters in command line\r\n"},
		{"unknown command", replyUnknownCommand, "500 5.5.1 Error: command not recognized\r\n"},
		{"line too long", replyLineTooLong, "500 5.5.2 Line too long\r\n"},
		{"STARTTLS syntax", replySTARTTLSSyntax, "501 5.5.4 Syntax: STARTTLS\r\n"},
		{"TLS active", replyTLSActive, "503 5.5.1 Error: TLS is already active\r\n"},
		{"TLS after AUTH", replyTLSAfterAuth, "503 5.5.1 Error: already authenticated; STARTTLS must come before AUTH\r\n"},
		{"ready for TLS", replyReadyTLS, "220 2.0.0 Ready to start TLS\r\n"},
		{"invalid base64", replyInvalidBase64, "501 5.5.2 Error: invalid base64 data in the AUTH exchange; encode each response in base64 (RFC 4954)\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Wire(); got != tc.want {
				t.Errorf("wire %q, want %q", got, tc.want)
			}
		})
	}
	// named works on a copy: the shared value keeps its text.
	if replyTimeout.Text != "Error: timeout exceeded" {
		t.Errorf("replyTimeout changed to %q", replyTimeout.Text)
	}
}

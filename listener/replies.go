package listener

import "github.com/smtpgateway/gateway/reply"

// The replies the guard writes itself, under go-smtp: to commands go-smtp
// never sees (STARTTLS, control characters, unknown verbs), before it
// closes a connection (limits, timeouts, shutdown) and when it refuses one
// at accept. Those sent through named carry the server's host name in
// front of their text, as Postfix's 421s do.
var (
	replyShuttingDown     = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E432NotAcceptingMessages, Text: "Service shutting down, try again later"}
	replyTooManyCommands  = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: "Error: too many commands"}
	replyTooManyGreetings = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: "Error: too many HELO/EHLO commands"}
	replyTooManyErrors    = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: "Error: too many errors"}
	replySessionTimeLimit = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E442BadConnection, Text: "Error: session time limit exceeded"}
	replyTimeout          = reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E442BadConnection, Text: "Error: timeout exceeded"}
	replyPregreet         = reply.Reply{Code: reply.C554TransactionFailed, Enhanced: reply.E551InvalidCommand, Text: "Error: you talked before the greeting; wait for the final 220 line (RFC 5321 §4.3.1)"}

	replyControlChars = reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E552SyntaxError, Text: "Syntax error: control characters in command line"}
	// RFC 5321 §4.2.4: 500 for an unrecognized command.
	replyUnknownCommand = reply.Reply{Code: reply.C500SyntaxError, Enhanced: reply.E551InvalidCommand, Text: "Error: command not recognized"}
	replyLineTooLong    = reply.Reply{Code: reply.C500SyntaxError, Enhanced: reply.E552SyntaxError, Text: "Line too long"}
	replySTARTTLSSyntax = reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E554InvalidArguments, Text: "Syntax: STARTTLS"}
	replyTLSActive      = reply.Reply{Code: reply.C503BadSequence, Enhanced: reply.E551InvalidCommand, Text: "Error: TLS is already active"}
	replyTLSAfterAuth   = reply.Reply{Code: reply.C503BadSequence, Enhanced: reply.E551InvalidCommand, Text: "Error: already authenticated; STARTTLS must come before AUTH"}
	// RFC 3207 §4: the client starts the TLS handshake after it.
	replyReadyTLS = reply.Reply{Code: reply.C220ServiceReady, Enhanced: reply.E200Success, Text: "Ready to start TLS"}
	// RFC 4954 §4: 501 5.5.2 for SASL data that is not base64.
	replyInvalidBase64 = reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E552SyntaxError, Text: "Error: invalid base64 data in the AUTH exchange; encode each response in base64 (RFC 4954)"}
)

// named returns r with host in front of its text.
func named(r reply.Reply, host string) reply.Reply {
	r.Text = host + " " + r.Text
	return r
}

// tooManyConnections refuses a connection at accept; detail says which
// limit it hit.
func tooManyConnections(host, detail string) reply.Reply {
	return reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: host + ": " + detail + "; try again later\nToo many connections"}
}

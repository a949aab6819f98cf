package listener

import "github.com/smtpgateway/gateway/reply"

// The replies the guard writes itself, under go-smtp: to commands go-smtp
// never sees (STARTTLS, control characters, unknown verbs) and before it
// closes a connection (limits, timeouts, shutdown) or refuses one at
// accept. Those that name the server start their text with its host name,
// as Postfix's 421s do. Each call returns a new value.

func replyShuttingDown(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E432NotAcceptingMessages, Text: host + " Service shutting down, try again later"}
}

func replyTooManyCommands(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: host + " Error: too many commands"}
}

func replyTooManyGreetings(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: host + " Error: too many HELO/EHLO commands"}
}

func replyTooManyErrors(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: host + " Error: too many errors"}
}

func replySessionTimeLimit(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E442BadConnection, Text: host + " Error: session time limit exceeded"}
}

func replyTimeout(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E442BadConnection, Text: host + " Error: timeout exceeded"}
}

// replyTooManyConnections refuses a connection at accept; detail says
// which limit it hit.
func replyTooManyConnections(host, detail string) *reply.Reply {
	return &reply.Reply{Code: reply.C421ServiceNotAvailable, Enhanced: reply.E470Security, Text: host + ": " + detail + "; try again later\nToo many connections"}
}

func replyPregreet(host string) *reply.Reply {
	return &reply.Reply{Code: reply.C554TransactionFailed, Enhanced: reply.E551InvalidCommand, Text: host + " Error: you talked before the greeting; wait for the final 220 line (RFC 5321 §4.3.1)"}
}

func replyControlChars() *reply.Reply {
	return &reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E552SyntaxError, Text: "Syntax error: control characters in command line"}
}

// replyUnknownCommand is RFC 5321 §4.2.4's 500 for an unrecognized command.
func replyUnknownCommand() *reply.Reply {
	return &reply.Reply{Code: reply.C500SyntaxError, Enhanced: reply.E551InvalidCommand, Text: "Error: command not recognized"}
}

func replyLineTooLong() *reply.Reply {
	return &reply.Reply{Code: reply.C500SyntaxError, Enhanced: reply.E552SyntaxError, Text: "Line too long"}
}

func replySTARTTLSSyntax() *reply.Reply {
	return &reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E554InvalidArguments, Text: "Syntax: STARTTLS"}
}

func replyTLSActive() *reply.Reply {
	return &reply.Reply{Code: reply.C503BadSequence, Enhanced: reply.E551InvalidCommand, Text: "Error: TLS is already active"}
}

func replyTLSAfterAuth() *reply.Reply {
	return &reply.Reply{Code: reply.C503BadSequence, Enhanced: reply.E551InvalidCommand, Text: "Error: already authenticated; STARTTLS must come before AUTH"}
}

// replyReadyTLS starts the TLS handshake (RFC 3207 §4).
func replyReadyTLS() *reply.Reply {
	return &reply.Reply{Code: reply.C220ServiceReady, Enhanced: reply.E200Success, Text: "Ready to start TLS"}
}

// replyInvalidBase64 is RFC 4954 §4's 501 5.5.2 for SASL data that is not
// base64.
func replyInvalidBase64() *reply.Reply {
	return &reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E552SyntaxError, Text: "Error: invalid base64 data in the AUTH exchange; encode each response in base64 (RFC 4954)"}
}

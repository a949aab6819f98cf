package reply

// Reply codes the gateway chooses itself (RFC 5321 §4.2.2 and §4.2.3,
// RFC 4954 §6 for AUTH, RFC 3207 for STARTTLS). The name is C, the code,
// and what RFC 5321 (or the RFC that defines it) says it means.
const (
	C220ServiceReady             = 220
	C250Completed                = 250
	C421ServiceNotAvailable      = 421
	C450MailboxUnavailable       = 450
	C451LocalError               = 451
	C452InsufficientStorage      = 452
	C454TemporaryAuthFailure     = 454 // RFC 4954 §6
	C500SyntaxError              = 500
	C501ParameterSyntax          = 501
	C503BadSequence              = 503
	C504ParameterNotImplemented  = 504
	C530AuthRequired             = 530 // RFC 4954 §6
	C535AuthCredentialsInvalid   = 535 // RFC 4954 §6
	C538EncryptionRequired       = 538 // RFC 4954 §6
	C550MailboxUnavailable       = 550
	C552ExceededStorage          = 552
	C553MailboxNameNotAllowed    = 553
	C554TransactionFailed        = 554
	C555ParametersNotImplemented = 555
)

// Enhanced status codes the gateway chooses itself (RFC 3463 and the
// registry it founded). The name is E, the class digit, the subject digit
// (RFC 3463 subjects are 0 to 7, one digit), the detail (one or two
// digits), and what the registry says it means: E5725ReverseDNS is 5.7.25.
// The class is part of the name because a 4xx and a 5xx reply need their
// own. They are variables only because Go has no array constants: never
// assign to them.
var (
	E200Success                 = Enhanced{2, 0, 0}
	E430MailSystem              = Enhanced{4, 3, 0} // other or undefined mail system status
	E431MailSystemFull          = Enhanced{4, 3, 1} // mail system full
	E432NotAcceptingMessages    = Enhanced{4, 3, 2} // system not accepting network messages
	E441NoAnswer                = Enhanced{4, 4, 1} // no answer from host
	E442BadConnection           = Enhanced{4, 4, 2}
	E443DirectoryServerFailure  = Enhanced{4, 4, 3} // e.g. DNS
	E453TooManyRecipients       = Enhanced{4, 5, 3}
	E470Security                = Enhanced{4, 7, 0} // other or undefined security status
	E471NotAuthorized           = Enhanced{4, 7, 1} // delivery not authorized
	E513BadDestinationSyntax    = Enhanced{5, 1, 3}
	E517BadSenderSyntax         = Enhanced{5, 1, 7}
	E534MessageTooBig           = Enhanced{5, 3, 4}
	E551InvalidCommand          = Enhanced{5, 5, 1}
	E552SyntaxError             = Enhanced{5, 5, 2}
	E554InvalidArguments        = Enhanced{5, 5, 4}
	E560MediaError              = Enhanced{5, 6, 0}  // other or undefined media error
	E567NonASCIIAddress         = Enhanced{5, 6, 7}  // RFC 6531 §3.5
	E570Security                = Enhanced{5, 7, 0}  // other or undefined security status
	E571NotAuthorized           = Enhanced{5, 7, 1}  // delivery not authorized, message refused
	E578BadCredentials          = Enhanced{5, 7, 8}  // RFC 4954 §6
	E5711EncryptionRequired     = Enhanced{5, 7, 11} // RFC 4954 §6
	E5725ReverseDNS             = Enhanced{5, 7, 25} // RFC 7372 §3.3: reverse DNS validation failed
	E5730RequireTLSNotSupported = Enhanced{5, 7, 30} // RFC 8689 §5
)

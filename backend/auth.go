package backend

import (
	"errors"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/auth"
	"github.com/smtpgateway/gateway/reply"
)

// AuthMechanisms lists what EHLO advertises: nothing before TLS (RFC 4954
// §4: never offer a password mechanism over plaintext) unless the operator
// switched allow_insecure_auth on for a lab.
func (s *Session) AuthMechanisms() []string {
	if !s.authOffered() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *Session) authOffered() bool {
	return s.b.lis.AuthEnabled && s.env.Auth.Verifier != nil &&
		(s.conn.TLS() != nil || s.b.lis.AllowInsecureAuth)
}

// Auth starts a SASL exchange.
func (s *Session) Auth(mech string) (sasl.Server, error) {
	if !s.b.lis.AuthEnabled || s.env.Auth.Verifier == nil {
		return nil, s.refuse("AUTH", refusalf(reply.C503BadSequence, reply.E551InvalidCommand, "auth_disabled", "Error: authentication not enabled on this port"))
	}
	if !s.authOffered() {
		return nil, s.refuse("AUTH", refusalf(reply.C538EncryptionRequired, reply.E5711EncryptionRequired, "auth_plaintext",
			"Encryption required for requested authentication mechanism; issue STARTTLS first"), "mechanism", mech)
	}
	if lim := s.env.Auth.Limiter; lim != nil {
		// Refused at once, before a password is even asked for; the
		// slot for the check itself is taken in authenticate.
		if until := lim.Blocked(s.conn.Client().Addr()); !until.IsZero() {
			return nil, s.blocked(mech, until)
		}
	}
	check := func(identity, user, pass string) error { return s.authenticate(mech, identity, user, pass) }
	switch mech {
	case sasl.Plain:
		return saslReplies{auth.NewPlainServer(check), s}, nil
	case sasl.Login:
		return saslReplies{auth.NewLoginServer(check), s}, nil
	}
	return nil, s.refuse("AUTH", refusalf(reply.C504ParameterNotImplemented, reply.E554InvalidArguments, "auth_mechanism", "Error: unsupported authentication mechanism %q; use PLAIN or LOGIN", mech))
}

// authenticate checks one set of credentials and writes the line that
// fail2ban matches on failure (docs/fail2ban.md):
//
//	msg="auth failed" ... client_ip=192.0.2.7 ... user=alice mechanism=PLAIN
//
// The password is checked only with a slot reserved from the limiter, at
// the moment of the check, not when AUTH arrived: a connection parked at
// the LOGIN password prompt, or many in parallel, cannot slip past a
// block earned meanwhile (issue 12).
func (s *Session) authenticate(mech, identity, user, pass string) error {
	ip := s.conn.Client().Addr()
	var tk auth.Ticket = noTicket{}
	if lim := s.env.Auth.Limiter; lim != nil {
		t, delay, err := lim.Reserve(ip)
		var blocked *auth.BlockedError
		switch {
		case errors.As(err, &blocked):
			return s.blocked(mech, blocked.Until)
		case err != nil:
			return s.refuse("AUTH", refusalf(reply.C454TemporaryAuthFailure, reply.E470Security, "auth_busy",
				"Error: too many authentication attempts in progress from %s, try again later", ip), "mechanism", mech)
		}
		tk = t
		if delay > 0 {
			// Slow down guessing from this address; only this connection
			// waits, holding its slot.
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-s.ctx.Done():
				timer.Stop()
				tk.Release()
				return s.ctx.Err()
			}
		}
	}
	if err := auth.CheckIdentity(identity, user, s.env.Auth.AllowAuthzid); err != nil {
		s.log.Info("auth failed", logUser(user, false, "mechanism", mech, "reason", "authzid", "authzid", auth.SanitizeUser(identity))...)
		s.b.metrics.Auth(mech, "authzid")
		return s.authFailed(mech, tk.Failure())
	}
	err := s.env.Auth.Verifier.Verify(s.ctx, user, pass)
	switch {
	case err == nil:
		tk.Success()
		safeUser := auth.SanitizeUser(user)
		s.user = user
		s.conn.SetAuthenticated()
		s.conn.Annotate("user", safeUser)
		s.log = s.log.With("user", safeUser)
		s.log.Info("auth", "mechanism", mech)
		s.b.metrics.Auth(mech, "success")
		return nil
	case errors.Is(err, auth.ErrInvalidCredentials):
		until := tk.Failure()
		s.log.Info("auth failed", logUser(user, errors.Is(err, auth.ErrWrongPassword), "mechanism", mech, "reason", "invalid_credentials")...)
		s.b.metrics.Auth(mech, "failure")
		return s.authFailed(mech, until)
	default:
		tk.Release()
		s.log.Warn("auth unavailable", logUser(user, false, "mechanism", mech, "err", err)...)
		s.b.metrics.Auth(mech, "temperror")
		return s.smtpError(&reply.Reply{Code: reply.C454TemporaryAuthFailure, Enhanced: reply.E470Security, Text: "Temporary authentication failure, try again later"})
	}
}

// logUser puts the user name first in attrs: as typed (sanitized) when
// the verifier knows the user, else only as user_hash and user_len (see
// auth.UserHash), since an unknown "user name" is often a password typed
// into the wrong field.
func logUser(user string, known bool, attrs ...any) []any {
	if known {
		return append([]any{"user", auth.SanitizeUser(user)}, attrs...)
	}
	hash, n := auth.UserHash(user)
	return append([]any{"user_hash", hash, "user_len", n}, attrs...)
}

// noTicket stands in when no limiter is configured.
type noTicket struct{}

func (noTicket) Success()           {}
func (noTicket) Failure() time.Time { return time.Time{} }
func (noTicket) Release()           {}

// authFailed answers a failed check; until is the block it earned, if
// any.
func (s *Session) authFailed(mech string, until time.Time) error {
	if !until.IsZero() {
		return s.blocked(mech, until)
	}
	return s.smtpError(&reply.Reply{Code: reply.C535AuthCredentialsInvalid, Enhanced: reply.E578BadCredentials, Text: "Error: authentication failed: wrong user name or password"})
}

// blocked answers an address that failed too often; the guard closes the
// connection after any 421.
func (s *Session) blocked(mech string, until time.Time) *smtp.SMTPError {
	mins := int(time.Until(until).Minutes()) + 1
	return s.refuse("AUTH", refusalf(reply.C421ServiceNotAvailable, reply.E470Security, "auth_blocked",
		"%s Error: too many authentication failures from %s, try again in %d minutes", s.env.Hostname, s.conn.Client().Addr(), mins),
		"mechanism", mech, "until", until.Format(time.RFC3339))
}

// saslReplies makes sure go-smtp only ever sends our replies: it would
// send a plain error's text to the client.
type saslReplies struct {
	sasl.Server
	s *Session
}

func (r saslReplies) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := r.Server.Next(response)
	if err == nil {
		return challenge, done, nil
	}
	if se, ok := asSMTPError(err); ok {
		return nil, false, se
	}
	if errors.Is(err, auth.ErrMalformed) {
		r.s.log.Info("auth malformed", "evidence", err.Error())
		return nil, false, r.s.smtpError(&reply.Reply{Code: reply.C501ParameterSyntax, Enhanced: reply.E552SyntaxError, Text: "Error: malformed authentication response"})
	}
	return nil, false, r.s.internalError("AUTH", err)
}

package auth

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
)

// ErrMalformed means a client's SASL response broke the mechanism's
// syntax (bad PLAIN layout, NUL bytes, empty or overlong fields, data after
// the exchange ended). The caller answers 501 5.5.2 (RFC 4954 §4) and does
// not count it as a password guess: no password was checked.
var ErrMalformed = errors.New("auth: malformed SASL response")

// ErrIdentityMismatch is CheckIdentity's refusal: the client asked to act
// as another user. It wraps ErrInvalidCredentials (535 5.7.8).
var ErrIdentityMismatch = fmt.Errorf("%w: authorization identity differs from the user name", ErrInvalidCredentials)

// maxField bounds each SASL field. RFC 4616 §2 allows 255 octets; real
// clients stay far below, and 1024 leaves room for long passwords while
// keeping a hostile client from handing the KDF megabytes.
const maxField = 1024

// Authenticator checks one SASL exchange's credentials. identity is the
// authorization identity ("" when the client sent none); see
// CheckIdentity. Its error is returned from sasl.Server.Next unchanged.
type Authenticator func(identity, username, password string) error

// NewPlainServer returns a server for the PLAIN mechanism (RFC 4616):
// one message "[authzid] NUL authcid NUL passwd", sent as the AUTH
// command's initial response or after an empty challenge (RFC 4954 §4).
func NewPlainServer(a Authenticator) sasl.Server {
	return &plainServer{authenticate: a}
}

type plainServer struct {
	authenticate Authenticator
	challenged   bool
	done         bool
}

func (s *plainServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case s.done:
		return nil, true, fmt.Errorf("%w: PLAIN exchange already finished", ErrMalformed)
	case response == nil && !s.challenged:
		// No initial response: the empty challenge asks for the message.
		s.challenged = true
		return []byte{}, false, nil
	}
	s.done = true
	identity, username, password, err := parsePlain(response)
	if err != nil {
		return nil, true, err
	}
	return nil, true, s.authenticate(identity, username, password)
}

// parsePlain splits a PLAIN message. Its errors never quote the message.
func parsePlain(msg []byte) (identity, username, password string, err error) {
	if n := bytes.Count(msg, []byte{0}); n != 2 {
		return "", "", "", fmt.Errorf("%w: PLAIN message has %d NUL separators, want 2", ErrMalformed, n)
	}
	f := bytes.SplitN(msg, []byte{0}, 3)
	for i, name := range []string{"authorization identity", "user name", "password"} {
		if len(f[i]) > maxField {
			return "", "", "", fmt.Errorf("%w: PLAIN %s longer than %d bytes", ErrMalformed, name, maxField)
		}
	}
	switch {
	case len(f[1]) == 0:
		return "", "", "", fmt.Errorf("%w: PLAIN user name is empty", ErrMalformed)
	case len(f[2]) == 0:
		return "", "", "", fmt.Errorf("%w: PLAIN password is empty", ErrMalformed)
	}
	return string(f[0]), string(f[1]), string(f[2]), nil
}

// NewLoginServer returns a server for the LOGIN mechanism
// (draft-murchison-sasl-login-00), which Outlook and many scripts still
// use: it challenges "Username:" then "Password:". A client may send the
// user name as the AUTH command's initial response ("AUTH LOGIN dXNlcg=="),
// which skips the first challenge. LOGIN has no authorization identity;
// the Authenticator gets "".
func NewLoginServer(a Authenticator) sasl.Server {
	return &loginServer{authenticate: a}
}

// loginState is where a LOGIN exchange stands.
type loginState int

const (
	loginStart loginState = iota
	loginWantUser
	loginWantPassword
	loginDone
)

type loginServer struct {
	authenticate Authenticator
	state        loginState
	username     string
}

// The draft's challenges; clients match them literally.
var (
	challengeUsername = []byte("Username:")
	challengePassword = []byte("Password:")
)

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case loginStart:
		if response == nil {
			s.state = loginWantUser
			return challengeUsername, false, nil
		}
		return s.takeUser(response)
	case loginWantUser:
		return s.takeUser(response)
	case loginWantPassword:
		s.state = loginDone
		if err := checkLoginField("password", response); err != nil {
			return nil, true, err
		}
		return nil, true, s.authenticate("", s.username, string(response))
	}
	return nil, true, fmt.Errorf("%w: LOGIN exchange already finished", ErrMalformed)
}

func (s *loginServer) takeUser(response []byte) ([]byte, bool, error) {
	if err := checkLoginField("user name", response); err != nil {
		s.state = loginDone
		return nil, true, err
	}
	s.username = string(response)
	s.state = loginWantPassword
	return challengePassword, false, nil
}

// checkLoginField rejects empty, overlong and NUL-carrying LOGIN fields:
// a NUL has no place in a name or password and is how PLAIN-shaped input
// would be smuggled in.
func checkLoginField(name string, v []byte) error {
	switch {
	case len(v) == 0:
		return fmt.Errorf("%w: LOGIN %s is empty", ErrMalformed, name)
	case len(v) > maxField:
		return fmt.Errorf("%w: LOGIN %s longer than %d bytes", ErrMalformed, name, maxField)
	case bytes.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: LOGIN %s contains NUL", ErrMalformed, name)
	}
	return nil
}

// CheckIdentity decides whether a client authenticated as username may
// act as the authorization identity it asked for (RFC 4422 §3.4.1).
// No identity, or the user's own name (compared as user names are, see
// Store), is always fine; another identity only when allowDifferent (an
// administrator's choice, e.g. a shared mailbox). Otherwise it returns
// ErrIdentityMismatch.
func CheckIdentity(identity, username string, allowDifferent bool) error {
	if identity == "" || allowDifferent || canonicalName(identity) == canonicalName(username) {
		return nil
	}
	return ErrIdentityMismatch
}

package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// rawClient is a sasl.Client that sends fixed bytes, for exchanges and
// input that go-sasl's clients do not produce: ir as the initial response
// (nil: none), then next in answer to the first challenge.
type rawClient struct {
	mech     string
	ir, next []byte
}

func (c *rawClient) Start() (string, []byte, error) { return c.mech, c.ir, nil }

func (c *rawClient) Next(challenge []byte) ([]byte, error) {
	if c.next == nil {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	next := c.next
	c.next = nil
	return next, nil
}

// TestMechanismsOverSMTP runs both mechanisms through a real go-smtp
// server and client, with a Store behind them and CheckIdentity applied,
// to prove the pieces fit the way backend will put them together.
func TestMechanismsOverSMTP(t *testing.T) {
	store, err := NewStore([]User{{Name: "bob@example.com", PasswordHash: bcryptHash(t, "s3cret pw")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	ts := startTestServer(t, testServerConfig{verify: func(identity, username, password string) error {
		if err := store.Verify(context.Background(), username, password); err != nil {
			return err
		}
		return CheckIdentity(identity, username, false)
	}})
	tests := []struct {
		name         string
		client       sasl.Client
		wantCode     int // 0: success
		wantAttempts int32
	}{
		{name: "PLAIN", client: sasl.NewPlainClient("", "bob@example.com", "s3cret pw"), wantAttempts: 1},
		{name: "PLAIN own identity", client: sasl.NewPlainClient("bob@example.com", "bob@example.com", "s3cret pw"), wantAttempts: 1},
		{name: "PLAIN wrong password", client: sasl.NewPlainClient("", "bob@example.com", "guess"), wantCode: 535, wantAttempts: 1},
		{name: "PLAIN unknown user", client: sasl.NewPlainClient("", "eve@example.com", "s3cret pw"), wantCode: 535, wantAttempts: 1},
		{name: "PLAIN other identity", client: sasl.NewPlainClient("boss@example.com", "bob@example.com", "s3cret pw"), wantCode: 535, wantAttempts: 1},
		{name: "PLAIN after empty challenge", client: &rawClient{mech: sasl.Plain, next: []byte("\x00bob@example.com\x00s3cret pw")}, wantAttempts: 1},
		{name: "PLAIN empty user", client: &rawClient{mech: sasl.Plain, ir: []byte("\x00\x00s3cret pw")}, wantCode: 501},
		{name: "PLAIN missing separator", client: &rawClient{mech: sasl.Plain, ir: []byte("bob@example.com\x00s3cret pw")}, wantCode: 501},
		{name: "LOGIN NUL in user name", client: &rawClient{mech: sasl.Login, ir: []byte("bob\x00")}, wantCode: 501},
		{name: "LOGIN with initial response", client: sasl.NewLoginClient("bob@example.com", "s3cret pw"), wantAttempts: 1},
		{name: "LOGIN wrong password", client: sasl.NewLoginClient("bob@example.com", "guess"), wantCode: 535, wantAttempts: 1},
		{name: "LOGIN without initial response", client: &loginClient{username: "bob@example.com", password: "s3cret pw"}, wantAttempts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.attempts.Load()
			c, err := smtp.Dial(ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(tc.client)
			var se *smtp.SMTPError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("Auth: %v", err)
			case tc.wantCode != 0 && (!errors.As(err, &se) || se.Code != tc.wantCode):
				t.Fatalf("Auth = %v, want SMTP code %d", err, tc.wantCode)
			}
			if got := ts.attempts.Load() - before; got != tc.wantAttempts {
				t.Errorf("authenticator ran %d times, want %d", got, tc.wantAttempts)
			}
		})
	}
}

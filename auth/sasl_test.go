package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

// call records what an Authenticator was given.
type call struct{ identity, username, password string }

// recorder returns an Authenticator accepting ("bob", "secret") and
// recording every call.
func recorder(calls *[]call) Authenticator {
	return func(identity, username, password string) error {
		*calls = append(*calls, call{identity, username, password})
		if username == "bob" && password == "secret" {
			return nil
		}
		return ErrInvalidCredentials
	}
}

// step is one sasl.Server.Next call and what it must return.
type step struct {
	response      []byte // nil: no (initial) response
	wantChallenge string
	wantDone      bool
	wantErr       error // matched with errors.Is; nil for none
}

func runSteps(t *testing.T, s sasl.Server, steps []step) {
	t.Helper()
	for i, st := range steps {
		challenge, done, err := s.Next(st.response)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
		}
		if string(challenge) != st.wantChallenge || done != st.wantDone {
			t.Fatalf("step %d: Next = %q, %v; want %q, %v", i, challenge, done, st.wantChallenge, st.wantDone)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Fatalf("step %d: error %q repeats the password", i, err)
		}
	}
}

func TestPlainServer(t *testing.T) {
	long := strings.Repeat("x", maxField+1)
	tests := []struct {
		name      string
		steps     []step
		wantCalls []call
	}{
		{
			name:      "initial response",
			steps:     []step{{response: []byte("\x00bob\x00secret"), wantDone: true}},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name: "empty challenge then response",
			steps: []step{
				{response: nil, wantChallenge: ""},
				{response: []byte("\x00bob\x00secret"), wantDone: true},
			},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name:      "authorization identity passed on",
			steps:     []step{{response: []byte("shared\x00bob\x00secret"), wantDone: true}},
			wantCalls: []call{{"shared", "bob", "secret"}},
		},
		{
			name:      "wrong password is the authenticator's error",
			steps:     []step{{response: []byte("\x00bob\x00guess"), wantDone: true, wantErr: ErrInvalidCredentials}},
			wantCalls: []call{{"", "bob", "guess"}},
		},
		{
			name:      "password may hold spaces and UTF-8",
			steps:     []step{{response: []byte("\x00bob\x00 pä ss "), wantDone: true, wantErr: ErrInvalidCredentials}},
			wantCalls: []call{{"", "bob", " pä ss "}},
		},
		{name: "no NUL", steps: []step{{response: []byte("bobsecret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "one NUL", steps: []step{{response: []byte("bob\x00secret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "three NULs", steps: []step{{response: []byte("\x00bob\x00sec\x00ret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "NUL in user name", steps: []step{{response: []byte("\x00b\x00ob\x00secret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "empty user", steps: []step{{response: []byte("\x00\x00secret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "empty password", steps: []step{{response: []byte("\x00bob\x00"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "empty response", steps: []step{{response: []byte{}, wantDone: true, wantErr: ErrMalformed}}},
		{name: "overlong identity", steps: []step{{response: []byte(long + "\x00bob\x00secret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "overlong user", steps: []step{{response: []byte("\x00" + long + "\x00secret"), wantDone: true, wantErr: ErrMalformed}}},
		{name: "overlong password", steps: []step{{response: []byte("\x00bob\x00" + long), wantDone: true, wantErr: ErrMalformed}}},
		{
			name:      "longest fields accepted",
			steps:     []step{{response: []byte("\x00bob\x00" + long[1:]), wantDone: true, wantErr: ErrInvalidCredentials}},
			wantCalls: []call{{"", "bob", long[1:]}},
		},
		{
			name: "response after the end",
			steps: []step{
				{response: []byte("\x00bob\x00secret"), wantDone: true},
				{response: []byte("\x00bob\x00secret"), wantDone: true, wantErr: ErrMalformed},
			},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name: "second empty response is not challenged again",
			steps: []step{
				{response: nil, wantChallenge: ""},
				{response: nil, wantDone: true, wantErr: ErrMalformed},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []call
			runSteps(t, NewPlainServer(recorder(&calls)), tc.steps)
			if !equalCalls(calls, tc.wantCalls) {
				t.Errorf("authenticator calls = %q, want %q", calls, tc.wantCalls)
			}
		})
	}
}

func TestLoginServer(t *testing.T) {
	long := []byte(strings.Repeat("x", maxField+1))
	tests := []struct {
		name      string
		steps     []step
		wantCalls []call
	}{
		{
			name: "challenges username then password",
			steps: []step{
				{response: nil, wantChallenge: "Username:"},
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte("secret"), wantDone: true},
			},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name: "initial response carries the user name",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte("secret"), wantDone: true},
			},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name: "wrong password",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte("guess"), wantDone: true, wantErr: ErrInvalidCredentials},
			},
			wantCalls: []call{{"", "bob", "guess"}},
		},
		{
			name: "PLAIN-shaped user name refused",
			steps: []step{
				{response: nil, wantChallenge: "Username:"},
				{response: []byte("\x00bob\x00secret"), wantDone: true, wantErr: ErrMalformed},
			},
		},
		{name: "empty initial response", steps: []step{{response: []byte{}, wantDone: true, wantErr: ErrMalformed}}},
		{
			name: "empty user name",
			steps: []step{
				{response: nil, wantChallenge: "Username:"},
				{response: []byte{}, wantDone: true, wantErr: ErrMalformed},
			},
		},
		{
			name: "empty password",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte{}, wantDone: true, wantErr: ErrMalformed},
			},
		},
		{
			name: "NUL in password",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte("sec\x00ret"), wantDone: true, wantErr: ErrMalformed},
			},
		},
		{name: "overlong user name", steps: []step{{response: long, wantDone: true, wantErr: ErrMalformed}}},
		{
			name: "overlong password",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: long, wantDone: true, wantErr: ErrMalformed},
			},
		},
		{
			name: "response after the end",
			steps: []step{
				{response: []byte("bob"), wantChallenge: "Password:"},
				{response: []byte("secret"), wantDone: true},
				{response: []byte("more"), wantDone: true, wantErr: ErrMalformed},
			},
			wantCalls: []call{{"", "bob", "secret"}},
		},
		{
			name: "response after a malformed one",
			steps: []step{
				{response: []byte{}, wantDone: true, wantErr: ErrMalformed},
				{response: []byte("bob"), wantDone: true, wantErr: ErrMalformed},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []call
			runSteps(t, NewLoginServer(recorder(&calls)), tc.steps)
			if !equalCalls(calls, tc.wantCalls) {
				t.Errorf("authenticator calls = %q, want %q", calls, tc.wantCalls)
			}
		})
	}
}

func equalCalls(a, b []call) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckIdentity(t *testing.T) {
	tests := []struct {
		name           string
		identity, user string
		allowDifferent bool
		wantErr        bool
	}{
		{name: "no identity", identity: "", user: "bob@example.com"},
		{name: "same as user", identity: "bob@example.com", user: "bob@example.com"},
		{name: "same but domain case", identity: "bob@EXAMPLE.com", user: "bob@example.com"},
		{name: "local part case differs", identity: "Bob@example.com", user: "bob@example.com", wantErr: true},
		{name: "other user refused", identity: "boss@example.com", user: "bob@example.com", wantErr: true},
		{name: "other user allowed by config", identity: "boss@example.com", user: "bob@example.com", allowDifferent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckIdentity(tc.identity, tc.user, tc.allowDifferent)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckIdentity = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrIdentityMismatch)) {
				t.Errorf("error %v wraps neither ErrInvalidCredentials nor ErrIdentityMismatch", err)
			}
		})
	}
}

// FuzzPlainServer feeds arbitrary PLAIN messages: never a panic, and the
// authenticator sees only well-formed fields.
func FuzzPlainServer(f *testing.F) {
	f.Add([]byte("\x00bob\x00secret"))
	f.Add([]byte("a\x00b\x00c\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := NewPlainServer(func(identity, username, password string) error {
			if username == "" || password == "" || len(username) > maxField || strings.ContainsRune(identity+username+password, 0) {
				t.Errorf("authenticator got malformed fields %q %q %q", identity, username, password)
			}
			return nil
		})
		_, done, err := s.Next(msg)
		if !done {
			t.Errorf("Next(%q) not done (err %v)", msg, err)
		}
	})
}

// FuzzLoginServer drives the two LOGIN responses.
func FuzzLoginServer(f *testing.F) {
	f.Add([]byte("bob"), []byte("secret"))
	f.Add([]byte{}, []byte("\x00"))
	f.Fuzz(func(t *testing.T, user, password []byte) {
		s := NewLoginServer(func(identity, username, pw string) error {
			if identity != "" || username == "" || pw == "" || strings.ContainsRune(username+pw, 0) {
				t.Errorf("authenticator got malformed fields %q %q %q", identity, username, pw)
			}
			return nil
		})
		if _, done, err := s.Next(user); done && err == nil {
			t.Fatalf("Next(%q) done without a password", user)
		}
		_, _, _ = s.Next(password)
	})
}

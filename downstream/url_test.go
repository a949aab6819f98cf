package downstream

import (
	"net"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"smtp://10.0.0.5:25", "smtps://[::1]:465", "maildir:/x", "smtp://h", "", "10.0.0.5:25", "smtp://u:p@h:25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s, Rules{})
		if err != nil {
			if !strings.HasSuffix(err.Error(), want) && !strings.Contains(err.Error(), want+":") && !strings.Contains(err.Error(), "port") && !strings.Contains(err.Error(), "host") {
				t.Fatalf("Parse(%q): %v does not say what to write", s, err)
			}
			return
		}
		if u.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, u.String())
		}
		switch u.Scheme {
		case SMTP, SMTPS:
			// What relay.NewSMTP requires of its address.
			host, port, err := net.SplitHostPort(u.Address())
			if err != nil || host == "" || port == "" || host != u.Host || port != u.Port {
				t.Fatalf("Parse(%q): address %q does not split into %q %q", s, u.Address(), u.Host, u.Port)
			}
		case Maildir:
			if u.Path == "" {
				t.Fatalf("Parse(%q): empty path", s)
			}
		default:
			t.Fatalf("Parse(%q): scheme %q", s, u.Scheme)
		}
	})
}

func TestParse(t *testing.T) {
	isHost := func(h string) bool { return h != "bad_host" }
	mask := func(s string) string { return strings.ReplaceAll(s, "secret", "xxxxx") }
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "smtp://10.0.0.5:25", want: "smtp://10.0.0.5:25"},
		{in: "smtps://[::1]:465", want: "smtps://[::1]:465"},
		{in: "maildir:/var/mail", want: "maildir:/var/mail"},
		{in: "maildir:", err: `"maildir:" has no path; want smtp://host:port, smtps://host:port or maildir:PATH`},
		{in: "smtp://u:secret@h:25", err: `"smtp://u:xxxxx@h:25": a user name or password in the URL is not supported`},
		{in: "10.0.0.5:25", err: `"10.0.0.5:25": unknown scheme; want smtp://host:port, smtps://host:port or maildir:PATH: did you mean "smtp://10.0.0.5:25"?`},
		{in: "bad_host:25", err: `"bad_host:25": unknown scheme; want smtp://host:port, smtps://host:port or maildir:PATH`},
		{in: "smtp://bad_host:25", err: `"smtp://bad_host:25": "bad_host:25": "bad_host" is neither an IP address nor a host name`},
		{in: "smtp://h:99999", err: `port "99999" is not a number from 0 to 65535`},
	} {
		u, err := Parse(tc.in, Rules{IsHost: isHost, Mask: mask})
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.err)
		case tc.err != "" && strings.Contains(err.Error(), "secret"):
			t.Errorf("Parse(%q) error repeats the password: %v", tc.in, err)
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err == "" && u.String() != tc.want:
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, u.String(), tc.want)
		}
	}
}

// TestParseForms is relay's former TestParseDownstream, moved here with
// the parser; the error texts are now config's (the one parser's).
func TestParseForms(t *testing.T) {
	isHost := func(h string) bool { return !strings.ContainsAny(h, "/?#") }
	tests := []struct {
		name         string
		in           string
		scheme, rest string
		err          string
	}{
		{name: "smtp", in: "smtp://10.0.0.5:25", scheme: "smtp", rest: "10.0.0.5:25"},
		{name: "smtps", in: "smtps://mx.example.org:465", scheme: "smtps", rest: "mx.example.org:465"},
		{name: "IPv6", in: "smtp://[2001:db8::5]:25", scheme: "smtp", rest: "[2001:db8::5]:25"},
		{name: "maildir", in: "maildir:/var/mail/lab", scheme: "maildir", rest: "/var/mail/lab"},
		{name: "relative maildir", in: "maildir:mail", scheme: "maildir", rest: "mail"},
		{name: "missing port", in: "smtp://10.0.0.5", err: "is not host:port"},
		{name: "missing host", in: "smtp://:25", err: "has no host"},
		{name: "nothing after scheme", in: "smtp://", err: "is not host:port"},
		{name: "bad port", in: "smtp://host:smtp", err: "not a number"},
		{name: "port out of range", in: "smtp://host:70000", err: "not a number"},
		{name: "path after host", in: "smtp://host:25/x", err: "not a number"},
		{name: "path in host", in: "smtp://host/x:25", err: "neither an IP address nor a host name"},
		{name: "unknown scheme", in: "lmtp://host:24", err: "unknown scheme"},
		{name: "no scheme", in: "10.0.0.5:25", err: "unknown scheme"},
		{name: "empty path", in: "maildir:", err: "has no path"},
		{name: "empty", in: "", err: "unknown scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Parse(tc.in, Rules{IsHost: isHost})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			rest := u.Path
			if u.IsSMTP() {
				rest = u.Address()
			}
			if err != nil || string(u.Scheme) != tc.scheme || rest != tc.rest {
				t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tc.in, u.Scheme, rest, err, tc.scheme, tc.rest)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
)

// A downstream URL with a password never has it repeated in an error
// (issue 12: check-config printed it back).
func TestDownstreamPasswordMasked(t *testing.T) {
	const secret = "S3cretPw"
	withPass := "smtp://relayuser:" + secret + "@10.0.0.5:25"
	tests := []struct {
		name string
		edit func(string) string
		want string // a fragment of the error
	}{
		{"relay.downstream",
			func(s string) string { return strings.Replace(s, "smtp://127.0.0.1:10025", withPass, 1) },
			`relay.downstream: "smtp://relayuser:xxxxx@10.0.0.5:25": a user name or password in the URL is not supported`},
		{"route downstream",
			func(s string) string {
				return s + "[[relay.route]]\ndomain = \"example.com\"\ndownstream = \"smtps://u:" + secret + "@mail.example.com:465\"\n"
			},
			`"smtps://u:xxxxx@mail.example.com:465"`},
		{"auth.downstream",
			func(s string) string {
				return s + "[auth]\nbackend = \"downstream\"\ndownstream = \"" + withPass + "\"\n"
			},
			`auth.downstream: "smtp://relayuser:xxxxx@10.0.0.5:25"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.edit(minimal)), "t.toml")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the password is in the error:\n%v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not contain %q:\n%v", tc.want, err)
			}
		})
	}
}

func TestMaskURLPasswords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"smtp://u:pw@h:25", "smtp://u:xxxxx@h:25"},
		{`downstream "smtps://user:p%40ss@host:465": bad`, `downstream "smtps://user:xxxxx@host:465": bad`},
		{"t.toml:9: downstream = \"smtp://a:b@c:25\nx", "t.toml:9: downstream = \"smtp://a:xxxxx@c:25\nx"},
		{"smtp://u:p@ss@h:25", "smtp://u:xxxxx@h:25"}, // "@" in the password, unencoded
		{"smtp://user@h:25", "smtp://user@h:25"},      // no password
		{"smtp://h:25", "smtp://h:25"},
		{"maildir:/var/mail/a:b@c", "maildir:/var/mail/a:b@c"},
		{"two smtp://a:1@h:25 and smtp://b:2@i:25", "two smtp://a:xxxxx@h:25 and smtp://b:xxxxx@i:25"},
	} {
		if got := MaskURLPasswords(tc.in); got != tc.want {
			t.Errorf("MaskURLPasswords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

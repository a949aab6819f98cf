package config

import (
	"slices"
	"strings"
	"testing"
)

// A downstream may be a failover list, for [relay] and for a route; a
// single string keeps working.
// noDownstream is minimal up to [relay], whose downstream a test writes.
var noDownstream = strings.TrimSuffix(minimal, "downstream = \"smtp://127.0.0.1:10025\"\n")

func TestDownstreamList(t *testing.T) {
	doc := noDownstream + "downstream = [\"smtp://127.0.0.1:1\", \"smtp://127.0.0.1:2\", \"maildir:/tmp/m\"]\n" +
		"[[relay.route]]\ndomain = \"example.org\"\ndownstream = [\"smtps://[::1]:465\"]\n" +
		"[[relay.route]]\ndomain = \"example.net\"\ndownstream = \"smtp://127.0.0.1:3\"\n"
	c, err := Parse([]byte(doc), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Relay.Downstreams(); !slices.Equal(got, []string{"smtp://127.0.0.1:1", "smtp://127.0.0.1:2", "maildir:/tmp/m"}) || c.Relay.Downstream != got[0] {
		t.Errorf("relay downstreams %q (downstream %q)", got, c.Relay.Downstream)
	}
	if got := c.Relay.Routes[0].Downstreams(); !slices.Equal(got, []string{"smtps://[::1]:465"}) {
		t.Errorf("route 0 downstreams %q", got)
	}
	if got := c.Relay.Routes[1].Downstreams(); !slices.Equal(got, []string{"smtp://127.0.0.1:3"}) {
		t.Errorf("route 1 downstreams %q", got)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`downstream = ["smtp://127.0.0.1:1", "smtp://127.0.0.1:2", "maildir:/tmp/m"]`,
		`downstream = "smtps://[::1]:465"`,
		`downstream = "smtp://127.0.0.1:3"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("effective configuration lacks %s:\n%s", want, out)
		}
	}
	// What check-config prints loads back to the same lists.
	c2, err := Parse([]byte(out), "effective.toml")
	if err != nil {
		t.Fatalf("effective configuration does not load: %v", err)
	}
	if !slices.Equal(c2.Relay.Downstreams(), c.Relay.Downstreams()) {
		t.Errorf("round trip: %q, want %q", c2.Relay.Downstreams(), c.Relay.Downstreams())
	}
}

func TestDownstreamListProblems(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"bad member", `["smtp://127.0.0.1:1", "ftp://x"]`, `t.toml:9: relay.downstream[1]: "ftp://x": unknown scheme`},
		{"duplicate", `["smtp://127.0.0.1:1", "smtp://127.0.0.1:1"]`, `t.toml:9: relay.downstream[1]: "smtp://127.0.0.1:1" is relay.downstream[0] already`},
		{"empty list", `[]`, `t.toml:9: relay.downstream: empty; write where accepted mail goes`},
		{"not strings", `[1, 2]`, `t.toml:9: relay.downstream: `},
		{"password masked", `["smtp://127.0.0.1:1", "smtp://u:secret@h:25"]`, `t.toml:9: relay.downstream[1]: "smtp://u:xxxxx@h:25": a user name or password`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(noDownstream+"downstream = "+tc.value+"\n"), "t.toml")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q...", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the password is repeated: %v", err)
			}
		})
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// minimal is a valid configuration the error cases below break one key at
// a time.
const minimal = `
hostname = "mx.example.com"
local_domains = ["example.com"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"
[relay]
downstream = "smtp://127.0.0.1:10025"
`

func TestExampleIsValid(t *testing.T) {
	path := filepath.Join("..", "config.toml.example")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("config.toml.example does not load: %v", err)
	}
	if c.Hostname != "mx.example.com" || len(c.Listeners) != 3 || c.Relay.Downstream != "smtp://10.0.0.5:25" {
		t.Errorf("unexpected values from the example: %+v", c)
	}
}

// Every key the example documents must be a key the loader knows, and the
// example must mention every key of the struct tree (commented or not).
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config.toml.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range allKeys() {
		if !strings.Contains(string(data), key+" =") {
			t.Errorf("config.toml.example does not document key %q", key)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"dns timeout", c.DNS.Timeout.D(), 2 * time.Second},
		{"dns max in flight", c.DNS.MaxInFlight, 100},
		{"max greetings", c.Limits.Greetings(), 10},
		{"max message", c.Limits.MaxMessageBytes, int64(26214400)},
		{"max recipients", c.Limits.MaxRecipients, 100},
		{"bare line endings", c.Limits.BareLineEndings, "reject"},
		{"helo profile", c.HELO.Profile, "cpanel"},
		{"explain", c.HELO.ExplainEnabled(), true},
		{"relay helo", c.Relay.HeloName, "mx.example.com"},
		{"relay tls", c.Relay.TLS, "opportunistic"},
		{"data timeout", c.Relay.DataTimeout.D(), 10 * time.Minute},
		{"mx auth off", c.Listeners[0].AuthEnabled(), false},
		{"sender enforced", c.Auth.SenderEnforced(), true},
		{"log format", c.Log.Format, "text"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// An internationalized local domain is valid as U-labels and as A-labels.
func TestInternationalizedLocalDomain(t *testing.T) {
	for _, d := range []string{"bücher.example", "BÜCHER.example", "xn--bcher-kva.example"} {
		text := strings.Replace(minimal, `["example.com"]`, `["`+d+`"]`, 1)
		if _, err := Parse([]byte(text), "t.toml"); err != nil {
			t.Errorf("local_domains = [%q]: %v", d, err)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // every fragment must appear in the error
	}{
		{"unknown key names key and line",
			func(s string) string { return s + "maxmessage = 3\n" },
			[]string{"t.toml:10", "unknown key relay.maxmessage"}},
		{"state.redis scheme",
			func(s string) string { return s + "[state]\nredis = \"http://127.0.0.1:6379\"\n" },
			[]string{"state.redis", "redis://[user:password@]host:port/db"}},
		{"state.redis database",
			func(s string) string { return s + "[state]\nredis = \"redis://127.0.0.1:6379/x\"\n" },
			[]string{"state.redis", `database "x" is not a number`}},
		{"state.password_file unreadable",
			func(s string) string {
				return s + "[state]\nredis = \"redis://127.0.0.1:6379/0\"\npassword_file = \"/nonexistent/pw\"\n"
			},
			[]string{"state.password_file", "cannot read it"}},
		{"state.timeout too long",
			func(s string) string { return s + "[state]\nredis = \"redis://127.0.0.1:6379/0\"\ntimeout = \"10s\"\n" },
			[]string{"state.timeout", "between 1ms and 5s"}},
		{"unknown top key",
			func(s string) string { return "hostnme = \"x\"\n" + s },
			[]string{"t.toml:1:", "unknown key hostnme"}},
		{"wrong type keeps line",
			func(s string) string { return s + "[limits]\nmax_recipients = \"many\"\n" },
			[]string{"t.toml:11", "max_recipients", "write a whole number without quotes here, not a string"}},
		{"string for a list says how to write a list",
			func(s string) string {
				return strings.Replace(s, `local_domains = ["example.com"]`, `local_domains = "example.com"`, 1)
			},
			[]string{"local_domains", `write a list in brackets`}},
		{"syntax error keeps line",
			func(s string) string { return s + "[limits\n" },
			[]string{"t.toml:11"}},
		{"duration without unit",
			func(s string) string { return s + "[limits]\ndata_timeout = \"30\"\n" },
			[]string{"data_timeout", `"30" is not a duration`, `"30s"`}},
		{"duration as number",
			func(s string) string { return s + "[limits]\ndata_timeout = 30\n" },
			[]string{"data_timeout", "with a unit"}},
		{"cidr with host bits",
			func(s string) string { return s + "[helo]\ntrusted_networks = [\"10.0.0.1/8\"]\n" },
			[]string{"trusted_networks", `did you mean "10.0.0.0/8"`}},
		{"not a network",
			func(s string) string { return s + "[helo]\ntrusted_networks = [\"office\"]\n" },
			[]string{"trusted_networks", "not a network"}},
		{"address without port",
			func(s string) string { return strings.Replace(s, "127.0.0.1:2525", "127.0.0.1", 1) },
			[]string{"listener[0].address", "not host:port"}},
		{"address without host",
			func(s string) string { return strings.Replace(s, "127.0.0.1:2525", ":25", 1) },
			[]string{"listener[0].address", "has no host", "0.0.0.0:25"}},
		{"bad kind",
			func(s string) string { return strings.Replace(s, `kind = "mx"`, `kind = "smtp"`, 1) },
			[]string{"listener[0].kind", `"smtp"`, `"submission"`}},
		{"downstream scheme",
			func(s string) string { return strings.Replace(s, "smtp://127.0.0.1:10025", "lmtp://x:24", 1) },
			[]string{"relay.downstream", "unknown scheme", "smtp://host:port"}},
		{"downstream without port",
			func(s string) string { return strings.Replace(s, "smtp://127.0.0.1:10025", "smtp://127.0.0.1", 1) },
			[]string{"relay.downstream", "not host:port"}},
		{"no downstream",
			func(s string) string { return strings.Replace(s, `downstream = "smtp://127.0.0.1:10025"`, "", 1) },
			[]string{"relay.downstream", "empty"}},
		{"no local domains",
			func(s string) string { return strings.Replace(s, `local_domains = ["example.com"]`, "", 1) },
			[]string{"local_domains", "empty"}},
		{"catch-all on a public address",
			func(s string) string {
				s = strings.Replace(s, `["example.com"]`, `["*"]`, 1)
				return strings.Replace(s, "127.0.0.1:2525", "0.0.0.0:25", 1)
			},
			[]string{"local_domains[0]", "open relay"}},
		{"catch-all to smtp",
			func(s string) string { return strings.Replace(s, `["example.com"]`, `["*"]`, 1) },
			[]string{"local_domains[0]", "maildir"}},
		{"local domain not a valid IDN",
			func(s string) string { return strings.Replace(s, `["example.com"]`, `["a\u200d.example"]`, 1) },
			[]string{"local_domains[0]", "not a domain name", "xn--bcher-kva.example"}},
		{"bad hostname",
			func(s string) string { return strings.Replace(s, "mx.example.com", "mx_example", 1) },
			[]string{"hostname", "not a valid host name"}},
		{"tls pair",
			func(s string) string { return s + "[tls]\ncert_file = \"a.pem\"\n" },
			[]string{"tls", "set both or neither"}},
		{"bare line endings value",
			func(s string) string { return s + "[limits]\nbare_line_endings = \"fix\"\n" },
			[]string{"limits.bare_line_endings", "normalize"}},
		{"profile",
			func(s string) string { return s + "[helo]\nprofile = \"exim\"\n" },
			[]string{"helo.profile", "cpanel"}},
		{"submission without users",
			func(s string) string {
				return s + "[[listener]]\nname = \"sub\"\naddress = \"127.0.0.1:2587\"\nkind = \"submission\"\n"
			},
			[]string{"listener[1]", "no users"}},
		{"duplicate listener names",
			func(s string) string {
				return s + "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:2526\"\n"
			},
			[]string{"listener[1].name", "already the name"}},
		{"proxy without trusted",
			func(s string) string {
				return strings.Replace(s, `kind = "mx"`, "kind = \"mx\"\nproxy_protocol = true", 1)
			},
			[]string{"listener[0].proxy_trusted", "load balancers"}},
		{"line length",
			func(s string) string { return s + "[limits]\nmax_line_length = 100\n" },
			[]string{"limits.max_line_length", "512"}},
		{"data line length too small",
			func(s string) string { return s + "[limits]\nmax_data_line_length = 500\n" },
			[]string{"limits.max_data_line_length", "998"}},
		{"data line length negative",
			func(s string) string { return s + "[limits]\nmax_data_line_length = -1\n" },
			[]string{"limits.max_data_line_length", "0 (no limit)"}},
		{"dns max_in_flight negative",
			func(s string) string { return s + "[dns]\nmax_in_flight = -1\n" },
			[]string{"dns.max_in_flight", "-1 is negative", "default 100"}},
		{"max_greetings negative",
			func(s string) string { return s + "[limits]\nmax_greetings = -2\n" },
			[]string{"limits.max_greetings", "-2 is negative"}},
		{"route domain",
			func(s string) string {
				return s + "[[relay.route]]\ndomain = \"not a domain\"\ndownstream = \"smtp://127.0.0.1:1\"\n"
			},
			[]string{"relay.route[0].domain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.edit(minimal)), "t.toml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// All problems are reported at once, not just the first.
func TestAllProblemsAtOnce(t *testing.T) {
	bad := strings.Replace(minimal, "127.0.0.1:2525", "nope", 1)
	bad = strings.Replace(bad, "smtp://127.0.0.1:10025", "ftp://x", 1)
	bad += "[log]\nformat = \"xml\"\n"
	_, err := Parse([]byte(bad), "t.toml")
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"listener[0].address", "relay.downstream", "log.format"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

// max_greetings = 0 turns the cap off; it is not replaced by the default.
func TestMaxGreetingsZeroIsOff(t *testing.T) {
	c, err := Parse([]byte(minimal+"[limits]\nmax_greetings = 0\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.Greetings(); got != 0 {
		t.Errorf("max_greetings = 0 gave %d, want 0 (off)", got)
	}
}

func TestEffectiveMasksSecrets(t *testing.T) {
	c, err := Parse([]byte(minimal+"[[auth.user]]\nname = \"a\"\npassword_hash = \"$2a$12$secret\"\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "secret") || !strings.Contains(out, Masked) {
		t.Errorf("secret not masked:\n%s", out)
	}
	if !strings.Contains(out, `data_timeout = "3m0s"`) {
		t.Errorf("durations not rendered as strings:\n%s", out)
	}
	if c.Auth.Users[0].PasswordHash != "$2a$12$secret" {
		t.Error("Effective changed the configuration itself")
	}
}

func TestEmbeddedIsLoopbackOnly(t *testing.T) {
	c, err := Embedded("$2a$10$abcdefghijklmnopqrstuv")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.Listeners {
		if !strings.HasPrefix(l.Address, "127.0.0.1:") {
			t.Errorf("listener %s on %s, not loopback", l.Name, l.Address)
		}
	}
	if !strings.HasPrefix(c.Relay.Downstream, "maildir:") || !c.CatchAll() {
		t.Errorf("embedded default must deliver only into a Maildir: %q", c.Relay.Downstream)
	}
	if c.HELO.Profile != "cpanel" || len(c.HELO.TrustedNetworks) != 0 {
		t.Errorf("embedded default must keep the HELO policy on loopback too")
	}
}

// max_data_line_length: 65536 when absent, 0 switches it off.
func TestMaxDataLineLengthDefault(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  int
	}{
		{"", DefaultMaxDataLineLength},
		{"[limits]\nmax_data_line_length = 0\n", 0},
		{"[limits]\nmax_data_line_length = 2000\n", 2000},
	} {
		path := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(path, []byte("hostname = \"mx.example.com\"\nlocal_domains = [\"example.com\"]\n[[listener]]\naddress = \"127.0.0.1:2525\"\n[relay]\ndownstream = \"smtp://127.0.0.1:25\"\n"+tc.extra), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if got := c.Limits.DataLineLimit(); got != tc.want || DefaultMaxDataLineLength != 65536 {
			t.Errorf("%q: %d, want %d", tc.extra, got, tc.want)
		}
	}
}

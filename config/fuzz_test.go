package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLoad feeds arbitrary files to the loader (Load is os.ReadFile plus
// Parse). Whatever the bytes, it must not panic, and it either refuses the
// file with an error naming it or returns a configuration that validates
// again and carries the defaults. The seed corpus (testdata/fuzz/FuzzLoad
// and the seeds added here, among them config.toml.example) runs with
// plain go test.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "config.toml.example")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		minimal,
		"",
		"hostname = ",
		"[[listener]]\n[[listener]]\naddress = \"[::1]:25\"\nproxy_protocol = true\nproxy_trusted = [\"10.0.0.0/8\", \"::1\"]\n",
		minimal + "[limits]\nmax_connections = 3\n",
		minimal + "[limits]\ncommand_timeout = \"-1s\"\n",
		minimal + "[limits]\nmax_recipients = \"lots\"\n",
		minimal + "[helo.checks]\nfqdn = \"tag\"\n[helo]\n",
		minimal + "shutdown_timeout = 30\n",
		minimal + "[[relay.route]]\ndomain = \".example.org\"\ndownstream = \"maildir:/tmp/x\"\n",
		"hostname = \"\\u0000\"\n",
		strings.Repeat("[a]\n", 50),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			if !utf8.ValidString(err.Error()) && utf8.Valid(data) {
				t.Fatalf("error is not UTF-8 for a UTF-8 file: %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse returned a configuration that does not validate: %v", err)
		}
		if c.Limits.MaxLineLength < 512 || c.Limits.CommandTimeout <= 0 || c.Limits.MaxConnectionsPerIP > c.Limits.MaxConnections {
			t.Fatalf("accepted configuration with unsafe limits: %+v", c.Limits)
		}
		if len(c.Listeners) == 0 {
			t.Fatalf("accepted a configuration without listeners")
		}
	})
}

// Lowering max_connections alone must not make the file invalid through
// the per-address default.
func TestMaxConnectionsAlone(t *testing.T) {
	for _, tc := range []struct {
		extra      string
		total, per int
	}{
		{"", 1000, 50},
		{"[limits]\nmax_connections = 20\n", 20, 20},
		{"[limits]\nmax_connections = 200\n", 200, 50},
		{"[limits]\nmax_connections_per_ip = 5\n", 1000, 5},
	} {
		c, err := Parse([]byte(minimal+tc.extra), "t.toml")
		if err != nil {
			t.Errorf("%q: %v", tc.extra, err)
			continue
		}
		if c.Limits.MaxConnections != tc.total || c.Limits.MaxConnectionsPerIP != tc.per {
			t.Errorf("%q: max_connections %d, per ip %d; want %d, %d", tc.extra, c.Limits.MaxConnections, c.Limits.MaxConnectionsPerIP, tc.total, tc.per)
		}
	}
}

package config

import (
	"strings"
	"testing"
)

// threeMistakes is issue 16's file: a wrong type, an unknown key and a bad
// value, which used to take three runs of check-config to find.
const threeMistakes = `hostname = "mx.example.com"
local_domains = ["example.com"]

[[listener]]
name = "mx"
address = "127.0.0.1:2525"

[relay]
downstream = "127.0.0.1:3825"

[limits]
max_mesage_bytes = 10485760

[helo]
explain = "yes"
`

func TestEveryKindOfProblemInOneRun(t *testing.T) {
	_, err := Parse([]byte(threeMistakes), "t.toml")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`t.toml:9: relay.downstream: "127.0.0.1:3825": unknown scheme; want smtp://host:port, smtps://host:port or maildir:PATH: did you mean "smtp://127.0.0.1:3825"?`,
		`t.toml:12: unknown key limits.max_mesage_bytes; did you mean max_message_bytes?`,
		`t.toml:15: helo.explain: wrong type: write true or false (without quotes) here, not a string`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d:\n got %q\nwant %q...", i, lines[i], w)
		}
	}
}

func TestProblemLines(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // each a prefix of one problem, in order
	}{
		{"second array table entry",
			minimal + "[[listener]]\nname = \"two\"\naddress = \"nope\"\n",
			[]string{`t.toml:12: listener[1].address: "nope" is not host:port`}},
		{"nested array table",
			minimal + "[[relay.route]]\ndomain = \"example.org\"\ndownstream = \"smtp://127.0.0.1:1\"\n[[relay.route]]\ndomain = \"example.net\"\n\ndownstream = \"ftp://x\"\n",
			[]string{`t.toml:16: relay.route[1].downstream: "ftp://x": unknown scheme`}},
		{"type error inside an array table",
			minimal + "[[auth.user]]\nname = \"a\"\npassword_hash = \"x\"\n[[auth.user]]\nname = 7\npassword_hash = \"y\"\n",
			[]string{`t.toml:14: auth.user[1].name: wrong type: write a quoted string here, not a number`}},
		{"after multi-line values",
			"hostname = \"mx.example.com\"\nlocal_domains = [\n  \"example.com\", # [not a table]\n  \"example.org\",\n]\nbanner = \"\"\"\nline\nhostname = \"x\"\n\"\"\"\n[[listener]]\naddress = \"127.0.0.1:2525\"\n[relay]\ndownstream = 'smtp://[x'\n",
			[]string{`t.toml:6: unknown key banner`, `t.toml:13: relay.downstream:`}},
		{"element of a list is on the list's line",
			strings.Replace(minimal, `["example.com"]`, `["example.com", "bad domain"]`, 1),
			[]string{`t.toml:3: local_domains[1]: "bad domain" is not a domain name`}},
		{"key left to its default points at its table",
			minimal + "[tls]\ncert_file = \"a.pem\"\n",
			[]string{`t.toml:10: tls: cert_file and key_file go together`}},
		{"a wrong type is not reported again as an empty value",
			strings.Replace(minimal, `local_domains = ["example.com"]`, `local_domains = "example.com"`, 1),
			[]string{`t.toml:3: local_domains: wrong type: write a list in brackets`}},
		{"problems come in file order",
			strings.Replace(minimal, "127.0.0.1:2525", "nope", 1) + "[limits]\nmax_recipients = \"ten\"\n[log]\nformat = \"xml\"\n",
			[]string{`t.toml:6: listener[0].address`, `t.toml:11: limits.max_recipients`, `t.toml:13: log.format`}},
		{"dotted keys",
			"limits.max_recipients = -1" + minimal,
			[]string{`t.toml:1: limits.max_recipients: -1 is negative`}},
		{"an entry of a map",
			minimal + "[helo.checks]\nfqdn = \"tag\"\nrdns = 5\n",
			[]string{`t.toml:12: helo.checks.rdns: wrong type: write a quoted string here, not a number`}},
		{"a table written as a value",
			minimal + "tls = \"yes\"\n",
			[]string{`t.toml:10: relay.tls: "yes" is not a TLS mode`}},
		{"a table that is not one",
			"limits = 5\n" + minimal,
			[]string{`t.toml:1: limits: wrong type: write a table ([limits] and its keys on the lines below) here, not a number`}},
		{"array tables that are not",
			"listener = 5\n" + strings.Replace(minimal, "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:2525\"\nkind = \"mx\"\n", "", 1),
			[]string{`t.toml:1: listener: wrong type: write [[listener]] tables here, not a number`}},
		{"a problem without a line names the file",
			strings.Replace(minimal, "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:2525\"\nkind = \"mx\"\n", "", 1),
			[]string{`t.toml: listener: no [[listener]] configured`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "t.toml")
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d:\n got %q\nwant %q...", i, lines[i], w)
				}
			}
		})
	}
}

func TestUnknownKeySuggestions(t *testing.T) {
	tests := []struct {
		name, extra string
		want        string
		not         string
	}{
		{"one letter missing", "[limits]\nmax_mesage_bytes = 1\n", "did you mean max_message_bytes?", ""},
		{"two letters swapped", "[limits]\nmax_recipeints = 1\n", "did you mean max_recipients?", ""},
		{"table name", "[limit]\nmax_recipients = 1\n", "unknown key limit; did you mean limits?", ""},
		{"only from the same table", "[relay]\nmax_mesage_bytes = 1\n", "max_mesage_bytes; check its spelling", "did you mean"},
		{"far from every key", "[limits]\nmaxmessage = 1\n", "check its spelling against config.toml.example", "did you mean"},
		{"short keys need an exact letter", "[tls]\nca = \"x\"\n", "check its spelling", "did you mean"},
		{"a key of another table", "[relay]\nmax_recipients = 1\n", "unknown key relay.max_recipients; max_recipients belongs in [limits]", ""},
		{"a key of an array table", "[relay]\nkind = \"mx\"\n", "kind belongs in [[listener]]", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(minimal, "[relay]\n", "", 1)
			doc = strings.Replace(doc, `downstream = "smtp://127.0.0.1:10025"`, "", 1) + "[relay]\ndownstream = \"smtp://127.0.0.1:10025\"\n"
			if strings.HasPrefix(tc.extra, "[relay]\n") {
				doc += strings.TrimPrefix(tc.extra, "[relay]\n")
			} else {
				doc += tc.extra
			}
			_, err := Parse([]byte(doc), "t.toml")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v\nlacks %q", err, tc.want)
			}
			if tc.not != "" && strings.Contains(err.Error(), tc.not) {
				t.Errorf("%v\nshould not contain %q", err, tc.not)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"max_mesage_bytes", "max_message_bytes", 1},
		{"ab", "ba", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
	}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestScanKeyLines(t *testing.T) {
	doc := `# comment [x]
top = 1
"quoted key" = 'v' # a = 1
[a]
b.c = """
x = 2
"""
[[arr]]
k = [1,
  2]
[[arr]]
k = 3
[arr.sub]
s = 'a\'
[[arr.list]]
e = 1
`
	got := scanKeyLines(doc)
	want := map[string]int{
		"top": 2, "quoted key": 3, "a": 4, "a.b.c": 5, "arr": 8, "arr[0]": 8, "arr[0].k": 9,
		"arr[1]": 11, "arr[1].k": 12, "arr[1].sub": 13, "arr[1].sub.s": 14,
		"arr[1].list": 15, "arr[1].list[0]": 15, "arr[1].list[0].e": 16,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("line of %s = %d, want %d", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := got.line("arr[1].k[3]"); n != 12 {
		t.Errorf("element of arr[1].k on line %d, want 12", n)
	}
	if n := got.line("nowhere.key"); n != 0 {
		t.Errorf("absent key on line %d, want 0", n)
	}
}

package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, completes and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes data (named name in messages), refuses unknown keys,
// applies defaults and validates. The error lists every problem found.
func Parse(data []byte, name string) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var pe toml.ParseError
		if ppe := (*toml.ParseError)(nil); errors.As(err, &ppe) {
			pe = *ppe
		} else if !errors.As(err, &pe) {
			// Type mismatches come as plain errors: "toml: line 11 (last
			// key "limits.max_recipients"): incompatible types: ...".
			if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("%s:%s: %s: %s", name, m[1], m[2], typeHint(m[3]))
			}
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		msg := oneLine(pe.Message)
		if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
			msg = pe.LastKey + ": " + msg
		}
		return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, msg)
	}
	var problems []error
	for _, k := range md.Undecoded() {
		problems = append(problems, unknownKey(name, data, k))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, prefixErrors(name, err)
	}
	return &c, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// unknownKey names the key path and the line it is on. go-toml's metadata
// has no public position for undecoded keys, so the line is found by
// looking for the key's last part written as a key.
func unknownKey(name string, data []byte, k toml.Key) error {
	path := keyPath(k)
	last := k[len(k)-1]
	re := regexp.MustCompile(`^\s*("?)` + regexp.QuoteMeta(last) + `("?)\s*=`)
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			return fmt.Errorf("%s:%d: unknown key %s; check its spelling against config.toml.example", name, i+1, path)
		}
	}
	return fmt.Errorf("%s: unknown key %s; check its spelling against config.toml.example", name, path)
}

// keyPath renders a TOML key; array tables get no index because the
// metadata does not carry one.
func keyPath(k toml.Key) string {
	return strings.Join(k, ".")
}

func prefixErrors(name string, err error) error {
	var out []error
	for _, e := range unjoin(err) {
		out = append(out, fmt.Errorf("%s: %w", name, e))
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// typeMismatch is BurntSushi/toml's text for a value of the wrong type.
var typeMismatch = regexp.MustCompile(`incompatible types: TOML value has type (\S+); destination has type (\S+)`)

// typeHint says what to write instead, in the operator's terms.
func typeHint(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	words := map[string]string{
		"string": "a quoted string", "integer": "a whole number without quotes",
		"float": "a number", "bool": "true or false (without quotes)",
		"boolean": "true or false (without quotes)",
		"slice":   "a list in brackets, e.g. [\"a\", \"b\"]", "array": "a list in brackets, e.g. [\"a\", \"b\"]",
		"map": "a table", "struct": "a table", "table": "a table",
	}
	want, got := words[m[2]], m[1]
	if want == "" {
		want = m[2]
	}
	return fmt.Sprintf("wrong type: write %s here, not a %s", want, got)
}

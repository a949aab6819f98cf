package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
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
// applies defaults and validates. The error lists every problem found,
// wrong types, unknown keys and bad values alike, in file order, each with
// its line where the file has one ("name:12: key: what to write"); only a
// syntax error, after which nothing can be read, stops at the first.
func Parse(data []byte, name string) (*Config, error) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	d := &decoder{md: &md, lines: scanKeyLines(string(data)), bad: map[string]bool{}}
	var c Config
	d.table(reflect.ValueOf(&c).Elem(), top, "")
	c.applyDefaults()
	d.validation(c.Validate())
	if err := d.err(name); err != nil {
		return nil, err
	}
	return &c, nil
}

// syntaxError renders a document the toml package could not parse.
func syntaxError(name string, err error) error {
	var pe toml.ParseError
	if ppe := (*toml.ParseError)(nil); errors.As(err, &ppe) {
		pe = *ppe
	} else if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", name, err)
	}
	msg := oneLine(pe.Message)
	if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
		msg = pe.LastKey + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", name, pe.Position.Line, msg)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// typeMismatch is BurntSushi/toml's text for a value of the wrong type.
var typeMismatch = regexp.MustCompile(`incompatible types: TOML value has type (.+); destination has type (\S+)`)

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
	// What the file has, as the toml package names Go's types.
	have := map[string]string{
		"int64": "number", "float64": "number with a fraction", "bool": "true/false value",
		"[]interface {}": "list", "[]map[string]interface {}": "list of tables",
		"map[string]interface {}": "table",
	}
	want, got := words[m[2]], m[1]
	if want == "" {
		want = m[2]
	}
	if h := have[got]; h != "" {
		got = h
	}
	return fmt.Sprintf("wrong type: write %s here, not a %s", want, got)
}

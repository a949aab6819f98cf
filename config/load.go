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
	c := parse(data, name)
	if err := c.Err(); err != nil {
		return nil, err
	}
	return c.Config, nil
}

// Checked is a file read for "gateway check-config": what could be decoded
// and its problems so far, to which deeper checks add theirs.
type Checked struct {
	// Config is the file as decoded, defaults applied, problems or not;
	// nil after a syntax error.
	Config *Config
	name   string
	syntax error
	d      *decoder
}

// Check reads the file at path as Load does, but keeps what it decoded
// when there are problems, so that the caller can check deeper (and list
// those problems in the same run, with Add).
func Check(path string) (*Checked, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(data, path), nil
}

func parse(data []byte, name string) *Checked {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		return &Checked{name: name, syntax: syntaxError(name, err)}
	}
	d := &decoder{md: &md, lines: scanKeyLines(string(data)), bad: map[string]bool{}}
	var c Config
	d.table(reflect.ValueOf(&c).Elem(), top, "")
	c.applyDefaults()
	d.validation(c.Validate())
	return &Checked{Config: &c, name: name, d: d}
}

// Add adds problems found by a deeper check: err's parts, each "key: text"
// (a key path first, as Validate's are), are placed on their key's line.
// A part about a key that already has a problem is dropped: it would only
// say the same again.
func (c *Checked) Add(err error) {
	if c.d == nil || err == nil {
		return
	}
	for _, e := range unjoin(err) {
		key, _, _ := strings.Cut(e.Error(), ": ")
		if strings.ContainsAny(key, " \t\n\"") {
			key = ""
		}
		if key != "" && c.d.reported(key) {
			continue
		}
		c.d.add(key, 0, oneLine(e.Error()))
	}
}

// Err returns every problem in file order, each with the file's name and
// line; nil when there is none.
func (c *Checked) Err() error {
	if c.syntax != nil {
		return c.syntax
	}
	return c.d.err(c.name)
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

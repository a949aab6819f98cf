package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// decoder fills the Config struct tree from a parsed document key by key,
// so that one wrong type or unknown key does not hide the next one:
// BurntSushi/toml's own decoding stops at the first type error. Each value
// is still converted by the toml package (MetaData.PrimitiveDecode), so the
// rules for what a value may be are its rules and the struct tags.
//
// Nothing here names a key: a key added to the struct tree is decoded,
// suggested and located without a change in this file.
type decoder struct {
	md       *toml.MetaData
	lines    keyLines
	problems []problem
	bad      map[string]bool // keys whose value could not be decoded
}

// problem is one thing wrong with the file: the key path it is about
// (empty when it is about the file as a whole), the line (0 when unknown)
// and the text for the operator.
type problem struct {
	key  string
	line int
	msg  string
}

func (d *decoder) add(key string, line int, msg string) {
	if line == 0 {
		line = d.lines.line(key)
	}
	d.problems = append(d.problems, problem{key: key, line: line, msg: msg})
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isTable reports whether a field of type t is a TOML table the decoder
// descends into (a struct that is not a value type such as Duration or
// Prefix).
func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler)
}

// tomlFields returns the struct's fields by TOML key.
func tomlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
		if tag != "" && tag != "-" {
			out[tag] = i
		}
	}
	return out
}

// table decodes the keys of one table (at path, "" for the top) into dst.
func (d *decoder) table(dst reflect.Value, src map[string]toml.Primitive, path string) {
	fields := tomlFields(dst.Type())
	for _, k := range sortedKeys(src) {
		p := joinKey(path, k)
		i, ok := fields[k]
		if !ok {
			// TOML keys are case-sensitive, but the toml package matched
			// field names regardless of case; files relying on that stay
			// valid.
			for tag, j := range fields {
				if strings.EqualFold(tag, k) {
					i, ok = j, true
				}
			}
		}
		if !ok {
			d.add(p, 0, unknownKeyText(dst.Type(), path, k))
			continue
		}
		fv := dst.Field(i)
		// The toml package decodes a value of another kind into a map as
		// nothing at all, so tables are checked here.
		var raw any
		_ = d.md.PrimitiveDecode(src[k], &raw)
		switch {
		case isTable(fv.Type()):
			sub, ok := d.tableOf(p, src[k], raw)
			if ok {
				d.table(fv, sub, p)
			}
		case fv.Kind() == reflect.Slice && isTable(fv.Type().Elem()):
			list, ok := raw.([]map[string]any)
			if !ok {
				d.kindError(p, raw, "[["+p+"]] tables")
				continue
			}
			fv.Set(reflect.MakeSlice(fv.Type(), len(list), len(list)))
			var subs []map[string]toml.Primitive
			_ = d.md.PrimitiveDecode(src[k], &subs)
			for j, sub := range subs {
				d.table(fv.Index(j), sub, fmt.Sprintf("%s[%d]", p, j))
			}
		case fv.Kind() == reflect.String && hasTagOption(dst.Type().Field(i), "list"):
			if list, isList := raw.([]any); isList {
				d.stringList(dst, i, p, src[k], len(list))
				continue
			}
			if err := d.md.PrimitiveDecode(src[k], fv.Addr().Interface()); err != nil {
				d.typeError(p, err)
			}
		case fv.Kind() == reflect.Map:
			if _, ok := raw.(map[string]any); !ok {
				d.kindError(p, raw, "a table (["+p+"] and its keys on the lines below)")
				continue
			}
			fallthrough
		default:
			if err := d.md.PrimitiveDecode(src[k], fv.Addr().Interface()); err != nil {
				fv.Set(reflect.Zero(fv.Type())) // a half-decoded list is no value
				d.typeError(p, err)
			}
		}
	}
}

// hasTagOption reports whether f's toml tag has the option, as in
// `toml:"downstream,list"`.
func hasTagOption(f reflect.StructField, option string) bool {
	opts := strings.Split(f.Tag.Get("toml"), ",")[1:]
	for _, o := range opts {
		if o == option {
			return true
		}
	}
	return false
}

// stringList decodes a list of n strings given for the string field i of
// dst (tagged ",list"): the first goes to the field, the others to the
// []string field named after it with "Fallback" appended. An empty list
// leaves the field empty, which validation then names.
func (d *decoder) stringList(dst reflect.Value, i int, key string, prim toml.Primitive, n int) {
	var list []string
	if err := d.md.PrimitiveDecode(prim, &list); err != nil {
		d.typeError(key, err)
		return
	}
	if n == 0 {
		return
	}
	dst.Field(i).SetString(list[0])
	rest := dst.FieldByName(dst.Type().Field(i).Name + "Fallback")
	rest.Set(reflect.ValueOf(list[1:]))
}

// tableOf decodes prim, the value of key (raw when decoded as is), as a
// table of undecoded values.
func (d *decoder) tableOf(key string, prim toml.Primitive, raw any) (map[string]toml.Primitive, bool) {
	if _, ok := raw.(map[string]any); !ok {
		d.kindError(key, raw, "a table (["+key+"] and its keys on the lines below)")
		return nil, false
	}
	var sub map[string]toml.Primitive
	if err := d.md.PrimitiveDecode(prim, &sub); err != nil {
		d.typeError(key, err)
		return nil, false
	}
	return sub, true
}

// kindError records a value that is not the table (or tables) key needs.
func (d *decoder) kindError(key string, raw any, want string) {
	d.bad[key] = true
	got := typeHint(fmt.Sprintf("incompatible types: TOML value has type %T; destination has type string", raw))
	got = got[strings.LastIndex(got, ", not a ")+len(", not a "):]
	d.add(key, 0, fmt.Sprintf("%s: wrong type: write %s here, not a %s", key, want, got))
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// typeError records a value the toml package could not convert, in the
// operator's terms.
func (d *decoder) typeError(key string, err error) {
	d.bad[key] = true
	line := d.lines.line(key)
	var msg string
	var pe toml.ParseError
	var ppe *toml.ParseError
	isParseError := errors.As(err, &ppe) || errors.As(err, &pe)
	if ppe != nil {
		pe = *ppe
	}
	if isParseError {
		// A value type's own UnmarshalText refused it (Duration, Prefix).
		msg = oneLine(pe.Message)
		if line == 0 {
			line = pe.Position.Line
		}
	} else {
		msg = err.Error()
		if m := typeErr.FindStringSubmatch(msg); m != nil {
			if strings.HasPrefix(m[2], key+".") {
				// An entry of a map such as [helo.checks].
				key = m[2]
				line = d.lines.line(key)
			}
			if line == 0 {
				line, _ = strconv.Atoi(m[1])
			}
			msg = m[3]
		} else if i := strings.Index(msg, "): "); strings.HasPrefix(msg, "toml:") && i >= 0 {
			msg = msg[i+3:]
		}
		msg = typeHint(msg)
	}
	d.add(key, line, key+": "+msg)
}

// validation adds Validate's problems, except those about a key whose
// value was already refused: its zero value would only repeat the news.
func (d *decoder) validation(err error) {
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		key := ""
		var ke *keyError
		if errors.As(e, &ke) {
			key = ke.key
		}
		if d.refused(key) {
			continue
		}
		d.add(key, 0, e.Error())
	}
}

// reported reports whether a problem names key, a key containing it or a
// key within it.
func (d *decoder) reported(key string) bool {
	for _, p := range d.problems {
		if p.key == "" {
			continue
		}
		if p.key == key || within(key, p.key) || within(p.key, key) {
			return true
		}
	}
	return false
}

// within reports whether key is inside the table or list at outer.
func within(key, outer string) bool {
	return strings.HasPrefix(key, outer+".") || strings.HasPrefix(key, outer+"[")
}

// refused reports whether key or a key containing it could not be decoded.
func (d *decoder) refused(key string) bool {
	for key != "" {
		if d.bad[key] {
			return true
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return false
		}
		key = key[:i]
	}
	return false
}

// err renders the problems in file order, each prefixed by the file's name
// and line: "gateway.toml:12: limits.max_recipients: ...".
func (d *decoder) err(name string) error {
	if len(d.problems) == 0 {
		return nil
	}
	sort.SliceStable(d.problems, func(i, j int) bool {
		a, b := d.problems[i].line, d.problems[j].line
		return a != 0 && (b == 0 || a < b)
	})
	out := make([]error, 0, len(d.problems))
	for _, p := range d.problems {
		if p.line > 0 {
			out = append(out, fmt.Errorf("%s:%d: %s", name, p.line, p.msg))
		} else {
			out = append(out, fmt.Errorf("%s: %s", name, p.msg))
		}
	}
	return errors.Join(out...)
}

// unknownKeyText explains an unknown key k in the table of type t at path:
// a known key of the same table that is a slip of the keyboard away, else
// the table where k belongs, else where to look.
func unknownKeyText(t reflect.Type, path, k string) string {
	msg := "unknown key " + joinKey(path, k)
	if s := closest(k, sortedKeys(tomlFields(t))); s != "" {
		return msg + "; did you mean " + s + "?"
	}
	if tables := tablesWithKey(k); len(tables) > 0 {
		return msg + "; " + k + " belongs in " + strings.Join(tables, " or ")
	}
	return msg + "; check its spelling against config.toml.example"
}

// closest returns the candidate nearest to k by edit distance, if it is
// near enough to be a typo (one edit in keys of 4 or more characters, two
// in keys of 8 or more); "" otherwise.
func closest(k string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(k), c)
		if d == 0 || d > 2 || d*4 > len(k) {
			continue
		}
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours count one each.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// tablesWithKey names the tables of the struct tree that have key k, the
// way they are written in the file ("[limits]", "[[listener]]", "the top
// level").
func tablesWithKey(k string) []string {
	var out []string
	var walk func(t reflect.Type, path string, array bool)
	walk = func(t reflect.Type, path string, array bool) {
		fields := tomlFields(t)
		if _, ok := fields[k]; ok {
			switch {
			case path == "":
				out = append(out, "the top level")
			case array:
				out = append(out, "[["+path+"]]")
			default:
				out = append(out, "["+path+"]")
			}
		}
		for _, tag := range sortedKeys(fields) {
			ft := t.Field(fields[tag]).Type
			switch {
			case isTable(ft):
				walk(ft, joinKey(path, tag), false)
			case ft.Kind() == reflect.Slice && isTable(ft.Elem()):
				walk(ft.Elem(), joinKey(path, tag), true)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", false)
	return out
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// logRecord is one line of the gateway's own log, every attribute as a
// string; attributes of a group are named "group.key" in both formats
// (slog's text handler writes them so, its JSON handler nests them).
type logRecord map[string]string

// parseLogLine reads one log line as the gateway writes it: a JSON object
// ([log] format = "json") or slog's text form, key=value pairs where a
// value with spaces, quotes, '=' or unprintable bytes is a Go quoted
// string ("text"). The line may carry a prefix that is no key=value pair
// (journalctl's "Dec 05 09:00:00 host gateway[42]: "): in text such words
// are skipped, in JSON the object starts at the first '{'. It returns an
// error for a line that is neither (an unterminated quote, broken JSON);
// it never panics.
func parseLogLine(line []byte) (logRecord, error) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.Index(line, []byte(`{"`)); i >= 0 && (i == 0 || !bytes.Contains(line[:i], []byte("="))) {
		return parseJSONRecord(line[i:])
	}
	return parseTextRecord(line)
}

func parseJSONRecord(line []byte) (logRecord, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON log record: %v", err)
	}
	rec := logRecord{}
	flattenJSON(rec, "", m, 0)
	return rec, nil
}

// maxGroupDepth bounds the nesting flattenJSON follows; the gateway's
// records are at most one group deep.
const maxGroupDepth = 8

func flattenJSON(rec logRecord, prefix string, m map[string]any, depth int) {
	for k, v := range m {
		key := prefix + k
		switch v := v.(type) {
		case string:
			rec[key] = v
		case json.Number:
			rec[key] = v.String()
		case bool:
			rec[key] = strconv.FormatBool(v)
		case nil:
			rec[key] = ""
		case map[string]any:
			if depth < maxGroupDepth {
				flattenJSON(rec, key+".", v, depth+1)
			}
		default:
			b, _ := json.Marshal(v)
			rec[key] = string(b)
		}
	}
}

// errNoRecord says a text line has no key=value pair at all.
var errNoRecord = errors.New("no key=value pair")

func parseTextRecord(line []byte) (logRecord, error) {
	rec := logRecord{}
	s := string(line)
	for len(s) > 0 {
		if s[0] == ' ' || s[0] == '\t' {
			s = s[1:]
			continue
		}
		var key string
		if s[0] == '"' {
			// slog quotes a key that needs it, as it does values.
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("unterminated quoted key at %q", clip(s))
			}
			key, _ = strconv.Unquote(q)
			s = s[len(q):]
			if len(s) == 0 || s[0] != '=' {
				return nil, fmt.Errorf("quoted key %q without a value", clip(key))
			}
		} else {
			end := indexAny(s, " \t=")
			if end < 0 || s[end] != '=' {
				// A word that is no pair: a prefix such as a syslog
				// header. Skip it.
				if end < 0 {
					break
				}
				s = s[end:]
				continue
			}
			key, s = s[:end], s[end:]
		}
		s = s[1:] // '='
		var val string
		if len(s) > 0 && s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("key %s: unterminated or malformed quoted value at %q", clip(key), clip(s))
			}
			val, _ = strconv.Unquote(q)
			s = s[len(q):]
			if len(s) > 0 && s[0] != ' ' && s[0] != '\t' {
				return nil, fmt.Errorf("key %s: text after the closing quote at %q", clip(key), clip(s))
			}
		} else {
			end := indexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		rec[key] = val
	}
	if len(rec) == 0 {
		return nil, errNoRecord
	}
	return rec, nil
}

func indexAny(s, chars string) int {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return i
			}
		}
	}
	return -1
}

// clip shortens a piece of input for an error message, keeping it valid
// UTF-8 and printable in %q.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

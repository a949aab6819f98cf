package config

import (
	"fmt"
	"regexp"
	"strings"
)

// keyLines maps the key paths of a TOML document to the lines they are
// written on, so that every problem, a bad value included, can name its
// line. Paths are written the way problems name them: tables and keys
// joined by dots, an array table's entries by index ("listener[1].address",
// "auth.user[0].name"). A table header maps to its own line ("tls",
// "listener[1]").
//
// BurntSushi/toml keeps key positions only privately, and without the
// index of an array table's entry, so the document is scanned here. The
// scanner only has to follow valid TOML (it runs after the document parsed):
// comments, the four string forms and values spanning lines (arrays,
// multi-line strings) are skipped as values.
type keyLines map[string]int

func scanKeyLines(doc string) keyLines {
	s := &lineScanner{doc: doc, line: 1, lines: keyLines{}, arrays: map[string]int{}}
	s.scan()
	return s.lines
}

// line returns the line of path, else of the nearest enclosing key or
// table written in the file ("local_domains[0]" is on the line of
// local_domains; a key left to its default points at its table's header);
// 0 when none is.
func (kl keyLines) line(path string) int {
	for path != "" {
		if n, ok := kl[path]; ok {
			return n
		}
		if i := strings.LastIndexAny(path, ".["); i > 0 {
			path = path[:i]
		} else {
			return 0
		}
	}
	return 0
}

type lineScanner struct {
	doc    string
	pos    int
	line   int
	lines  keyLines
	table  string         // indexed path of the current table ("" at the top)
	arrays map[string]int // entries so far of each array table, by indexed path
}

func (s *lineScanner) peek(prefix string) bool { return strings.HasPrefix(s.doc[s.pos:], prefix) }

func (s *lineScanner) eof() bool { return s.pos >= len(s.doc) }

// advance moves n bytes on, counting lines.
func (s *lineScanner) advance(n int) {
	for i := 0; i < n && !s.eof(); i++ {
		if s.doc[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

func (s *lineScanner) skipSpace() {
	for !s.eof() && (s.doc[s.pos] == ' ' || s.doc[s.pos] == '\t') {
		s.pos++
	}
}

func (s *lineScanner) skipLine() {
	for !s.eof() && s.doc[s.pos] != '\n' {
		s.advance(1)
	}
	s.advance(1)
}

func (s *lineScanner) scan() {
	for !s.eof() {
		s.skipSpace()
		switch {
		case s.eof():
			return
		case s.peek("\n"), s.peek("\r"), s.peek("#"):
			s.skipLine()
		case s.peek("[["):
			s.advance(2)
			base := s.indexed(s.keyParts())
			i := s.arrays[base]
			s.arrays[base] = i + 1
			if i == 0 {
				s.lines[base] = s.line
			}
			s.table = fmt.Sprintf("%s[%d]", base, i)
			s.lines[s.table] = s.line
			s.skipLine()
		case s.peek("["):
			s.advance(1)
			s.table = s.indexed(s.keyParts())
			s.lines[s.table] = s.line
			s.skipLine()
		default:
			line := s.line
			parts := s.keyParts()
			path := strings.Join(parts, ".")
			if s.table != "" {
				path = s.table + "." + path
			}
			s.lines[path] = line
			if s.peek("=") {
				s.advance(1)
			}
			s.skipValue()
		}
	}
}

// indexed joins a header's dotted parts into an indexed path: a part
// before the last that names an array table means that table's last entry
// so far (TOML's rule for "[[a]] ... [a.b]").
func (s *lineScanner) indexed(parts []string) string {
	path := ""
	for i, p := range parts {
		if path != "" {
			path += "."
		}
		path += p
		if n, ok := s.arrays[path]; ok && i < len(parts)-1 {
			path = fmt.Sprintf("%s[%d]", path, n-1)
		}
	}
	return path
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+`)

// keyParts reads a dotted key (bare or quoted parts) up to "=", "]" or
// "]]", leaving the position on that character.
func (s *lineScanner) keyParts() []string {
	var parts []string
	for !s.eof() {
		s.skipSpace()
		switch {
		case s.peek(`"`):
			parts = append(parts, s.quoted('"'))
		case s.peek(`'`):
			parts = append(parts, s.quoted('\''))
		default:
			m := bareKey.FindString(s.doc[s.pos:])
			if m == "" {
				return parts
			}
			parts = append(parts, m)
			s.advance(len(m))
		}
		s.skipSpace()
		if !s.peek(".") {
			return parts
		}
		s.advance(1)
	}
	return parts
}

// quoted reads a one-line quoted key and returns its text (escapes other
// than \" and \\ are kept as written: key names are plain words).
func (s *lineScanner) quoted(q byte) string {
	s.advance(1)
	var b strings.Builder
	for !s.eof() && s.doc[s.pos] != q && s.doc[s.pos] != '\n' {
		if q == '"' && s.doc[s.pos] == '\\' && s.pos+1 < len(s.doc) {
			s.advance(1)
		}
		b.WriteByte(s.doc[s.pos])
		s.advance(1)
	}
	s.advance(1)
	return b.String()
}

// skipValue skips a value and the rest of its (last) line: strings of all
// four kinds, arrays and inline tables across lines, comments.
func (s *lineScanner) skipValue() {
	depth := 0
	for !s.eof() {
		switch {
		case s.peek(`"""`):
			s.skipString(`"""`, true)
		case s.peek(`'''`):
			s.skipString(`'''`, false)
		case s.peek(`"`):
			s.skipString(`"`, true)
		case s.peek(`'`):
			s.skipString(`'`, false)
		case s.peek("#"):
			for !s.eof() && s.doc[s.pos] != '\n' {
				s.advance(1)
			}
		case s.peek("[") || s.peek("{"):
			depth++
			s.advance(1)
		case s.peek("]") || s.peek("}"):
			depth--
			s.advance(1)
		case s.peek("\n"):
			s.advance(1)
			if depth <= 0 {
				return
			}
		default:
			s.advance(1)
		}
	}
}

func (s *lineScanner) skipString(delim string, escapes bool) {
	s.advance(len(delim))
	for !s.eof() {
		if escapes && s.doc[s.pos] == '\\' {
			s.advance(2)
			continue
		}
		if s.peek(delim) {
			s.advance(len(delim))
			// A multi-line string may end in up to two more quotes.
			for len(delim) == 3 && s.peek(delim[:1]) && !s.peek(delim) {
				s.advance(1)
			}
			return
		}
		s.advance(1)
	}
}

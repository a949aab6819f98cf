package listener

import (
	"strconv"
	"strings"
	"sync"
)

// stats counts commands and how many of them succeeded, for the
// Postfix-style summary on the disconnect line:
// "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6".
type stats struct {
	mu    sync.Mutex
	order []string
	n     map[string][2]int // ok, total
}

var knownVerbs = map[string]string{
	"HELO": "helo", "EHLO": "ehlo", "STARTTLS": "starttls", "AUTH": "auth",
	"MAIL": "mail", "RCPT": "rcpt", "DATA": "data", "BDAT": "bdat",
	"RSET": "rset", "NOOP": "noop", "VRFY": "vrfy", "EXPN": "expn",
	"HELP": "help", "QUIT": "quit",
}

func statName(verb string) string {
	if s, ok := knownVerbs[verb]; ok {
		return s
	}
	return "unknown"
}

func newStats() *stats { return &stats{n: map[string][2]int{}} }

func (s *stats) add(name string, ok bool) {
	if name == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, seen := s.n[name]
	if !seen {
		s.order = append(s.order, name)
	}
	v[1]++
	if ok {
		v[0]++
	}
	s.n[name] = v
}

func (s *stats) commands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0
	for _, v := range s.n {
		t += v[1]
	}
	return t
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	ok, total := 0, 0
	for _, name := range s.order {
		v := s.n[name]
		ok += v[0]
		total += v[1]
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(frac(v))
		b.WriteByte(' ')
	}
	b.WriteString("commands=")
	b.WriteString(frac([2]int{ok, total}))
	return b.String()
}

func frac(v [2]int) string {
	if v[0] == v[1] {
		return strconv.Itoa(v[0])
	}
	return strconv.Itoa(v[0]) + "/" + strconv.Itoa(v[1])
}

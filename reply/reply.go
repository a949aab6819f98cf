package reply

import (
	"fmt"
	"strings"
)

// Refusal is an SMTP reply that refuses something, with the facts the log
// line about it needs. Text may hold several lines separated by "\n": the
// client sees a multi-line reply whose last line carries the enhanced code
// (RFC 2034 §4), which is where compatible texts that senders search for
// belong.
type Refusal struct {
	Code     int    // 550
	Enhanced [3]int // {5, 7, 1}; all zero when there is none
	Text     string // "Access denied - Invalid HELO name"
	Check    string // "fqdn": the check name shared by config, logs and metrics
	Evidence string // for the log only, never sent to the client
}

// Error renders the refusal the way the client would see it, on one line.
func (r *Refusal) Error() string {
	return r.String()
}

// String renders the refusal as "550 5.7.1 text" (lines joined by " / ").
func (r *Refusal) String() string {
	text := strings.ReplaceAll(r.Text, "\n", " / ")
	if r.HasEnhanced() {
		return fmt.Sprintf("%d %s %s", r.Code, r.EnhancedString(), text)
	}
	return fmt.Sprintf("%d %s", r.Code, text)
}

// HasEnhanced reports whether the refusal carries an enhanced status code.
func (r *Refusal) HasEnhanced() bool {
	return r.Enhanced[0] != 0
}

// EnhancedString renders the enhanced status code as "5.7.1", or "" when
// there is none.
func (r *Refusal) EnhancedString() string {
	if !r.HasEnhanced() {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
}

// Temporary reports whether the refusal is a 4xx reply, after which the
// client is expected to try again later.
func (r *Refusal) Temporary() bool {
	return r.Code/100 == 4
}

// LastLine returns the final line of the text: the compatible part of a
// reply that carries an explanation line before it.
func (r *Refusal) LastLine() string {
	if i := strings.LastIndexByte(r.Text, '\n'); i >= 0 {
		return r.Text[i+1:]
	}
	return r.Text
}

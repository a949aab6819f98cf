package reply

import (
	"fmt"
	"strings"
)

// Reply is one SMTP reply the gateway writes or passes on: its own
// refusals (and the listener's), a downstream's reply relayed to the
// client, and the 250 that accepts a message. Text may hold several lines
// separated by "\n": the client sees a multi-line reply whose last line
// carries the enhanced code (RFC 2034 §4), which is where compatible texts
// that senders search for belong. Check and Evidence are for the refusal's
// log line and metric; they are never sent.
type Reply struct {
	Code     int      // 550; one of the C constants where the gateway chooses it
	Enhanced Enhanced // {5, 7, 1}; all zero when there is none
	Text     string   // "Access denied - Invalid HELO name"
	Check    string   // "fqdn": the check name shared by config, logs and metrics
	Evidence string   // for the log only, never sent to the client
}

// String renders the reply as "550 5.7.1 text" (lines joined by " / ").
func (r Reply) String() string {
	text := strings.ReplaceAll(r.Text, "\n", " / ")
	if r.HasEnhanced() {
		return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, text)
	}
	return fmt.Sprintf("%d %s", r.Code, text)
}

// HasEnhanced reports whether the reply carries an enhanced status code.
func (r Reply) HasEnhanced() bool {
	return r.Enhanced.Set()
}

// EnhancedString renders the enhanced status code as "5.7.1", or "" when
// there is none.
func (r Reply) EnhancedString() string {
	if !r.HasEnhanced() {
		return ""
	}
	return r.Enhanced.String()
}

// Temporary reports whether the reply is a 4xx, after which the client is
// expected to try again later (RFC 5321 §4.2.1).
func (r Reply) Temporary() bool {
	return r.Code/100 == 4
}

// Wire renders the reply as the listener writes it itself, byte for byte:
// every line "code-enhanced text" and the last "code enhanced text", each
// ended by CRLF (RFC 5321 §4.2.1, RFC 2034 §4: the enhanced code on every
// line). The listener always sends enhanced codes; a reply without one
// (Enhanced all zero) is written with the code alone.
func (r Reply) Wire() string {
	lines := strings.Split(r.Text, "\n")
	var b strings.Builder
	for i, l := range lines {
		sep := " "
		if i < len(lines)-1 {
			sep = "-"
		}
		if r.HasEnhanced() {
			fmt.Fprintf(&b, "%d%s%s %s\r\n", r.Code, sep, r.Enhanced, l)
		} else {
			fmt.Fprintf(&b, "%d%s%s\r\n", r.Code, sep, l)
		}
	}
	return b.String()
}

// Render renders the reply as go-smtp writes it to the client, the lines
// separated by "\n" (for a log line or a report): the code on every line,
// the enhanced code on the last line only, and only when enhanced is set
// (the client greeted with EHLO, RFC 2034 §3). A reply without an enhanced
// code then gets go-smtp's default, X.0.0, when its class is 2, 4 or 5.
func (r Reply) Render(enhanced bool) string {
	enh := ""
	switch {
	case !enhanced:
	case r.HasEnhanced():
		enh = r.Enhanced.String() + " "
	case r.Code/100 == 2 || r.Code/100 == 4 || r.Code/100 == 5:
		enh = Enhanced{r.Code / 100, 0, 0}.String() + " "
	}
	lines := strings.Split(r.Text, "\n")
	var b strings.Builder
	for i, l := range lines {
		if i < len(lines)-1 {
			fmt.Fprintf(&b, "%d-%s\n", r.Code, l)
		} else {
			fmt.Fprintf(&b, "%d %s%s", r.Code, enh, l)
		}
	}
	return b.String()
}

// Enhanced is an enhanced status code (RFC 3463): class, subject, detail.
// The zero value means none.
type Enhanced [3]int

// Set reports whether e is an enhanced code, not the zero value.
func (e Enhanced) Set() bool {
	return e[0] != 0
}

// String renders e as "5.7.1".
func (e Enhanced) String() string {
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

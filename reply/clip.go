package reply

import (
	"strconv"
	"unicode/utf8"
)

// MaxLogBytes is how much of a string the client sent (a HELO name, an
// address, a quote of either in evidence) one log attribute carries: 255
// bytes, the longest a host name can be on the wire (RFC 1035 §2.3.4).
const MaxLogBytes = 255

// Clip returns s for a log line: s itself when it is at most MaxLogBytes
// long, else its first MaxLogBytes bytes (fewer if that would split a
// UTF-8 sequence) followed by "...(cut N bytes)", N being how many were
// left out. It is the one function the backend, the listener guard and
// heloguard pass every client-supplied string through before logging it,
// so a 3000-byte HELO name costs the log 255 bytes and says so. Control
// characters are left to the log handler, which quotes them.
func Clip(s string) string {
	if len(s) <= MaxLogBytes {
		return s
	}
	n := MaxLogBytes
	for n > MaxLogBytes-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "...(cut " + strconv.Itoa(len(s)-n) + " bytes)"
}

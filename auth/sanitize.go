package auth

import (
	"fmt"
	"strings"
)

// maxLoggedUser caps SanitizeUser's output: enough for any real address,
// short enough that a hostile client cannot flood the log through it.
const maxLoggedUser = 64

// SanitizeUser makes a client-supplied user name safe to log: printable
// ASCII is kept, a backslash becomes \\, every other byte becomes \xNN (so
// CR LF cannot forge log lines and terminal escapes cannot run), the result
// is capped at 64 characters (ending in "..." when cut) and is never empty
// ("-").
func SanitizeUser(s string) string {
	return sanitize(s, maxLoggedUser)
}

// sanitize is SanitizeUser with a chosen cap (at least 4).
func sanitize(s string, limit int) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	cut := 0 // the longest escaped prefix, on a byte boundary, that leaves room for "..."
	for i := 0; i < len(s); i++ {
		if b.Len() <= limit-3 {
			cut = b.Len()
		}
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
		if b.Len() > limit {
			return b.String()[:cut] + "..."
		}
	}
	return b.String()
}

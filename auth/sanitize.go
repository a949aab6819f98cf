package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
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

// userHashKey keys UserHash. It is made once per process at random, on
// purpose: a hash without a secret key could be tested offline against a
// dictionary, and a password typed into the user field would leak that
// way. Within one run the same name always gives the same hash, which is
// what an operator needs to tell one mistyped name retried from many
// different names sprayed.
var userHashKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("auth: no randomness for the log key: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return k
})

// UserHash is how a user name is logged when it may be a secret: the
// first 8 hex digits of its HMAC-SHA256 under a per-process random key,
// and its length in bytes. A failed AUTH logs the name this way unless
// the verifier recognized it (a known user with a wrong password): a
// client that types its password into the user field must not have it
// written to the log.
func UserHash(s string) (hash string, length int) {
	m := hmac.New(sha256.New, userHashKey())
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:4]), len(s)
}

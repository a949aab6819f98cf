package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hash algorithms accepted by HashPassword.
const (
	AlgorithmBcrypt   = "bcrypt"
	AlgorithmArgon2id = "argon2id"
)

// BcryptCost is the bcrypt cost HashPassword uses: about 0.2 s per check on
// a current server core, which a submission client pays once per
// connection and a password guesser pays on every guess.
const BcryptCost = 12

// argon2idDefault are the argon2id parameters HashPassword uses: 64 MiB
// and three passes as in RFC 9106 §4's second recommended option, with two
// lanes instead of four to match small servers. It takes about 0.1 s here;
// the memory is what makes guessing expensive on GPUs.
var argon2idDefault = argon2Params{memory: 64 * 1024, time: 3, threads: 2, saltLen: 16, keyLen: 32}

// Bounds for the hashes we accept. A hash in a users file decides how much
// memory and CPU every AUTH attempt for that user costs (and NewStore pays
// once more for the dummy hash), so absurd parameters are refused rather
// than obeyed.
const (
	argon2MaxMemory = 1 << 20 // KiB: 1 GiB
	argon2MaxTime   = 64
	argon2MaxLanes  = 64
	argon2MinSalt   = 8
	argon2MaxSalt   = 64
	argon2MinKey    = 16
	argon2MaxKey    = 64
	// argon2MaxWork caps memory × passes (KiB): about 2 s per check here,
	// against 0.1 s for the defaults.
	argon2MaxWork = 4 << 20
	// bcryptMaxCost: each step doubles the time; 16 is about 3 s per
	// check here. bcrypt itself would accept 31 (days per login).
	bcryptMaxCost = 16
)

// runHashPassword is the advice every refused hash carries.
const runHashPassword = `run "gateway hash-password"`

// HashPassword hashes password with algorithm "bcrypt" (cost BcryptCost;
// "" means bcrypt too) or "argon2id" (PHC string format,
// $argon2id$v=19$m=65536,t=3,p=2$salt$hash). bcrypt only looks at the
// first 72 bytes of a password, so longer passwords are refused for it.
func HashPassword(password, algorithm string) (string, error) {
	return hasher{bcryptCost: BcryptCost, argon: argon2idDefault}.hash(password, algorithm)
}

// hasher holds the parameters of new hashes; tests use cheap ones.
type hasher struct {
	bcryptCost int
	argon      argon2Params
}

func (hs hasher) hash(password, algorithm string) (string, error) {
	if password == "" {
		return "", errors.New("auth: empty password")
	}
	switch strings.ToLower(algorithm) {
	case "", AlgorithmBcrypt:
		if len(password) > 72 {
			return "", errors.New("auth: bcrypt ignores everything after the first 72 bytes of a password; use a shorter password or argon2id")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), hs.bcryptCost)
		if err != nil {
			return "", fmt.Errorf("auth: bcrypt: %w", err)
		}
		return string(h), nil
	case AlgorithmArgon2id:
		return hashArgon2id(password, hs.argon)
	default:
		return "", fmt.Errorf("auth: unknown hash algorithm %q: want %q or %q", SanitizeUser(algorithm), AlgorithmBcrypt, AlgorithmArgon2id)
	}
}

// CheckHashFormat returns nil for a supported password hash: bcrypt
// ($2a$, $2b$, $2y$) or argon2id in PHC string format. Otherwise the error
// says what the value looks like and what to do; it never repeats the
// value, which may be a plain-text password.
func CheckHashFormat(hash string) error {
	_, err := parseHash(hash)
	return err
}

// parsedHash is a validated password hash.
type parsedHash struct {
	bcrypt string        // the whole hash when it is bcrypt
	cost   int           // bcrypt cost
	argon  *argon2Params // set when it is argon2id
	salt   []byte
	key    []byte
}

// scheme names the algorithm and every parameter that decides how long a
// check takes. Hashes with equal schemes cost the same to check.
func (h parsedHash) scheme() string {
	if h.argon != nil {
		return fmt.Sprintf("argon2id m=%d,t=%d,p=%d salt=%d key=%d",
			h.argon.memory, h.argon.time, h.argon.threads, len(h.salt), len(h.key))
	}
	return "bcrypt cost=" + strconv.Itoa(h.cost)
}

// real reports whether h holds a hash (the zero parsedHash does not).
func (h parsedHash) real() bool {
	return h.argon != nil || h.bcrypt != ""
}

func (h parsedHash) check(password string) bool {
	if h.argon != nil {
		p := h.argon
		got := argon2.IDKey([]byte(password), h.salt, p.time, p.memory, p.threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(got, h.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(h.bcrypt), []byte(password)) == nil
}

// dummy returns a hash of a random password with the same scheme as h,
// so that checking an unknown user costs what checking a real one does.
func (h parsedHash) dummy() (string, error) {
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return "", err
	}
	password := hex.EncodeToString(pw[:])
	if h.argon != nil {
		p := *h.argon
		p.saltLen, p.keyLen = len(h.salt), len(h.key)
		return hashArgon2id(password, p)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	return string(b), err
}

// parseHash validates hash and explains what is wrong with it.
func parseHash(hash string) (parsedHash, error) {
	switch {
	case hash == "":
		return parsedHash{}, fmt.Errorf("empty; %s and use its output", runHashPassword)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		// bcrypt.Cost parses the version and cost; the length check catches
		// truncated pastes, which bcrypt would only notice at login time.
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || len(hash) != 60 || hash[6] != '$' || !isBcryptBase64(hash[7:]) {
			return parsedHash{}, fmt.Errorf("malformed bcrypt hash (want 60 characters like $2b$12$…); %s again", runHashPassword)
		}
		if cost > bcryptMaxCost {
			return parsedHash{}, fmt.Errorf("bcrypt cost %d is too high (at most %d): every login would take seconds or more; %s", cost, bcryptMaxCost, runHashPassword)
		}
		return parsedHash{bcrypt: hash, cost: cost}, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		return parseArgon2id(hash)
	}
	return parsedHash{}, errors.New(describeUnsupported(hash))
}

// describeUnsupported says what an unsupported hash value looks like and
// what to do, without quoting it.
func describeUnsupported(hash string) string {
	const advice = "; use bcrypt or argon2id (" + runHashPassword + ")"
	prefixes := []struct{ prefix, name string }{
		{"$2x$", "the buggy bcrypt variant $2x$ is not supported"},
		{"$2$", "the original bcrypt variant $2$ is not supported"},
		{"$argon2i$", "argon2i is not supported (only argon2id)"},
		{"$argon2d$", "argon2d is not supported (only argon2id)"},
		{"$1$", "md5-crypt ($1$) is not supported"},
		{"$apr1$", "Apache md5 ($apr1$) is not supported"},
		{"$5$", "sha256-crypt ($5$) is not supported"},
		{"$6$", "sha512-crypt ($6$) is not supported"},
		{"$y$", "yescrypt ($y$) is not supported"},
		{"$scrypt$", "scrypt is not supported"},
		{"$pbkdf2", "PBKDF2 is not supported"},
		{"{", "a Dovecot/LDAP {SCHEME} password is not supported"},
	}
	for _, p := range prefixes {
		if strings.HasPrefix(hash, p.prefix) {
			return p.name + advice
		}
	}
	if isHex(hash) {
		switch len(hash) {
		case 32:
			return "looks like an unsalted MD5 digest, which is not supported" + advice
		case 40:
			return "looks like an unsalted SHA-1 digest, which is not supported" + advice
		case 64:
			return "looks like an unsalted SHA-256 digest, which is not supported" + advice
		}
	}
	if strings.HasPrefix(hash, "$") {
		return "unknown hash format" + advice
	}
	return "not a bcrypt or argon2id hash (plain-text passwords are refused; " + runHashPassword + ")"
}

// isBcryptBase64 reports whether s uses only bcrypt's base64 alphabet.
func isBcryptBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

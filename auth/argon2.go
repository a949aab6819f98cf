package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the cost parameters of an argon2id hash (RFC 9106 §3.1).
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8  // lanes
	saltLen int
	keyLen  int
}

// phc is the encoding of salt and key in the PHC string format: standard
// base64 without padding.
var phc = base64.RawStdEncoding

// hashArgon2id hashes password with a fresh random salt and encodes the
// result in the PHC string format that libargon2 and Dovecot also use:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key>.
func hashArgon2id(password string, p argon2Params) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, phc.EncodeToString(salt), phc.EncodeToString(key)), nil
}

// parseArgon2id validates a PHC argon2id string. Parameters must appear in
// the canonical order m, t, p (as every implementation writes them) and
// within bounds, since they set the cost of every login for that user.
func parseArgon2id(hash string) (parsedHash, error) {
	bad := func(what string) (parsedHash, error) {
		return parsedHash{}, fmt.Errorf("malformed argon2id hash: %s (want $argon2id$v=19$m=…,t=…,p=…$salt$hash); %s again", what, runHashPassword)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(hash, "$")
	if len(f) != 6 {
		return bad("wrong number of $-separated fields")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version is not v=19")
	}
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return bad("want the three parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok {
			return bad("parameters out of order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + name[:1] + " is not a number")
		}
		vals[i] = n
	}
	p := argon2Params{memory: uint32(vals[0]), time: uint32(vals[1])}
	switch {
	case vals[2] < 1 || vals[2] > argon2MaxLanes:
		return bad(fmt.Sprintf("p must be 1..%d", argon2MaxLanes))
	case vals[1] < 1 || vals[1] > argon2MaxTime:
		return bad(fmt.Sprintf("t must be 1..%d", argon2MaxTime))
	case vals[0] < 8*vals[2] || vals[0] > argon2MaxMemory:
		// RFC 9106 §3.1: at least 8 KiB per lane.
		return bad(fmt.Sprintf("m must be 8*p..%d KiB", argon2MaxMemory))
	case vals[0]*vals[1] > argon2MaxWork:
		return bad(fmt.Sprintf("m*t above %d: every login would take seconds", argon2MaxWork))
	}
	p.threads = uint8(vals[2])
	salt, err := phc.DecodeString(f[4])
	if err != nil || len(salt) < argon2MinSalt || len(salt) > argon2MaxSalt {
		return bad(fmt.Sprintf("salt must be %d..%d bytes of unpadded base64", argon2MinSalt, argon2MaxSalt))
	}
	key, err := phc.DecodeString(f[5])
	if err != nil || len(key) < argon2MinKey || len(key) > argon2MaxKey {
		return bad(fmt.Sprintf("hash must be %d..%d bytes of unpadded base64", argon2MinKey, argon2MaxKey))
	}
	return parsedHash{argon: &p, salt: salt, key: key}, nil
}

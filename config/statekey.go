package config

import (
	"bytes"
	"fmt"
	"os"
)

// MinCacheKeyBytes is the least [state] cache_key_file must hold (auth's
// MinCacheKeyLen; config does not import auth).
const MinCacheKeyBytes = 32

// ReadCacheKey reads [state] cache_key_file: the secret the replicas share
// as the HMAC key of the downstream AUTH success cache. The file's bytes
// are the key, less trailing white space (a newline left by an editor or
// by echo), so `head -c 48 /dev/urandom | base64 > FILE` makes a good one.
func ReadCacheKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read it: %v", err)
	}
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) < MinCacheKeyBytes {
		return nil, fmt.Errorf("%s holds %d bytes, want at least %d random ones; make one with: head -c 48 /dev/urandom | base64 > %s (chmod 600, the same file on every replica)",
			path, len(b), MinCacheKeyBytes, path)
	}
	return b, nil
}

package auth

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Test hashes are cheap on purpose (bcrypt cost 4, argon2id 256 KiB, one
// pass) so that -race stays fast; the production parameters are covered
// by TestHashPasswordRoundTrip and BenchmarkVerifyBcrypt.
var cheapArgon2 = argon2Params{memory: 256, time: 1, threads: 1, saltLen: 16, keyLen: 32}

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	return bcryptHashCost(t, password, bcrypt.MinCost)
}

func bcryptHashCost(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argonHash(t testing.TB, password string) string {
	t.Helper()
	h, err := hashArgon2id(password, cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeUsersFile writes content to a users file in a fresh directory.
func writeUsersFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

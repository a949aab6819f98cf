package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// checkPassword reports whether password matches hash.
func checkPassword(hash, password string) bool {
	h, err := parseHash(hash)
	return err == nil && h.check(password)
}

// cheapHasher makes hashes fast enough for -race.
var cheapHasher = hasher{bcryptCost: 4, argon: cheapArgon2}

func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		algorithm  string
		password   string
		wantScheme string
	}{
		{name: "bcrypt", algorithm: "bcrypt", password: "correct horse", wantScheme: "bcrypt cost=4"},
		{name: "empty algorithm is bcrypt", algorithm: "", password: "pässwörd", wantScheme: "bcrypt cost=4"},
		{name: "bcrypt 72 bytes", algorithm: "bcrypt", password: strings.Repeat("y", 72), wantScheme: "bcrypt cost=4"},
		{name: "argon2id", algorithm: "argon2id", password: "correct horse", wantScheme: "argon2id m=256,t=1,p=1 salt=16 key=32"},
		{name: "argon2id upper case, long password", algorithm: "ARGON2ID", password: strings.Repeat("x", 200), wantScheme: "argon2id m=256,t=1,p=1 salt=16 key=32"},
		{name: "argon2id spaces kept", algorithm: "argon2id", password: " pw ", wantScheme: "argon2id m=256,t=1,p=1 salt=16 key=32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash, err := cheapHasher.hash(tc.password, tc.algorithm)
			if err != nil {
				t.Fatalf("hash: %v", err)
			}
			if strings.Contains(hash, tc.password) {
				t.Errorf("hash %q contains the password", hash)
			}
			h, err := parseHash(hash)
			if err != nil {
				t.Fatalf("parseHash(%q): %v", hash, err)
			}
			if got := h.scheme(); got != tc.wantScheme {
				t.Errorf("scheme = %q, want %q", got, tc.wantScheme)
			}
			if !checkPassword(hash, tc.password) {
				t.Error("right password does not match")
			}
			for _, wrong := range []string{"x" + tc.password, tc.password[:len(tc.password)-1], strings.TrimSpace(tc.password), strings.ToUpper(tc.password)} {
				if wrong != tc.password && checkPassword(hash, wrong) {
					t.Errorf("wrong password %q matches", wrong)
				}
			}
		})
	}
}

// TestHashPasswordDefaults checks the production parameters once per
// algorithm (about 2 s under -race for bcrypt cost 12); checking with
// them is BenchmarkVerifyBcrypt's business.
func TestHashPasswordDefaults(t *testing.T) {
	tests := []struct {
		name       string
		algorithm  string
		wantScheme string
	}{
		{name: "bcrypt", algorithm: "bcrypt", wantScheme: "bcrypt cost=12"},
		{name: "argon2id", algorithm: "argon2id", wantScheme: "argon2id m=65536,t=3,p=2 salt=16 key=32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash, err := HashPassword("correct horse", tc.algorithm)
			if err != nil {
				t.Fatal(err)
			}
			h, err := parseHash(hash)
			if err != nil {
				t.Fatalf("parseHash(%q): %v", hash, err)
			}
			if got := h.scheme(); got != tc.wantScheme {
				t.Errorf("scheme = %q, want %q", got, tc.wantScheme)
			}
		})
	}
}

func TestHashPasswordSaltsDiffer(t *testing.T) {
	a, err := hashArgon2id("same", cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hashArgon2id("same", cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two hashes of one password are equal (%q): salt not random", a)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	tests := []struct {
		name      string
		password  string
		algorithm string
		want      string
	}{
		{name: "empty password", password: "", algorithm: "bcrypt", want: "empty password"},
		{name: "unknown algorithm", password: "pw", algorithm: "md5", want: `unknown hash algorithm "md5"`},
		{name: "bcrypt over 72 bytes", password: strings.Repeat("a", 73), algorithm: "bcrypt", want: "72 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.password, tc.algorithm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("HashPassword = %q, %v; want error containing %q", h, err, tc.want)
			}
		})
	}
}

func TestCheckHashFormat(t *testing.T) {
	good := bcryptHash(t, "pw")
	tests := []struct {
		name string
		hash string
		want string // substring of the error; "" for nil
	}{
		{name: "bcrypt 2b", hash: good},
		{name: "bcrypt 2a", hash: "$2a$" + good[4:]},
		{name: "bcrypt 2y (htpasswd)", hash: "$2y$" + good[4:]},
		{name: "argon2id", hash: argonHash(t, "pw")},
		{name: "argon2id other parameters", hash: "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc"},
		{name: "empty", hash: "", want: "empty"},
		{name: "plain text", hash: "hunter2", want: `not a bcrypt or argon2id hash (plain-text passwords are refused; run "gateway hash-password")`},
		{name: "plain text with dollar", hash: "$ecret", want: "unknown hash format"},
		{name: "md5-crypt", hash: "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", want: "md5-crypt ($1$) is not supported"},
		{name: "apache md5", hash: "$apr1$salt$hash", want: "Apache md5"},
		{name: "sha512-crypt", hash: "$6$rounds=5000$salt$hash", want: "sha512-crypt"},
		{name: "dovecot scheme", hash: "{SSHA}abcdef", want: "{SCHEME}"},
		{name: "unsalted md5 hex", hash: "5f4dcc3b5aa765d61d8327deb882cf99", want: "unsalted MD5"},
		{name: "argon2i", hash: "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", want: "argon2i is not supported"},
		{name: "bcrypt 2x", hash: "$2x$" + good[4:], want: "$2x$"},
		{name: "bcrypt truncated", hash: good[:50], want: "malformed bcrypt hash"},
		{name: "bcrypt bad alphabet", hash: good[:59] + "!", want: "malformed bcrypt hash"},
		{name: "bcrypt cost beyond bcrypt", hash: "$2b$32$" + good[7:], want: "malformed bcrypt hash"},
		{name: "bcrypt cost 16 accepted", hash: "$2b$16$" + good[7:]},
		{name: "bcrypt cost 17 too slow", hash: "$2b$17$" + good[7:], want: "bcrypt cost 17 is too high"},
		{name: "argon2id too much work", hash: "$argon2id$v=19$m=1048576,t=5,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "m*t above"},
		{name: "argon2id wrong version", hash: "$argon2id$v=16$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "version"},
		{name: "argon2id params out of order", hash: "$argon2id$v=19$t=3,m=65536,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "out of order"},
		{name: "argon2id memory too large", hash: "$argon2id$v=19$m=4194304,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "m must be"},
		{name: "argon2id zero lanes", hash: "$argon2id$v=19$m=65536,t=3,p=0$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "p must be"},
		{name: "argon2id short salt", hash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc", want: "salt"},
		{name: "argon2id padded key", hash: "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc=", want: "hash must be"},
		{name: "argon2id missing field", hash: "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA", want: "number of $-separated fields"},
		{name: "garbage", hash: "\x00\xff\x1b[31m", want: "plain-text passwords are refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHashFormat(tc.hash)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckHashFormat: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckHashFormat = %v, want error containing %q", err, tc.want)
			}
			if len(tc.hash) > 4 && strings.Contains(err.Error(), tc.hash) {
				t.Errorf("error %q repeats the value, which may be a password", err)
			}
		})
	}
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{
		"", "hunter2", "$2b$04$abcdefghijklmnopqrstuu", "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$o3Q6DxQYmQk2xCLI9MD/FVVvS9pGmZRwNSEMSbF6GFc",
		"$argon2id$v=19$m=,t=,p=$$", "$1$x$y", "{SSHA}x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			// Errors are built from fixed text only: short, and nothing
			// of a possibly binary (or secret) input in them.
			msg := err.Error()
			if len(msg) > 200 || strings.ContainsFunc(msg, func(r rune) bool { return r < ' ' || r == 0x7f || r == utf8.RuneError }) {
				t.Errorf("error %q for %q is long or holds control bytes", msg, s)
			}
			return
		}
		if !h.real() || h.scheme() == "" {
			t.Errorf("parseHash(%q) accepted but gave %+v", s, h)
		}
	})
}

package auth

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// joined returns the errors inside an errors.Join result.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestNewStoreReportsEveryProblem(t *testing.T) {
	good := bcryptHash(t, "pw")
	users := []User{
		{Name: "ok@example.com", PasswordHash: good},                                         // 0
		{Name: "", PasswordHash: good},                                                       // 1
		{Name: "plain", PasswordHash: "secret123"},                                           // 2
		{Name: "ok@EXAMPLE.COM", PasswordHash: good},                                         // 3: same user, domain case differs
		{Name: "has space", PasswordHash: "$1$x$y"},                                          // 4: two problems
		{Name: "addr", PasswordHash: good, Addresses: []string{"a@example.com", "nodomain"}}, // 5
	}
	file := writeUsersFile(t, strings.Join([]string{
		"# users",
		"",
		"file1:" + good,
		"ok@example.com:" + good,
		"broken line without colon",
		"file2:hunter2",
		"file3:" + good + ":",
		"a:b:c:d",
	}, "\n"))
	_, err := NewStore(users, file)
	if err == nil {
		t.Fatal("NewStore accepted bad users")
	}
	want := []string{
		"auth.user[1].name: empty",
		`auth.user[2].password_hash: not a bcrypt or argon2id hash (plain-text passwords are refused; run "gateway hash-password")`,
		`auth.user[3].name: duplicate user "ok@EXAMPLE.COM" (first defined at auth.user[0])`,
		"auth.user[4].name: contains spaces",
		"auth.user[4].password_hash: md5-crypt",
		`auth.user[5].addresses[1]: want "local@domain" or "@domain"`,
		file + `:4: name: duplicate user "ok@example.com" (first defined at auth.user[0])`,
		file + `:5: want "user:hash" or "user:hash:addr1,addr2", found 1`,
		file + ":6: password_hash: not a bcrypt or argon2id hash",
		file + ":7: empty address list",
		file + `:8: want "user:hash" or "user:hash:addr1,addr2", found 4`,
	}
	errs := joined(err)
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if i < len(errs) && !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
		}
	}
	for _, secret := range []string{"secret123", "hunter2", "broken line"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("errors repeat %q, which may be a password:\n%v", secret, err)
		}
	}
}

func TestUsersFile(t *testing.T) {
	h := bcryptHash(t, "pw")
	tests := []struct {
		name      string
		content   string
		wantUsers int
		wantErr   string // prefix after the file name; "" for none
	}{
		{name: "empty file", content: "", wantUsers: 0},
		{name: "comments and blank lines", content: "# one\n\n   \n# two\n", wantUsers: 0},
		{name: "one user", content: "bob:" + h + "\n", wantUsers: 1},
		{name: "no final newline", content: "bob:" + h, wantUsers: 1},
		{name: "CRLF and BOM", content: "\ufeffbob:" + h + "\r\nann:" + h + "\r\n", wantUsers: 2},
		{name: "spaces around fields", content: "  bob : " + h + " : a@x.example , @y.example \n", wantUsers: 1},
		{name: "addresses", content: "bob:" + h + ":bob@example.com,@example.org\n", wantUsers: 1},
		{name: "indented comment", content: "   # bob:" + h + "\n", wantUsers: 0},
		{name: "bad line number counts comments", content: "# c\n\nbob\n", wantErr: ":3: want"},
		{name: "empty address in list", content: "bob:" + h + ":a@example.com,,b@example.com\n", wantErr: ":1: addresses[1]: empty"},
		{name: "empty name", content: ":" + h + "\n", wantErr: ":1: name: empty"},
		{name: "duplicate within file", content: "bob:" + h + "\nbob:" + h + "\n", wantErr: ":2: name: duplicate user"},
		{name: "control character in name", content: "bo\x1bb:" + h + "\n", wantErr: ":1: name: contains spaces or control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeUsersFile(t, tc.content)
			s, err := NewStore(nil, path)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), path+tc.wantErr) {
					t.Fatalf("NewStore error = %v, want prefix %q", err, path+tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewStore: %v", err)
			}
			if s.Len() != tc.wantUsers {
				t.Errorf("Len = %d, want %d", s.Len(), tc.wantUsers)
			}
		})
	}
}

func TestUsersFileMissing(t *testing.T) {
	_, err := NewStore(nil, "/nonexistent/users.txt")
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "users_file: ") {
		t.Fatalf("NewStore = %v, want a users_file not-exist error", err)
	}
}

func TestStoreVerify(t *testing.T) {
	users := []User{
		{Name: "bob@example.com", PasswordHash: bcryptHash(t, "bobpw")},
		{Name: "cron", PasswordHash: argonHash(t, "cron pw")},
	}
	file := writeUsersFile(t, "ann@example.org:"+argonHash(t, "annpw")+"\n")
	s, err := NewStore(users, file)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		user, pw string
		wantErr  error // nil, errUnknownUser, errWrongPassword, errEmptyPassword
	}{
		{name: "config user bcrypt", user: "bob@example.com", pw: "bobpw"},
		{name: "config user argon2id", user: "cron", pw: "cron pw"},
		{name: "file user", user: "ann@example.org", pw: "annpw"},
		{name: "domain case ignored", user: "bob@EXAMPLE.com", pw: "bobpw"},
		{name: "local part case kept", user: "Bob@example.com", pw: "bobpw", wantErr: errUnknownUser},
		{name: "wrong password", user: "bob@example.com", pw: "bobpw ", wantErr: errWrongPassword},
		{name: "password of another user", user: "bob@example.com", pw: "annpw", wantErr: errWrongPassword},
		{name: "unknown user", user: "eve@example.com", pw: "bobpw", wantErr: errUnknownUser},
		{name: "user name without domain is exact", user: "CRON", pw: "cron pw", wantErr: errUnknownUser},
		{name: "empty password", user: "bob@example.com", pw: "", wantErr: errEmptyPassword},
		{name: "empty user", user: "", pw: "bobpw", wantErr: errEmptyPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Verify(context.Background(), tc.user, tc.pw)
			if err != tc.wantErr {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("Verify error %v does not wrap ErrInvalidCredentials", err)
			}
		})
	}
}

// TestStoreUnknownUserPaysSameKDF checks the timing defence by counting,
// not by clock: every Verify runs the KDF exactly once, and an unknown
// user runs it with the parameters most users have.
func TestStoreUnknownUserPaysSameKDF(t *testing.T) {
	tests := []struct {
		name       string
		users      []User
		wantScheme string
	}{
		{
			name:       "all bcrypt cost 5",
			users:      []User{{Name: "a", PasswordHash: bcryptHashCost(t, "pw", 5)}},
			wantScheme: "bcrypt cost=5",
		},
		{
			name: "mostly argon2id",
			users: []User{
				{Name: "a", PasswordHash: bcryptHash(t, "pw")},
				{Name: "b", PasswordHash: argonHash(t, "pw")},
				{Name: "c", PasswordHash: argonHash(t, "pw")},
			},
			wantScheme: "argon2id m=256,t=1,p=1 salt=16 key=32",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStore(tc.users, "")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var ran []string
			real := s.check
			s.check = func(h parsedHash, pw string) bool {
				mu.Lock()
				ran = append(ran, h.scheme())
				mu.Unlock()
				return real(h, pw)
			}
			known := tc.users[len(tc.users)-1].Name
			_ = s.Verify(context.Background(), known, "wrong")
			_ = s.Verify(context.Background(), "nobody", "wrong")
			if len(ran) != 2 {
				t.Fatalf("KDF ran %d times for two Verify calls, want 2: %q", len(ran), ran)
			}
			if ran[0] != tc.wantScheme || ran[1] != tc.wantScheme {
				t.Errorf("KDF schemes = %q (known user, unknown user), want both %q", ran, tc.wantScheme)
			}
		})
	}
}

func TestStoreVerifyContextDone(t *testing.T) {
	s, err := NewStore([]User{{Name: "a", PasswordHash: bcryptHash(t, "pw")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	for range cap(s.kdfSlots) { // every KDF slot busy
		s.kdfSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Verify(ctx, "a", "pw")
	if err == nil || errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a done context = %v, want a temporary error wrapping context.Canceled", err)
	}
}

func TestStoreReload(t *testing.T) {
	oldHash, newHash := bcryptHash(t, "old"), bcryptHash(t, "new")
	config := []User{{Name: "admin", PasswordHash: bcryptHash(t, "adminpw")}}
	path := writeUsersFile(t, "bob:"+oldHash+"\n")
	s, err := NewStore(config, path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name    string
		content string // "" removes the file
		wantErr string
		good    [][2]string // user, password that must verify afterwards
		bad     [][2]string // that must not
	}{
		{
			name: "broken file keeps old users", content: "bob:" + newHash + "\nann:plaintext\n",
			wantErr: ":2: password_hash",
			good:    [][2]string{{"bob", "old"}, {"admin", "adminpw"}},
			bad:     [][2]string{{"bob", "new"}},
		},
		{
			name: "duplicate of a config user keeps old users", content: "admin:" + newHash + "\n",
			wantErr: `:1: name: duplicate user "admin" (first defined at auth.user[0])`,
			good:    [][2]string{{"bob", "old"}, {"admin", "adminpw"}},
		},
		{
			name: "missing file keeps old users", content: "",
			wantErr: "users_file:",
			good:    [][2]string{{"bob", "old"}},
		},
		{
			name: "good file replaces users", content: "bob:" + newHash + "\nann:" + oldHash + "\n",
			good: [][2]string{{"bob", "new"}, {"ann", "old"}, {"admin", "adminpw"}},
			bad:  [][2]string{{"bob", "old"}},
		},
		{
			name: "removed user is gone", content: "ann:" + oldHash + "\n",
			good: [][2]string{{"ann", "old"}},
			bad:  [][2]string{{"bob", "new"}},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.content == "" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(st.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := s.Reload()
			switch {
			case st.wantErr == "" && err != nil:
				t.Fatalf("Reload: %v", err)
			case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
				t.Fatalf("Reload = %v, want error containing %q", err, st.wantErr)
			}
			for _, g := range st.good {
				if err := s.Verify(ctx, g[0], g[1]); err != nil {
					t.Errorf("Verify(%s) after reload: %v", g[0], err)
				}
			}
			for _, b := range st.bad {
				if err := s.Verify(ctx, b[0], b[1]); err == nil {
					t.Errorf("Verify(%s, %s) succeeded after reload", b[0], b[1])
				}
			}
		})
	}
}

// TestStoreConcurrentReload is for -race: Verify, Owns and Len while the
// users file is reloaded.
func TestStoreConcurrentReload(t *testing.T) {
	path := writeUsersFile(t, "bob:"+bcryptHash(t, "pw")+":bob@example.com\n")
	s, err := NewStore(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if i == 0 {
					if err := s.Reload(); err != nil {
						errs <- err
					}
					continue
				}
				if err := s.Verify(context.Background(), "bob", "pw"); err != nil {
					errs <- err
				}
				if !s.Owns("bob", "bob@example.com") || s.Len() != 1 {
					errs <- errors.New("bob lost during reload")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStoreOwns(t *testing.T) {
	h := bcryptHash(t, "pw")
	s, err := NewStore([]User{
		{Name: "bob@example.com", PasswordHash: h},
		{Name: "shop", PasswordHash: h, Addresses: []string{"orders@shop.example", "@news.example"}},
		{Name: "cron", PasswordHash: h},
		{Name: "ann@example.com", PasswordHash: h, Addresses: []string{"anne@example.com"}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, from string
		want             bool
	}{
		{name: "own address", user: "bob@example.com", from: "bob@example.com", want: true},
		{name: "domain case ignored", user: "bob@example.com", from: "bob@Example.COM", want: true},
		{name: "user name domain case ignored", user: "bob@EXAMPLE.com", from: "bob@example.com", want: true},
		{name: "local part case ignored", user: "bob@example.com", from: "Bob@example.com", want: true},
		{name: "all capitals", user: "bob@example.com", from: "BOB@EXAMPLE.COM", want: true},
		{name: "listed address case ignored", user: "shop", from: "ORDERS@Shop.Example", want: true},
		{name: "other local part", user: "bob@example.com", from: "alice@example.com", want: false},
		{name: "other domain", user: "bob@example.com", from: "bob@example.net", want: false},
		{name: "null sender is nobody's", user: "bob@example.com", from: "", want: false},
		{name: "listed address", user: "shop", from: "orders@shop.example", want: true},
		{name: "unlisted address", user: "shop", from: "info@shop.example", want: false},
		{name: "whole domain", user: "shop", from: "anyone@NEWS.example", want: true},
		{name: "whole domain is not subdomains", user: "shop", from: "x@sub.news.example", want: false},
		{name: "name without domain owns nothing", user: "cron", from: "cron@example.com", want: false},
		{name: "name without domain: null sender is nobody's", user: "cron", from: "", want: false},
		{name: "addresses replace the name", user: "ann@example.com", from: "ann@example.com", want: false},
		{name: "listed instead of name", user: "ann@example.com", from: "anne@example.com", want: true},
		{name: "sender without domain", user: "bob@example.com", from: "bob", want: false},
		{name: "sender with trailing at", user: "bob@example.com", from: "bob@example.com@", want: false},
		{name: "unknown user", user: "eve@example.com", from: "eve@example.com", want: false},
		{name: "unknown user: null sender is nobody's", user: "eve@example.com", from: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Owns(tc.user, tc.from); got != tc.want {
				t.Errorf("Owns(%q, %q) = %v, want %v", tc.user, tc.from, got, tc.want)
			}
		})
	}
}

func TestUserOwnsDelegated(t *testing.T) {
	// A Downstream-verified user is not in a Store; backend asks User.
	tests := []struct {
		name, user, from string
		want             bool
	}{
		{name: "own address", user: "bob@example.com", from: "bob@EXAMPLE.com", want: true},
		{name: "other address", user: "bob@example.com", from: "eve@example.com", want: false},
		{name: "local part case ignored", user: "alice@lab.test", from: "ALICE@LAB.TEST", want: true},
		{name: "bare name", user: "bob", from: "bob@example.com", want: false},
		{name: "IDN domain as U-label and A-label", user: "ana@bücher.example", from: "ana@xn--bcher-kva.example", want: true},
		{name: "IDN domain in upper case", user: "ana@xn--bcher-kva.example", from: "ana@BÜCHER.example", want: true},
		{name: "Cyrillic look-alike stays foreign", user: "ana@example.com", from: "ana@ex\u0430mple.com", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (User{Name: tc.user}).Owns(tc.from); got != tc.want {
				t.Errorf("User{%q}.Owns(%q) = %v, want %v", tc.user, tc.from, got, tc.want)
			}
		})
	}
}

func BenchmarkVerifyBcrypt(b *testing.B) {
	s, err := NewStore([]User{{Name: "bob", PasswordHash: bcryptHashCost(b, "pw", BcryptCost)}}, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if err := s.Verify(ctx, "bob", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStoreDummyAfterReload(t *testing.T) {
	path := writeUsersFile(t, "# nobody yet\n")
	s, err := NewStore(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	real := s.check
	s.check = func(h parsedHash, pw string) bool {
		ran = append(ran, h.scheme())
		return real(h, pw)
	}
	if err := s.Verify(context.Background(), "nobody", "pw"); !errors.Is(err, ErrInvalidCredentials) || len(ran) != 0 {
		t.Fatalf("empty store: Verify = %v after %d KDF runs, want invalid credentials after none", err, len(ran))
	}
	if err := os.WriteFile(path, []byte("bob:"+bcryptHashCost(t, "pw", 5)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), "nobody", "pw"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("Verify = %v, want invalid credentials", err)
	}
	if want := []string{"bcrypt cost=5"}; len(ran) != 1 || ran[0] != want[0] {
		t.Errorf("KDF runs after reload = %q, want %q", ran, want)
	}
}

// FuzzUsersFile: any content parses without panic, every problem names
// its line, and an accepted line yields a usable account.
func FuzzUsersFile(f *testing.F) {
	h := bcryptHash(f, "pw")
	f.Add("bob:" + h + "\n# c\n\nann:" + h + ":a@b.example,@c.example\r\n")
	f.Add("::\n:\n\xef\xbb\xbf#\n")
	f.Add("x:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, content string) {
		set := newAccountSet()
		set.addUsersText("users.txt", []byte(content))
		for _, err := range set.errs {
			if !strings.HasPrefix(err.Error(), "users.txt:") {
				t.Errorf("error %q does not name its line", err)
			}
		}
		for name, acct := range set.accounts {
			if checkName(acct.user.Name) != nil || canonicalName(acct.user.Name) != name || !acct.hash.real() {
				t.Errorf("accepted a bad account %+v", acct)
			}
		}
	})
}

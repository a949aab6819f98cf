package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// Store holds the local users: those of the configuration ([[auth.user]])
// and those of an optional users file, which Reload re-reads. It is safe
// for concurrent use.
//
// User names are looked up exactly, except that the domain of a name that
// is an address is case-insensitive (see Owns). At most GOMAXPROCS (and at
// least two) password checks run at once; further Verify calls wait.
type Store struct {
	usersFile string
	static    []User

	// check runs the password KDF. It is a field so that tests can count
	// which hash parameters each Verify pays for.
	check func(h parsedHash, password string) bool
	// kdfSlots bounds concurrent KDF runs: an argon2id check holds 64 MiB
	// and a bcrypt check a whole core, so a burst of AUTH attempts queues
	// here instead of exhausting memory.
	kdfSlots chan struct{}

	reloadMu sync.Mutex // serializes Reload

	mu       sync.RWMutex
	accounts map[string]account // by canonicalName
	dummy    parsedHash         // checked for unknown users
}

// cloneUsers copies users so that the caller's later changes cannot reach
// a running Store.
func cloneUsers(users []User) []User {
	out := make([]User, len(users))
	for i, u := range users {
		u.Addresses = slices.Clone(u.Addresses)
		out[i] = u
	}
	return out
}

// account is a validated user.
type account struct {
	user User
	hash parsedHash
}

// NewStore validates users (from the configuration) and the users file
// (none when usersFile is "") and returns a Store holding both. It reports
// every problem at once, each naming where it is: "auth.user[2].name: …"
// or "users.txt:14: password_hash: …". User names must be unique across
// both sources.
func NewStore(users []User, usersFile string) (*Store, error) {
	s := &Store{
		usersFile: usersFile,
		static:    cloneUsers(users),
		check:     func(h parsedHash, password string) bool { return h.check(password) },
		kdfSlots:  make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
	accounts, dummy, err := s.load(parsedHash{})
	if err != nil {
		return nil, err
	}
	s.accounts, s.dummy = accounts, dummy
	return s, nil
}

// Reload re-reads the users file (on SIGHUP). On error the users in force
// stay unchanged and the error says what is wrong; on success the new file
// replaces the old one (configuration users are kept as they are).
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.RLock()
	old := s.dummy
	s.mu.RUnlock()
	accounts, dummy, err := s.load(old)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.accounts, s.dummy = accounts, dummy
	s.mu.Unlock()
	return nil
}

// load builds the account table from the configuration users and the
// users file, and a dummy hash for it (reusing old when its scheme still
// fits).
func (s *Store) load(old parsedHash) (map[string]account, parsedHash, error) {
	set := newAccountSet()
	for i, u := range s.static {
		prefix := fmt.Sprintf("auth.user[%d]", i)
		set.add(u, prefix, func(field string) string { return prefix + "." + field })
	}
	if s.usersFile != "" {
		if err := set.addFile(s.usersFile); err != nil {
			set.errs = append(set.errs, err)
		}
	}
	if len(set.errs) > 0 {
		return nil, parsedHash{}, errors.Join(set.errs...)
	}
	dummy, err := dummyFor(set, old)
	if err != nil {
		return nil, parsedHash{}, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return set.accounts, dummy, nil
}

// dummyFor returns a hash of a random password with the scheme most users
// share, so that an unknown user costs what a wrong password costs and
// user names cannot be enumerated by timing. With no users there is
// nothing to enumerate: no dummy is made (Reload makes one when users
// arrive).
func dummyFor(set *accountSet, old parsedHash) (parsedHash, error) {
	var model parsedHash
	best := 0
	counts := map[string]int{}
	for _, name := range set.order {
		h := set.accounts[name].hash
		sc := h.scheme()
		counts[sc]++
		if counts[sc] > best {
			best, model = counts[sc], h
		}
	}
	switch {
	case best == 0:
		return parsedHash{}, nil
	case old.real() && old.scheme() == model.scheme():
		return old, nil
	}
	d, err := model.dummy()
	if err != nil {
		return parsedHash{}, err
	}
	return parseHash(d)
}

// Verify checks username and password. Unknown users and wrong passwords
// both return an error wrapping ErrInvalidCredentials after the same
// amount of KDF work. A done ctx while waiting for a KDF slot returns a
// temporary error.
func (s *Store) Verify(ctx context.Context, username, password string) error {
	if username == "" || password == "" {
		// RFC 4616 §2 forbids both empty; no user can match, so no KDF
		// run is needed to hide anything.
		return errEmptyPassword
	}
	s.mu.RLock()
	acct, known := s.accounts[canonicalName(username)]
	hash := s.dummy
	s.mu.RUnlock()
	if known {
		hash = acct.hash
	} else if !hash.real() {
		return errUnknownUser // an empty Store: see dummyFor
	}

	select {
	case s.kdfSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to check a password: %w", context.Cause(ctx))
	}
	match := s.check(hash, password)
	<-s.kdfSlots

	switch {
	case !known:
		return errUnknownUser
	case !match:
		return errWrongPassword
	}
	return nil
}

// Owns reports whether the local user username may use address as its
// envelope sender (see User.Owns). A user the Store does not hold owns
// nothing.
func (s *Store) Owns(username, address string) bool {
	s.mu.RLock()
	acct, ok := s.accounts[canonicalName(username)]
	s.mu.RUnlock()
	if !ok {
		return false
	}
	return acct.user.Owns(address)
}

// Len returns the number of users in force.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.accounts)
}

// accountSet collects validated accounts and every problem found.
type accountSet struct {
	accounts map[string]account
	where    map[string]string // canonical name → where it was first defined
	order    []string          // canonical names in definition order
	errs     []error
}

func newAccountSet() *accountSet {
	return &accountSet{accounts: map[string]account{}, where: map[string]string{}}
}

// add validates u, defined at pos; key names one of its fields for errors
// ("name", "password_hash", "addresses[1]").
func (set *accountSet) add(u User, pos string, key func(field string) string) {
	bad := false
	fail := func(field string, err error) {
		set.errs = append(set.errs, fmt.Errorf("%s: %w", key(field), err))
		bad = true
	}
	if err := checkName(u.Name); err != nil {
		fail("name", err)
	}
	h, err := parseHash(u.PasswordHash)
	if err != nil {
		fail("password_hash", err)
	}
	for i, a := range u.Addresses {
		if err := checkAddress(a); err != nil {
			fail(fmt.Sprintf("addresses[%d]", i), err)
		}
	}
	name := canonicalName(u.Name)
	if first, dup := set.where[name]; dup {
		fail("name", fmt.Errorf("duplicate user %q (first defined at %s)", SanitizeUser(u.Name), first))
	} else if u.Name != "" {
		// Remembered even when this entry is bad, so that a duplicate is
		// reported in the same run and not after the first fix.
		set.where[name] = pos
	}
	if bad {
		return
	}
	set.order = append(set.order, name)
	set.accounts[name] = account{user: u, hash: h}
}

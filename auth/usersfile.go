package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxUsersFile bounds what addFile reads: far beyond any real users file,
// small enough that a wrong path (a log, a device) fails fast.
const maxUsersFile = 16 << 20

// addFile reads a users file into set. The format is one account per
// line, "user:hash" or "user:hash:addr1,addr2"; blank lines and lines
// starting with '#' are skipped; a Windows BOM and CRLF line ends are
// accepted. Each bad line adds an error "file:line: field: problem" to
// set.errs; the returned error is for a file that cannot be read at all.
func (set *accountSet) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("users_file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUsersFile+1))
	if err != nil {
		return fmt.Errorf("users_file: %s: %w", path, err)
	}
	if len(data) > maxUsersFile {
		return fmt.Errorf("users_file: %s: larger than %d bytes", path, maxUsersFile)
	}
	set.addUsersText(path, data)
	return nil
}

// addUsersText parses the contents of a users file named name.
func (set *accountSet) addUsersText(name string, data []byte) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i, raw := range strings.Split(string(data), "\n") {
		pos := fmt.Sprintf("%s:%d", name, i+1)
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		u, err := parseUserLine(line)
		if err != nil {
			set.errs = append(set.errs, fmt.Errorf("%s: %w", pos, err))
			continue
		}
		set.add(u, pos, func(field string) string { return pos + ": " + field })
	}
}

// parseUserLine splits one users file line into a User; add validates
// the fields. Errors never quote the line: it may hold a password.
func parseUserLine(line string) (User, error) {
	f := strings.Split(line, ":")
	if len(f) != 2 && len(f) != 3 {
		return User{}, fmt.Errorf(`want "user:hash" or "user:hash:addr1,addr2", found %d ":"-separated fields`, len(f))
	}
	u := User{Name: strings.TrimSpace(f[0]), PasswordHash: strings.TrimSpace(f[1])}
	if len(f) == 3 {
		list := strings.TrimSpace(f[2])
		if list == "" {
			return User{}, errors.New(`empty address list after the second ":"; remove the ":" or list addresses`)
		}
		for _, a := range strings.Split(list, ",") {
			u.Addresses = append(u.Addresses, strings.TrimSpace(a))
		}
	}
	return u, nil
}

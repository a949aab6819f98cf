package auth

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// maxPasswordLine bounds ReadPassword's line, like the SASL fields a
// client can send.
const maxPasswordLine = maxField

// ReadPassword reads one password for "gateway hash-password". From a
// terminal it prompts on out and reads without echo, twice, so that a
// typo does not end up hashed; from anything else (a pipe, a file) it
// reads one line. The line end (LF or CRLF) is removed, nothing else:
// spaces may be part of a password. An empty password is refused.
func ReadPassword(in io.Reader, out io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := promptNoEcho(f, out, "Password: ")
		if err != nil {
			return "", err
		}
		again, err := promptNoEcho(f, out, "Retype password: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("auth: the passwords differ")
		}
		return checkReadPassword(first)
	}
	line, err := readLine(in)
	if err != nil {
		return "", err
	}
	return checkReadPassword(line)
}

func promptNoEcho(f *os.File, out io.Writer, prompt string) (string, error) {
	fmt.Fprint(out, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(out) // the user's Enter was not echoed either
	if err != nil {
		return "", fmt.Errorf("auth: reading password: %w", err)
	}
	return string(b), nil
}

// readLine reads up to the first LF a byte at a time, so nothing after
// the line is consumed from in. End of input ends the line too.
func readLine(in io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := in.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(line) == maxPasswordLine+1 {
				return "", fmt.Errorf("auth: password longer than %d bytes", maxPasswordLine)
			}
			line = append(line, b[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("auth: reading password: %w", err)
		}
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return string(line), nil
}

func checkReadPassword(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("auth: empty password")
	case len(p) > maxPasswordLine:
		return "", fmt.Errorf("auth: password longer than %d bytes", maxPasswordLine)
	}
	return p, nil
}

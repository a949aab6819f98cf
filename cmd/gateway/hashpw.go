package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/smtpgateway/gateway/auth"
)

// hashPassword reads a password (without echo on a terminal) and prints
// the hash to paste into [[auth.user]] password_hash or a users_file.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	algo := fs.String("algorithm", "bcrypt", "bcrypt or argon2id")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pw, err := auth.ReadPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gateway hash-password: %v\n", err)
		return 1
	}
	h, err := auth.HashPassword(pw, *algo)
	if err != nil {
		fmt.Fprintf(stderr, "gateway hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

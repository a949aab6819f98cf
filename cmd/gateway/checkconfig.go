package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/smtpgateway/gateway/config"
)

// checkConfig validates a file as deeply as serve would (without opening
// anything) and prints the effective configuration with secrets masked.
// Without -config it prints the embedded lab default as a file to start
// from (-mx and -submission as for serve).
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file to check (default: print the embedded lab default as a file to start from)")
	var lab labAddrs
	lab.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway check-config: unexpected argument %q; the file goes after -config\n", fs.Arg(0))
		return 2
	}
	if err := lab.check(*path); err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 2
	}
	if *path == "" {
		return printEmbedded(lab, stdout, stderr)
	}
	chk, err := config.Check(*path)
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 1
	}
	cfg := chk.Config
	if cfg != nil {
		// What serve would build, from whatever could be read, so that
		// its findings (password hashes, check names, certificates...)
		// come in the same run as the file's own problems.
		built, err := build(cfg, buildOptions{dryRun: true})
		if err != nil {
			chk.Add(err)
		} else if chk.Err() == nil {
			for _, w := range built.warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
			for _, p := range placeholders(cfg) {
				fmt.Fprintf(stderr, "warning: %s\n", p)
			}
		}
	}
	if err := chk.Err(); err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %s is not valid:\n%v\n", *path, config.MaskURLPasswords(indent(err)))
		return 1
	}
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid. Effective configuration (defaults filled in, secrets masked):\n%s", *path, out)
	return 0
}

// printEmbedded writes the embedded default, with a password generated
// now for its lab user, as a file on stdout, and the password on stderr
// (the file holds only its hash).
func printEmbedded(lab labAddrs, stdout, stderr io.Writer) int {
	pass, hash, err := labPassword()
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 1
	}
	doc := config.EmbeddedTOML(hash, lab.mx, lab.submission)
	// What serve would run from this file; it is checked like any file.
	if _, err := config.Parse([]byte(doc), "embedded default"); err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, doc)
	fmt.Fprintf(stderr, "gateway check-config: no -config, so this is the embedded lab default as a file to start from (save it, then: gateway serve -config FILE);\n"+
		"  its submission login: user %q password %q (generated now; \"gateway hash-password\" makes a hash for another)\n", config.LabUser, pass)
	return 0
}

func indent(err error) string {
	return "  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
}

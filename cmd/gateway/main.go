// Command gateway is a receiving SMTP gateway: it sits on port 25 (and the
// submission ports) in front of an existing mail server, enforces HELO/EHLO
// policy and SMTP AUTH, and relays accepted mail downstream without a queue
// of its own.
//
//	gateway [serve] [-config FILE | -mx ADDRESS -submission ADDRESS] [-dns SERVERS]
//	                                     run (without -config: the embedded lab default)
//	gateway check-config [-config FILE]  validate and print the effective configuration
//	                                     (without -config: print the embedded default as a file)
//	gateway check-helo [-config FILE] [-ip ADDRESS] [-json] [-auth] [-helo] [-dns SERVERS] NAME
//	gateway helo-report [-profile NAME] [-json] [-top N] [LOGFILE...]
//	gateway hash-password [-algorithm bcrypt|argon2id]
//	gateway version
//	gateway help                         list the commands (also -h, --help)
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a verb and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	verb := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		verb, args = args[0], args[1:]
	} else if len(args) > 0 && isHelpFlag(args[0]) {
		// "gateway -h" asks about the command, not only about serve
		// ("gateway serve -h" lists serve's flags).
		verb = "help"
	}
	switch verb {
	case "serve":
		return serve(args, stdout, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "check-helo":
		return checkHELO(args, stdout, stderr)
	case "helo-report":
		return heloReport(args, stdin, stdout, stderr)
	case "hash-password":
		return hashPassword(args, stdin, stdout, stderr)
	case "queue":
		return queueCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "gateway: unknown command %q\n\n", verb)
	usage(stderr)
	return 2
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  gateway [serve] [-config FILE | -mx ADDRESS -submission ADDRESS] [-dns SERVERS]
        Run the gateway. Without -config it runs the embedded lab default:
        loopback only, mail for any recipient into ./maildir, listening on
        127.0.0.1:2525 (mx) and 127.0.0.1:2587 (submission), or on the
        loopback addresses -mx and -submission give.
  gateway check-config [-config FILE]
        Validate FILE and print the effective configuration (secrets masked);
        every problem is listed at once. Without -config print the embedded
        default as a file to start from (-mx and -submission as for serve).
  gateway check-helo [-config FILE] [-ip ADDRESS] [-json] [-auth] [-helo] [-dns SERVERS] NAME
        Run every HELO check on NAME exactly as the server would and explain
        the result. Exit status 0: accepted, 1: refused.
  gateway helo-report [-profile NAME] [-json] [-top N] [LOGFILE...]
        Read the gateway's log (text or JSON; standard input without LOGFILE)
        and tell, per profile, which sessions it would have refused: by check,
        the top client addresses and HELO names, and the fix for each.
        Exit status 0: done, 1: unreadable verdict lines or none, 2: usage.
  gateway hash-password [-algorithm bcrypt|argon2id]
        Read a password from standard input and print a hash for the config.
  gateway queue list|show|flush|delete [-config FILE | -dir DIR] [-json] [ID...]
        Inspect the spool of queue/hybrid mode ([queue] dir), make messages
        due now (flush; no ID: all) or remove them without a DSN (delete),
        safely while the gateway runs. "gateway queue" lists the forms.
  gateway version
        Print the version.
  gateway help
        Print this list (also gateway -h). "gateway VERB -h" lists a command's flags.
`)
}

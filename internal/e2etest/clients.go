package e2etest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds one run of an external client; its own protocol
// timeout (30 s) is shorter, so this only catches a hang.
const clientTimeout = 60 * time.Second

// Swaks runs swaks with args and returns its whole transcript (stdout and
// stderr) and exit code. It adds "--timeout 30" unless args set a timeout.
// swaks reports failures through the exit code (23: MAIL refused, 24: no
// RCPT accepted, 25: DATA refused, 26: message refused after the final dot,
// 28: AUTH failed, 29: TLS failed; see swaks --help, EXIT CODES) and prints
// server replies on lines starting "<- " ("<~ " inside TLS), errors as
// "<** " ("<~* "). It calls Require(t,
// "swaks").
func Swaks(t testing.TB, args ...string) (output string, exitCode int) {
	t.Helper()
	Require(t, "swaks")
	if !hasFlag(args, "--timeout", "-timeout") {
		args = append(args, "--timeout", "30")
	}
	return runClient(t, "swaks", args...)
}

// Python runs python3 -c script with args as sys.argv[1:] and returns its
// stdout and stderr and exit code. It calls Require(t, "python3").
func Python(t testing.TB, script string, args ...string) (output string, exitCode int) {
	t.Helper()
	Require(t, "python3")
	return runClient(t, "python3", append([]string{"-c", script}, args...)...)
}

// Curl runs curl with args and returns its stdout and stderr and exit code.
// It adds "--max-time 30" unless args set one. It calls Require(t, "curl").
func Curl(t testing.TB, args ...string) (output string, exitCode int) {
	t.Helper()
	Require(t, "curl")
	if !hasFlag(args, "--max-time", "-m") {
		args = append(args, "--max-time", "30")
	}
	return runClient(t, "curl", args...)
}

// hasFlag reports whether args contain one of flags, alone or as
// "flag=value".
func hasFlag(args []string, flags ...string) bool {
	for _, a := range args {
		for _, f := range flags {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

// runClient runs name with args, stdin from /dev/null (so a client that
// wants to prompt gets EOF instead of hanging), bounded by clientTimeout.
func runClient(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: no exit within %v; output:\n%s", name, strings.Join(args, " "), clientTimeout, out)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && exit.Exited():
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v; output:\n%s", name, strings.Join(args, " "), err, out)
		return "", -1
	}
}

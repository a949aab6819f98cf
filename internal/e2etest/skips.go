package e2etest

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// skipped counts the tests Require skipped in this test process and why,
// for the one line Main prints at the end. Package state like build, for
// the same reason: Require and Main share nothing else.
var skipped struct {
	sync.Mutex
	n       int
	reasons map[string]bool
}

func recordSkip(reason string) {
	skipped.Lock()
	defer skipped.Unlock()
	skipped.n++
	if skipped.reasons == nil {
		skipped.reasons = map[string]bool{}
	}
	for _, r := range strings.Split(reason, "; ") {
		skipped.reasons[r] = true
	}
}

// skipNotice is the line Main prints when Require skipped tests: how many
// and what is missing, so that "ok gateway/e2e" does not pass for a run of
// the end-to-end tests. "" when nothing was skipped.
func skipNotice(n int, reasons []string) string {
	if n == 0 {
		return ""
	}
	rs := append([]string(nil), reasons...)
	sort.Strings(rs)
	tests := "tests"
	if n == 1 {
		tests = "test"
	}
	return fmt.Sprintf("e2etest: %d end-to-end %s SKIPPED: %s (%s=1 makes a missing tool fail)",
		n, tests, strings.Join(rs, "; "), EnvE2E)
}

// echoToGo reports whether the notice must also be written to the go
// command's own standard error. go test shows a passing package's output
// only with -v (a package list run buffers it and prints "ok" alone), so a
// line on the test's stderr would go unseen. Not when verbose (the output
// is shown), not when the test's stderr is that very file already (the
// binary run by hand), and only into a terminal, pipe or socket: into a
// regular file the go command writes at its own offset, which would
// overwrite an appended line.
func echoToGo(verbose bool, self, goStderr os.FileInfo) bool {
	if verbose || goStderr == nil {
		return false
	}
	if self != nil && os.SameFile(self, goStderr) {
		return false
	}
	return goStderr.Mode()&(os.ModeCharDevice|os.ModeNamedPipe|os.ModeSocket) != 0
}

// notifySkips prints skipNotice on stderr and, where go test would hide
// it, on the go command's stderr (Linux: the parent's descriptor 2 in
// /proc).
func notifySkips() {
	skipped.Lock()
	n := skipped.n
	var reasons []string
	for r := range skipped.reasons {
		reasons = append(reasons, r)
	}
	skipped.Unlock()
	line := skipNotice(n, reasons)
	if line == "" {
		return
	}
	fmt.Fprintln(os.Stderr, line)
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", os.Getppid()), os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	self, _ := os.Stderr.Stat()
	parent, _ := f.Stat()
	if echoToGo(testing.Verbose(), self, parent) {
		fmt.Fprintln(f, line)
	}
}

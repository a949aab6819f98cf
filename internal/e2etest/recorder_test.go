package e2etest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// recorder is a testing.TB that records failures and skips instead of
// acting on them, so tests can check what the harness reports. Fatal and
// skip end the goroutine like the real ones, so code under test runs in
// recorder.run. Cleanups are kept and run by runCleanups, not by the real
// test; everything else goes to the real test.
type recorder struct {
	testing.TB

	mu       sync.Mutex
	errors   []string
	logs     []string
	skip     string
	cleanups []func()
}

func newRecorder(t testing.TB) *recorder { return &recorder{TB: t} }

// run calls f on a new goroutine and waits for it to return or to end
// through Fatal or Skip.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Logf keeps the message: the harness logs output when a test failed, and
// here failing is the expected outcome.
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skip = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errors) > 0
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// runCleanups runs the recorded cleanups, last first, as testing does.
func (r *recorder) runCleanups() {
	r.mu.Lock()
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		r.run(fs[i])
	}
}

// failures returns the recorded failure messages.
func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// skipped returns the recorded skip message.
func (r *recorder) skipped() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skip
}

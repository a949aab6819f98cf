package e2etest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/syncbuf"
)

// HAProxy is Debian's haproxy started by a test in the foreground with a
// configuration file and environment of the test's, stopped at the end.
type HAProxy struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// StartHAProxy checks cfgPath (haproxy -c), starts haproxy with env (the
// "${VAR}" values the file uses) and waits until every address in
// waitAddrs accepts TCP connections (at most 10s). Without haproxy (in
// PATH or /usr/sbin, outside a non-root PATH) the test is skipped, or
// fails under GATEWAY_E2E=1 (Require).
func StartHAProxy(t testing.TB, cfgPath string, env []string, waitAddrs ...string) *HAProxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			Require(t, "haproxy")
		}
	}
	cfgPath, _ = filepath.Abs(cfgPath)
	check := exec.Command(bin, "-c", "-f", cfgPath)
	check.Env = append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", cfgPath, err, out)
	}
	h := &HAProxy{out: &syncbuf.Buffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	h.cmd.Env = append(os.Environ(), env...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	h.cmd.WaitDelay = 5 * time.Second
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", h.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range waitAddrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-h.done:
				t.Fatalf("haproxy exited: %v\n%s", h.cmd.ProcessState, h.out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy: %s not accepting after 10s: %v\n%s", addr, err, h.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return h
}

// Logs returns what haproxy wrote (its connection log, warnings).
func (h *HAProxy) Logs() string { return h.out.String() }

package e2etest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a private redis-server started by a test on a loopback port,
// without persistence. Stop and Start keep its address.
type Redis struct {
	addr string
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts redis-server on a free 127.0.0.1 port and stops it
// when the test ends. Without redis-server the test is skipped, or fails
// under GATEWAY_E2E=1 (Require).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	Require(t, "redis-server")
	r := &Redis{addr: FreeAddr(t, "127.0.0.1"), dir: t.TempDir()}
	r.Start(t)
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Addr is host:port.
func (r *Redis) Addr() string { return r.addr }

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// Start starts the server (again) on its address and waits until it
// accepts connections (at most 10s).
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			t.Fatalf("redis-server on %s not ready after 10s: %v\n%s", r.addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: as if it crashed; also ends a Pause)
// and waits for it.
func (r *Redis) Stop(t testing.TB) {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Pause stops the server with SIGSTOP: connections stay open and nothing
// answers, as with a Redis stalled by a long command or a slow network.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("redis-server: SIGSTOP: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("redis-server: SIGCONT: %v", err)
	}
}

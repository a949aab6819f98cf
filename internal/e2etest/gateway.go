package e2etest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/syncbuf"
)

// Bounds for the gateway process.
const (
	buildTimeout        = 5 * time.Minute  // a cold -race build of the module
	gatewayReadyTimeout = 30 * time.Second // start-up hashes a bcrypt dummy: 3.3 s of CPU with -race, over 10 s on a loaded CI (two replicas)
	gatewayStopTimeout  = 15 * time.Second // draining included
	gatewayRunTimeout   = 60 * time.Second
)

// EnvGatewayBin names a prebuilt gateway binary to use instead of building
// ./cmd/gateway, e.g. when CI builds it once for several test packages.
const EnvGatewayBin = "GATEWAY_E2E_BIN"

// Race reports whether the tests (and so the gateway they build) run under
// the race detector, whose shadow memory roughly doubles a process's RSS.
func Race() bool { return raceEnabled }

// raceReport is what the race detector prints when it finds a data race.
const raceReport = "WARNING: DATA RACE"

// build is the one gateway build of this test process. It is package state
// on purpose: every test of the process shares the binary, and sync.Once is
// the only way to share it without a TestMain; Main removes it.
var build struct {
	once sync.Once
	dir  string // temporary directory holding the binary
	path string
	err  error
}

// BuildGateway returns the path of the gateway binary: $GATEWAY_E2E_BIN if
// set, else the result of `go build -o TMP/gateway ./cmd/gateway` run once
// per test process in the module root (found by walking up from the working
// directory to go.mod). When the tests run with -race, so is the gateway
// built, and StartGateway fails a test whose gateway reported a data race.
// A failed build fails every caller with the compiler's output.
func BuildGateway(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvGatewayBin); bin != "" {
		return bin
	}
	build.once.Do(func() {
		build.path, build.err = buildGateway()
	})
	if build.err != nil {
		t.Fatalf("BuildGateway: %v", build.err)
	}
	return build.path
}

func buildGateway() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gateway-e2e-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	bin := filepath.Join(dir, "gateway")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/gateway")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), root, err, out)
	}
	return bin, nil
}

// moduleRoot returns the nearest directory at or above dir holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod in %s or above", dir)
		}
	}
}

// Main runs the tests, removes the gateway binary BuildGateway built and,
// when Require skipped tests, prints one line saying how many and what is
// missing, visible without -v (see echoToGo). Use it from TestMain, or the
// binary stays in $TMPDIR:
//
//	func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	notifySkips()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	return code
}

// Gateway is a running `gateway serve` process started by StartGateway.
type Gateway struct {
	cmd    *exec.Cmd
	dir    string
	config string
	out    *syncbuf.Buffer
	done   chan struct{} // closed once the process is reaped
	waited atomic.Bool   // the test observed the exit through Wait

	stopTimeout time.Duration // how long the cleanup waits after SIGTERM
}

// StartGateway writes configTOML to Dir()/config.toml, runs `gateway serve
// -config Dir()/config.toml` in Dir() with stdout and stderr captured, and
// waits until every one of waitAddrs accepts TCP connections. A cleanup
// sends SIGTERM and requires exit code 0 within a bound (then SIGKILL), and
// fails the test if the gateway exited on its own without the test calling
// Wait, or reported a data race; when the test failed, it logs the output.
func StartGateway(t testing.TB, configTOML string, waitAddrs ...string) *Gateway {
	t.Helper()
	return startGateway(t, BuildGateway(t), configTOML, waitAddrs...)
}

func startGateway(t testing.TB, bin, configTOML string, waitAddrs ...string) *Gateway {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(configTOML), 0o600); err != nil {
		t.Fatalf("StartGateway: %v", err)
	}
	return startProcess(t, bin, dir, config, []string{"serve", "-config", config}, waitAddrs)
}

// StartGatewayArgs is StartGateway for a command line of the test's own
// (e.g. "serve" without -config: the embedded default), run in Dir(), a
// new empty directory; ConfigPath() is "". The same cleanup applies.
func StartGatewayArgs(t testing.TB, args []string, waitAddrs ...string) *Gateway {
	t.Helper()
	return startProcess(t, BuildGateway(t), t.TempDir(), "", args, waitAddrs)
}

func startProcess(t testing.TB, bin, dir, config string, args, waitAddrs []string) *Gateway {
	t.Helper()
	g := &Gateway{dir: dir, config: config, out: &syncbuf.Buffer{}, done: make(chan struct{}), stopTimeout: gatewayStopTimeout}
	g.cmd = exec.Command(bin, args...)
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	// Its own process group: a ^C meant for go test reaches the test
	// binary, which then stops the gateway through the cleanup.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.WaitDelay = 5 * time.Second
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("StartGateway: %v", err)
	}
	go func() {
		_ = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() { g.cleanup(t) })
	for _, addr := range waitAddrs {
		if err := g.waitListening(addr); err != nil {
			t.Fatalf("StartGateway: %v; output:\n%s", err, g.Logs())
		}
	}
	return g
}

// waitListening polls until the gateway holds a socket listening on addr
// that accepts a TCP connection, the process exits, or gatewayReadyTimeout
// passes.
func (g *Gateway) waitListening(addr string) error {
	deadline := time.Now().Add(gatewayReadyTimeout)
	pid := g.cmd.Process.Pid
	for {
		select {
		case <-g.done:
			return fmt.Errorf("gateway exited (%v) before %s accepted connections", g.cmd.ProcessState, addr)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			// Another process may hold the port (then the gateway fails
			// to bind and exits).
			owned, oerr := listenerOwnedBy(addr, pid)
			if owned {
				return nil
			}
			err = fmt.Errorf("%s accepts connections, but not from the gateway (pid %d): %v", addr, pid, oerr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %v: %v", addr, gatewayReadyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanup stops the gateway if it runs and reports what the process
// contract forbids.
func (g *Gateway) cleanup(t testing.TB) {
	t.Helper()
	select {
	case <-g.done:
		if !g.waited.Load() {
			t.Errorf("gateway exited during the test (%v)", g.cmd.ProcessState)
		}
	default:
		_ = g.Signal(syscall.SIGTERM)
		code, err := g.Wait(g.stopTimeout)
		switch {
		case err != nil:
			_ = g.cmd.Process.Kill()
			<-g.done
			t.Errorf("gateway after SIGTERM: %v; killed", err)
		case code != 0:
			t.Errorf("gateway exited %d after SIGTERM, want 0", code)
		}
	}
	if strings.Contains(g.Logs(), raceReport) {
		t.Errorf("the gateway reported a data race")
	}
	if t.Failed() {
		t.Logf("gateway output:\n%s", g.Logs())
	}
}

// Logs returns everything the gateway wrote to stdout and stderr so far.
func (g *Gateway) Logs() string { return g.out.String() }

// Dir returns the gateway's working directory, which holds config.toml.
func (g *Gateway) Dir() string { return g.dir }

// ConfigPath returns the path of the config file the gateway was started
// with.
func (g *Gateway) ConfigPath() string { return g.config }

// Pid returns the gateway's process ID.
func (g *Gateway) Pid() int { return g.cmd.Process.Pid }

// WaitLog polls the gateway's output until a line contains substr and
// returns that line (without newline); after timeout it fails the test with
// the output.
func (g *Gateway) WaitLog(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if line, ok := findLine(g.Logs(), substr); ok {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("Gateway.WaitLog: no line containing %q after %v; output:\n%s", substr, timeout, g.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findLine returns the first complete line of s containing substr. A line
// still being written (no newline yet) is not considered, so a caller never
// sees half a log record.
func findLine(s, substr string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	complete := strings.HasSuffix(s, "\n")
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if !complete && len(lines) > 0 {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return l, true
		}
	}
	return "", false
}

// Signal sends sig to the gateway process.
func (g *Gateway) Signal(sig os.Signal) error { return g.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the gateway to exit and returns its exit
// code. err is non-nil when it did not exit in time or was killed by a
// signal (then exitCode is -1).
func (g *Gateway) Wait(timeout time.Duration) (exitCode int, err error) {
	select {
	case <-g.done:
	case <-time.After(timeout):
		return -1, fmt.Errorf("gateway did not exit within %v", timeout)
	}
	g.waited.Store(true)
	ps := g.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("gateway killed by signal %v", ws.Signal())
	}
	return ps.ExitCode(), nil
}

// RunGateway runs a one-shot gateway verb (check-config, check-helo,
// version, hash-password ...) with args, stdin from /dev/null, in the
// test's working directory (so testdata/ paths work), bounded by a minute.
func RunGateway(t testing.TB, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runGateway(t, BuildGateway(t), nil, args...)
}

// RunGatewayStdin is RunGateway with stdin as standard input, e.g. a
// password for hash-password.
func RunGatewayStdin(t testing.TB, stdin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runGateway(t, BuildGateway(t), &stdin, args...)
}

func runGateway(t testing.TB, bin string, stdin *string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gatewayRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(*stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gateway %s: no exit within %v; stderr:\n%s", strings.Join(args, " "), gatewayRunTimeout, stderr.String())
	}
	if strings.Contains(stderr.String(), raceReport) {
		t.Errorf("gateway %s reported a data race:\n%s", strings.Join(args, " "), stderr.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit) && exit.Exited():
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("gateway %s: %v; stderr:\n%s", strings.Join(args, " "), err, stderr.String())
		return "", "", -1
	}
}

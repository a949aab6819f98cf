package e2etest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildFake builds testdata/fakegateway, a stand-in that follows (or,
// when told, breaks) the gateway's process contract.
func buildFake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakegateway")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/fakegateway").CombinedOutput()
	if err != nil {
		t.Fatalf("building fake gateway: %v\n%s", err, out)
	}
	return bin
}

// TestGatewayContract runs the fake gateway through startGateway and its
// cleanup, and shows which behaviours the cleanup reports.
func TestGatewayContract(t *testing.T) {
	bin := buildFake(t)
	tests := []struct {
		name     string
		config   string // after the listen line
		stopWait time.Duration
		wantFail string // substring of the cleanup's failures; "" means none
	}{
		{name: "exit 0 on SIGTERM passes", wantFail: ""},
		{name: "exit 3 on SIGTERM fails", config: `on_sigterm = "exit3"`, wantFail: "exited 3 after SIGTERM, want 0"},
		{name: "ignoring SIGTERM fails and is killed", config: `on_sigterm = "ignore"`, stopWait: 300 * time.Millisecond,
			wantFail: "did not exit within 300ms; killed"},
		{name: "data race report fails", config: `log = "WARNING: DATA RACE"`, wantFail: "reported a data race"},
		{name: "exit during the test fails", config: `exit_after = "1"`, wantFail: "exited during the test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := FreeAddr(t, "127.0.0.1")
			r := newRecorder(t)
			var g *Gateway
			r.run(func() {
				g = startGateway(r, bin, `listen = "`+addr+`"`+"\n"+tc.config+"\n", addr)
				if tc.stopWait > 0 {
					g.stopTimeout = tc.stopWait
				}
				g.WaitLog(r, "msg=listening", 5*time.Second)
				if strings.Contains(tc.config, "exit_after") {
					select {
					case <-g.done:
					case <-time.After(10 * time.Second):
					}
				}
			})
			if g == nil {
				t.Fatalf("startGateway failed: %q", r.failures())
			}
			r.runCleanups()
			if got := strings.Join(r.failures(), "\n"); !contains(got, tc.wantFail) {
				t.Errorf("failures = %q, want containing %q", got, tc.wantFail)
			}
			if err := syscall.Kill(g.Pid(), 0); err == nil {
				t.Errorf("gateway %d still running after cleanup", g.Pid())
			}
		})
	}
}

// TestGatewayAPI drives a well-behaved fake gateway through the methods a
// test uses.
func TestGatewayAPI(t *testing.T) {
	bin := buildFake(t)
	addr := FreeAddr(t, "127.0.0.1")
	config := `listen = "` + addr + `"` + "\n" + `log = "level=INFO msg=ready conn=7"` + "\n"
	g := startGateway(t, bin, config, addr)

	if line := g.WaitLog(t, "msg=ready", 5*time.Second); line != "level=INFO msg=ready conn=7" {
		t.Errorf("WaitLog = %q, want the whole line", line)
	}
	b, err := os.ReadFile(filepath.Join(g.Dir(), "config.toml"))
	if err != nil || string(b) != config || g.ConfigPath() != filepath.Join(g.Dir(), "config.toml") {
		t.Errorf("config file = %q (%v) at %s, want %q in Dir()", b, err, g.ConfigPath(), config)
	}
	if err := g.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := g.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Errorf("Wait after SIGTERM = %d, %v; want 0, nil", code, err)
	}
	if !strings.Contains(g.Logs(), "msg=stopped") {
		t.Errorf("Logs lack the shutdown line:\n%s", g.Logs())
	}
}

func TestRunGateway(t *testing.T) {
	bin := buildFake(t)
	stdin := "s3cret\n"
	tests := []struct {
		name       string
		stdin      *string
		args       []string
		wantStdout string
		wantStderr string
		wantCode   int
	}{
		{name: "stdout and exit 0", args: []string{"version"}, wantStdout: "fakegateway 1.0\n"},
		{name: "stdin, stderr and exit code", stdin: &stdin, args: []string{"echo-stdin"},
			wantStdout: "stdin=\"s3cret\\n\"\n", wantStderr: "echoed\n", wantCode: 4},
		{name: "no stdin reads empty", args: []string{"echo-stdin"}, wantStdout: "stdin=\"\"\n", wantStderr: "echoed\n", wantCode: 4},
		{name: "usage error", args: []string{"frobnicate"}, wantStderr: "unknown verb \"frobnicate\"\n", wantCode: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runGateway(t, bin, tc.stdin, tc.args...)
			if stdout != tc.wantStdout || stderr != tc.wantStderr || code != tc.wantCode {
				t.Errorf("runGateway(%q) = %q, %q, %d; want %q, %q, %d",
					tc.args, stdout, stderr, code, tc.wantStdout, tc.wantStderr, tc.wantCode)
			}
		})
	}
}

func TestFindLine(t *testing.T) {
	tests := []struct {
		name, logs, substr, want string
		found                    bool
	}{
		{"first matching line", "a=1\nmsg=x b=2\nmsg=x b=3\n", "msg=x", "msg=x b=2", true},
		{"no match", "a=1\n", "msg=x", "", false},
		{"unfinished line is not seen", "a=1\nmsg=x b=", "msg=x", "", false},
		{"empty logs", "", "x", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found := findLine(tc.logs, tc.substr)
			if got != tc.want || found != tc.found {
				t.Errorf("findLine = %q, %v; want %q, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestModuleRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "mod", "internal", "e2etest")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "mod", "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, want string
		wantErr          bool
	}{
		{name: "from a package dir", from: deep, want: filepath.Join(root, "mod")},
		{name: "from the root", from: filepath.Join(root, "mod"), want: filepath.Join(root, "mod")},
		{name: "outside any module", from: root, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := moduleRoot(tc.from)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("moduleRoot(%s) = %q, %v; want %q, error %v", tc.from, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestHasFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"absent", []string{"--to", "a@b"}, false},
		{"alone", []string{"--timeout", "5"}, true},
		{"with value", []string{"--timeout=5"}, true},
		{"single dash", []string{"-timeout", "5"}, true},
		{"as a value is still seen", []string{"--body", "--timeout"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasFlag(tc.args, "--timeout", "-timeout"); got != tc.want {
				t.Errorf("hasFlag(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

// TestBuildGatewayPrebuilt shows GATEWAY_E2E_BIN replaces the build (the
// build itself compiles ./cmd/gateway, which this package's tests leave to
// the e2e tests).
func TestBuildGatewayPrebuilt(t *testing.T) {
	t.Setenv(EnvGatewayBin, "/opt/prebuilt/gateway")
	if got := BuildGateway(t); got != "/opt/prebuilt/gateway" {
		t.Errorf("BuildGateway = %q, want the %s path", got, EnvGatewayBin)
	}
}

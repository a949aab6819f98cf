package e2etest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// EnvE2E is the environment variable that turns a missing tool from a skip
// into a failure. CI sets GATEWAY_E2E=1 so that an incomplete machine fails
// loudly instead of passing by skipping every end-to-end test.
const EnvE2E = "GATEWAY_E2E"

// tool describes what Require checks for one tool name and what to install.
type tool struct {
	binaries []string // every one must be found in PATH
	install  string   // the hint shown when one is missing
}

// lookupTool returns the requirement for a tool name Require accepts.
func lookupTool(name string) (tool, bool) {
	switch name {
	case "postfix":
		return tool{[]string{"postfix", "postconf", "postqueue"}, "apt-get install postfix"}, true
	case "swaks":
		return tool{[]string{"swaks"}, "apt-get install swaks libnet-ssleay-perl libauthen-sasl-perl"}, true
	case "python3":
		return tool{[]string{"python3"}, "apt-get install python3"}, true
	case "curl":
		return tool{[]string{"curl"}, "apt-get install curl"}, true
	case "fail2ban-regex":
		return tool{[]string{"fail2ban-regex"}, "apt-get install fail2ban"}, true
	case "docker-compose":
		return tool{[]string{"docker-compose"}, "apt-get install docker-compose"}, true
	case "systemd":
		return tool{[]string{"systemd-analyze", "systemd-sysusers", "setpriv"}, "apt-get install systemd util-linux"}, true
	case "haproxy":
		return tool{[]string{"haproxy"}, "apt-get install haproxy"}, true
	case "redis-server":
		return tool{[]string{"redis-server", "redis-cli"}, "apt-get install redis-server"}, true
	}
	return tool{}, false
}

// Require skips t, with a message naming what to install, when one of tools
// is missing from PATH (Main counts the skips and prints one line naming
// what was missing); when GATEWAY_E2E=1 it fails t instead. Tools are
// "postfix", "swaks", "python3", "curl", "fail2ban-regex",
// "docker-compose", "systemd" (systemd-analyze, systemd-sysusers,
// setpriv), "haproxy" and "redis-server" (redis-server, redis-cli). "postfix" also requires running as root and Postfix ≥
// 3.4, because a private instance needs both.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, name := range tools {
		if why := check(name); why != "" {
			missing = append(missing, why)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := strings.Join(missing, "; ")
	if os.Getenv(EnvE2E) == "1" {
		t.Fatalf("%s (%s=1, so missing tools fail the test)", msg, EnvE2E)
	}
	recordSkip(msg)
	t.Skip(msg)
}

// check returns why tool name is unusable, or "" when it is usable.
func check(name string) string {
	tl, ok := lookupTool(name)
	if !ok {
		return fmt.Sprintf("e2etest.Require: unknown tool %q", name)
	}
	for _, bin := range tl.binaries {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("needs %s (%s)", name, tl.install)
		}
	}
	if name != "postfix" {
		return ""
	}
	if os.Geteuid() != 0 {
		return "needs root to run a private postfix instance (run the tests as root)"
	}
	out, err := exec.Command("postconf", "-d", "-h", "mail_version").Output()
	if err != nil {
		return fmt.Sprintf("needs a working postfix: postconf -d mail_version: %v", err)
	}
	if !versionAtLeast(strings.TrimSpace(string(out)), 3, 4) {
		return fmt.Sprintf("needs postfix >= 3.4 for maillog_file, have %s", strings.TrimSpace(string(out)))
	}
	return ""
}

// versionAtLeast reports whether a dotted version such as "3.7.11" is at
// least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	gotMajor, err1 := strconv.Atoi(parts[0])
	gotMinor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}

// FreeAddr returns "ip:PORT" for a TCP port that was free on ip a moment ago
// (the kernel picked it for a listener that was then closed). Another
// process may take it before the caller binds it; StartPostfix retries on
// that race, other callers should keep the window short.
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("FreeAddr: listen on %s: %v", ip, err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("FreeAddr: close %s: %v", addr, err)
	}
	return addr
}

package e2e

// The systemd recipe as written (issue 16): contrib/systemd's unit runs the
// gateway as the system user of contrib/systemd/gateway.sysusers, and
// ExecStartPre runs check-config as that user, so the TLS key must be
// readable by it. Setup: the user created by systemd-sysusers in a
// scratch root (its uid and gid, not added to this machine), the
// certificate installed by contrib/certbot/gateway-deploy-hook as certbot
// runs it. Proof: check-config as that uid/gid (setpriv) passes with the
// key the hook installed and fails with "permission denied" on a
// root-owned 0600 key (what the old recipe had); a renewal through the
// hook reaches a running gateway (new TLS sessions get the new
// certificate).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
	"github.com/smtpgateway/gateway/internal/testcert"
)

// openDir makes a directory every user may traverse (t.TempDir's parent
// is 0700, so another uid could not reach what is inside).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gateway-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sysusersIDs runs systemd-sysusers on the contrib file in a scratch root
// and returns the uid and gid it gave the user "gateway".
func sysusersIDs(t *testing.T) (uid, gid int) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs("../contrib/systemd/gateway.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-sysusers", "--root="+root, file).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == "gateway" {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			if uid == 0 || gid == 0 || f[6] != "/usr/sbin/nologin" {
				t.Fatalf("sysusers made %q", l)
			}
			return uid, gid
		}
	}
	t.Fatalf("no gateway user in:\n%s", passwd)
	return 0, 0
}

// deployHook runs contrib/certbot/gateway-deploy-hook the way certbot
// does (RENEWED_LINEAGE), with the TLS directory and group of the test.
// systemd is not PID 1 in CI containers, so "systemctl" is a stand-in
// that does what the unit's ExecReload does: kill -HUP the main PID (pid
// 0: nothing runs yet). It returns what systemctl was called with.
func deployHook(t *testing.T, lineage, tlsDir string, gid, pid int) string {
	t.Helper()
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	shim := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nif [ %d -ne 0 ]; then kill -HUP %d; fi\n", calls, pid, pid)
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../contrib/certbot/gateway-deploy-hook")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "RENEWED_LINEAGE="+lineage,
		"GATEWAY_TLS_DIR="+tlsDir, "GATEWAY_GROUP="+strconv.Itoa(gid))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy hook: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(calls)
	return strings.TrimSpace(string(got))
}

// wantMode checks a file's mode and owner.
func wantMode(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func TestSystemdRecipeServiceUserReadsKey(t *testing.T) {
	e2etest.Require(t, "systemd")
	if os.Geteuid() != 0 {
		t.Skip("needs root: files owned by root and another group, setpriv to that user")
	}
	uid, gid := sysusersIDs(t)
	root := openDir(t)
	lineage := filepath.Join(root, "live") // certbot's /etc/letsencrypt/live/NAME, root only
	tlsDir := filepath.Join(root, "etc", "gateway", "tls")
	for _, d := range []string{lineage, filepath.Dir(tlsDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(lineage, 0o700)
	testcert.New(t, "first-issue", gwHost).WriteFiles(t, filepath.Join(lineage, "fullchain.pem"), filepath.Join(lineage, "privkey.pem"))

	if calls := deployHook(t, lineage, tlsDir, gid, 0); calls != "reload gateway.service" {
		t.Errorf("the hook called systemctl %q, want \"reload gateway.service\"", calls)
	}
	wantMode(t, tlsDir, 0o750, 0, gid)
	wantMode(t, filepath.Join(tlsDir, "privkey.pem"), 0o640, 0, gid)
	wantMode(t, filepath.Join(tlsDir, "fullchain.pem"), 0o644, 0, gid)

	// The binary where the service user can run it, the configuration
	// root:gateway 0640 as the unit's install steps put it.
	bin := filepath.Join(root, "gateway")
	data, err := os.ReadFile(e2etest.BuildGateway(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	subs := e2etest.FreeAddr(t, "127.0.0.1")
	hash := hashPassword(t, password)
	config := func(keyFile string) string {
		p := filepath.Join(root, "etc", "gateway", "config-"+filepath.Base(filepath.Dir(keyFile))+".toml")
		text := fmt.Sprintf(`hostname = "mx.recipe-e2e.net"
local_domains = ["recipe-e2e.net"]
[[listener]]
name = "submissions"
address = %q
kind = "submissions"
[tls]
cert_file = %q
key_file = %q
[relay]
downstream = "maildir:%s"
[[auth.user]]
name = "alice@recipe-e2e.net"
password_hash = %q
`, subs, filepath.Join(tlsDir, "fullchain.pem"), keyFile, filepath.Join(root, "maildir"), hash)
		if err := os.WriteFile(p, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asService := func(cfg string) (string, int) {
		cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(gid), "--clear-groups",
			bin, "check-config", "-config", cfg)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("setpriv: %v", err)
		}
		return string(out), 0
	}
	good := config(filepath.Join(tlsDir, "privkey.pem"))
	if out, code := asService(good); code != 0 || !strings.Contains(out, "is valid") {
		t.Errorf("check-config as the service user (ExecStartPre) with the hook's key: exit %d\n%s", code, out)
	}

	// The old recipe: a root-owned 0600 key. The service user cannot
	// read it, and check-config says so.
	rootOnly := filepath.Join(root, "rootonly", "privkey.pem")
	os.MkdirAll(filepath.Dir(rootOnly), 0o755)
	key, _ := os.ReadFile(filepath.Join(lineage, "privkey.pem"))
	if err := os.WriteFile(rootOnly, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := asService(config(rootOnly)); code != 1 || !strings.Contains(out, "permission denied") {
		t.Errorf("check-config as the service user with a root-only key: exit %d, want 1 and \"permission denied\"\n%s", code, out)
	}

	// Renewal: certbot writes a new lineage, the hook installs it and
	// reloads; new TLS sessions get the new certificate.
	g := e2etest.StartGatewayArgs(t, []string{"serve", "-config", good}, subs)
	if cn := peerCN(t, subs); cn != "first-issue" {
		t.Fatalf("certificate before renewal: %q", cn)
	}
	testcert.New(t, "renewed", gwHost).WriteFiles(t, filepath.Join(lineage, "fullchain.pem"), filepath.Join(lineage, "privkey.pem"))
	deployHook(t, lineage, tlsDir, gid, g.Pid())
	g.WaitLog(t, "msg=reloaded", 10*time.Second)
	if cn := peerCN(t, subs); cn != "renewed" {
		t.Errorf("certificate after the hook: %q, want renewed\n%s", cn, g.Logs())
	}
	wantMode(t, filepath.Join(tlsDir, "privkey.pem"), 0o640, 0, gid)
}

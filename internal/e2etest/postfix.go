package e2etest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds for the Postfix life cycle. Generous, because a loaded 2-core CI
// machine running several test binaries can be slow; none is a speed
// assertion.
const (
	postfixReadyTimeout = 20 * time.Second
	postfixStopTimeout  = 10 * time.Second
	postfixPortAttempts = 3
	postfixCmdTimeout   = 30 * time.Second
)

// Postfix is a private Postfix instance started by StartPostfix. Its methods
// must be called from the test goroutine.
type Postfix struct {
	opts      PostfixOptions
	l         layout
	addr      string
	daemonDir string
	version   string

	master *exec.Cmd     // nil when stopped
	done   chan struct{} // closed when master has been reaped
	out    *os.File      // master's stdout and stderr
	ready  bool          // smtpd answered on addr since the last start
}

// StartPostfix starts a private Postfix instance configured by o and waits
// until its smtpd answers 220 on Addr(). A cleanup stops it and ends every
// process it started; when the test failed, the cleanup logs the tail of the
// instance's maillog. StartPostfix calls Require(t, "postfix").
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	Require(t, "postfix")
	o = o.withDefaults()
	id, err := lookupIDs()
	if err != nil {
		t.Fatalf("StartPostfix: %v", err)
	}
	root := t.TempDir()
	if err := makeReachable(root); err != nil {
		t.Fatalf("StartPostfix: %v", err)
	}
	p := &Postfix{opts: o, l: newLayout(root)}
	if err := p.prepare(t, id); err != nil {
		t.Fatalf("StartPostfix: %v", err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stopping postfix %s: %v", p.addr, err)
		}
		if t.Failed() {
			t.Logf("postfix %s maillog (tail):\n%s", p.addr, tail(p.readLog(), 40))
		}
	})
	for attempt := 1; ; attempt++ {
		p.addr = FreeAddr(t, "127.0.0.1")
		if err := writeConfig(filepath.Join(p.l.conf, "master.cf"), masterCF(p.addr), 0o644); err != nil {
			t.Fatalf("StartPostfix: %v", err)
		}
		err := p.start(t)
		if err == nil {
			return p
		}
		// Another process may have bound the port between FreeAddr and
		// master(8); try another one.
		if errors.Is(err, syscall.EADDRINUSE) && attempt < postfixPortAttempts {
			t.Logf("StartPostfix: %v; retrying on another port", err)
			continue
		}
		t.Fatalf("StartPostfix: %v", err)
	}
}

// Addr returns the "127.0.0.1:PORT" address of the instance's smtpd.
func (p *Postfix) Addr() string { return p.addr }

// Hostname returns the instance's myhostname: its greeting name and the
// "by" host of the Received header it adds.
func (p *Postfix) Hostname() string { return p.opts.Hostname }

// Dir returns the directory holding the instance's configuration (etc),
// queue, data, maildirs (mail) and maillog.
func (p *Postfix) Dir() string { return p.l.root }

// Stop stops the instance: SIGTERM to master(8), which terminates its
// daemons, then SIGKILL by PID for any daemon still alive after a bound, and
// waits until Addr() refuses connections. Stopping a stopped instance does
// nothing.
func (p *Postfix) Stop(t testing.TB) {
	t.Helper()
	if err := p.stop(); err != nil {
		t.Fatalf("Postfix.Stop: %v", err)
	}
}

// Start starts a stopped instance again on the same address, with the same
// queue and maildirs, and waits until it answers 220.
func (p *Postfix) Start(t testing.TB) {
	t.Helper()
	if p.master != nil {
		t.Fatalf("Postfix.Start: %s is already running", p.addr)
	}
	if err := p.start(t); err != nil {
		t.Fatalf("Postfix.Start: %v", err)
	}
}

// Log returns the instance's maillog (maillog_file written by postlogd(8)).
func (p *Postfix) Log(t testing.TB) string {
	t.Helper()
	return p.readLog()
}

func (p *Postfix) readLog() string {
	b, err := os.ReadFile(p.l.maillog)
	if err != nil {
		return ""
	}
	return string(b)
}

// QueueIsEmpty reports whether the instance's queue holds no message
// (incoming, active, deferred or hold), as listed by postqueue -j. It works
// while the instance is stopped too.
func (p *Postfix) QueueIsEmpty(t testing.TB) bool {
	t.Helper()
	out, err := p.postqueue("-j")
	if err != nil {
		t.Fatalf("Postfix.QueueIsEmpty: %v", err)
	}
	return strings.TrimSpace(out) == ""
}

// WaitQueueEmpty polls until the queue is empty, failing the test with the
// queue listing and the log tail after timeout. virtual(8) writes the
// maildir file before qmgr(8) removes the queue file, so a message can be in
// the maildir and still in the queue for a moment.
func (p *Postfix) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.QueueIsEmpty(t) {
		if time.Now().After(deadline) {
			out, err := p.postqueue("-p")
			if err != nil {
				out = err.Error()
			}
			t.Fatalf("Postfix.WaitQueueEmpty: queue of %s not empty after %v:\n%s\nmaillog (tail):\n%s",
				p.addr, timeout, out, tail(p.readLog(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Postcat returns what postcat(1) shows of the queue file of queueID:
// its envelope records (sender, recipients with their DSN NOTIFY and
// ORCPT, RET, ENVID, SMTPUTF8 flags) and content. The message must still
// be queued: e.g. on hold (ExtraMainCF "smtpd_client_restrictions":
// "check_client_access static:HOLD").
func (p *Postfix) Postcat(t testing.TB, queueID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), postfixCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "postcat", "-c", p.l.conf, "-v", "-q", queueID).CombinedOutput()
	if err != nil {
		t.Fatalf("Postfix.Postcat %s: %v\n%s", queueID, err, out)
	}
	return string(out)
}

// postqueue runs postqueue(1) against this instance and returns its
// stdout. Its stderr is not part of the listing: while the instance is
// stopped, postqueue warns there that it reads the queue directly.
func (p *Postfix) postqueue(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), postfixCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "postqueue", append([]string{"-c", p.l.conf}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("postqueue %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// prepare creates the instance's directories and configuration files.
func (p *Postfix) prepare(t testing.TB, id ids) error {
	l := p.l
	if err := os.Mkdir(l.conf, 0o755); err != nil {
		return err
	}
	// The version decides compatibility_level; ask with -c so that no
	// /etc/postfix/main.cf is needed (Debian's "No configuration").
	vals, err := postconf(l.conf, "-d", "-h", "mail_version", "daemon_directory")
	if err != nil {
		return err
	}
	if len(vals) != 2 {
		return fmt.Errorf("postconf -d: want 2 values, got %q", vals)
	}
	p.version, p.daemonDir = vals[0], vals[1]
	compat := "2"
	if versionAtLeast(p.version, 3, 6) {
		compat = "3.6"
	}
	if err := makeQueue(l, id); err != nil {
		return err
	}
	for _, d := range []string{l.data, l.mail} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, id.mailUID, id.mailGID); err != nil {
			return err
		}
	}
	main, err := mainCF(p.opts, l, id, compat)
	if err != nil {
		return err
	}
	access, err := accessTable(p.opts.RejectRecipients, p.opts.TempRejectRecipients)
	if err != nil {
		return err
	}
	files := map[string]string{
		filepath.Join(l.conf, "main.cf"): main,
		l.access:                         access,
		l.mailboxes:                      mailboxTable(p.opts.Domains),
		// Written now so that postconf below can check it; StartPostfix
		// rewrites it with the real port.
		filepath.Join(l.conf, "master.cf"): masterCF("127.0.0.1:25"),
	}
	if p.opts.TLS {
		key, cert, err := selfSigned(p.opts.Hostname)
		if err != nil {
			return err
		}
		files[l.tlsKey], files[l.tlsCert] = string(key), string(cert)
	}
	for path, content := range files {
		// Daemons read tables after dropping root; only the key is private.
		mode := os.FileMode(0o644)
		if path == l.tlsKey {
			mode = 0o600
		}
		if err := writeConfig(path, content, mode); err != nil {
			return err
		}
	}
	// postconf warns about parameters it does not know (typos in
	// ExtraMainCF) whatever it is asked; -n would also do, but computes
	// every default, which costs seconds without DNS.
	ctx, cancel := context.WithTimeout(context.Background(), postfixCmdTimeout)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "postconf", "-c", l.conf, "-h", "mail_version")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("postconf: %v: %s", err, stderr.String())
	}
	if w := strings.TrimSpace(stderr.String()); w != "" {
		t.Logf("StartPostfix: %s", w)
	}
	return nil
}

// start runs master(8) in the foreground as a child of the test process and
// waits for the 220 greeting.
func (p *Postfix) start(t testing.TB) error {
	out, err := os.OpenFile(filepath.Join(p.l.root, "master.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// -s keeps master in the foreground (no -w daemon); it still calls
	// setsid(), so the daemons share its session ID. -e ends a master the
	// test process failed to stop (killed by go test's timeout) a while
	// after the test's deadline.
	args := []string{"-c", p.l.conf, "-s", "-e", strconv.Itoa(exitAfter(t))}
	cmd := exec.Command(filepath.Join(p.daemonDir, "master"), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting master: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.master, p.done, p.out = cmd, done, out
	if err := p.waitReady(); err != nil {
		_ = p.stop()
		return err
	}
	p.ready = true
	return nil
}

// exitAfter is master's -e exit time in seconds: a minute past the test
// binary's deadline, or an hour without one.
func exitAfter(t testing.TB) int {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			if s := int(time.Until(dl).Seconds()) + 60; s > 60 {
				return s
			}
			return 60
		}
	}
	return 3600
}

// waitReady polls Addr() until smtpd sends a 220 greeting (RFC 5321 §4.2)
// on a socket master holds, master exits, or the bound passes.
func (p *Postfix) waitReady() error {
	deadline := time.Now().Add(postfixReadyTimeout)
	pid := p.master.Process.Pid
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return p.startFailure(fmt.Errorf("master exited (%v) before %s answered", p.master.ProcessState, p.addr), true)
		default:
		}
		last = greet(p.addr, p.done)
		if last == nil {
			// The greeting may have come from another process that took
			// the port first; then master fails to bind and exits.
			owned, err := listenerOwnedBy(p.addr, pid)
			if owned {
				return nil
			}
			last = fmt.Errorf("%s answered, but master %d does not hold it (%v)", p.addr, pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p.startFailure(fmt.Errorf("no 220 greeting from %s within %v: %v", p.addr, postfixReadyTimeout, last), false)
}

// greet connects to addr, expects a 220 greeting and says QUIT. It gives up
// when abort is closed, so a listener that never speaks cannot hold it.
func greet(addr string, abort <-chan struct{}) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-abort:
			conn.Close()
		case <-finished:
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading greeting: %v", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return nil
}

// startFailure adds what can be learnt about a failed start to err. master(8)
// logs its own fatal errors (a busy port, a bad parameter value) through
// postlogd, which is not running yet at that point, so they are lost; the
// harness checks the port itself (only once master is gone, since it holds
// the port while running) and has postfix(1) check the configuration.
func (p *Postfix) startFailure(err error, exited bool) error {
	if exited {
		if ln, lerr := net.Listen("tcp", p.addr); lerr != nil {
			if errors.Is(lerr, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: %s is in use by another process", syscall.EADDRINUSE, p.addr)
			}
		} else {
			ln.Close()
		}
	}
	out, _ := os.ReadFile(filepath.Join(p.l.root, "master.out"))
	return fmt.Errorf("%v\nmaster output:\n%s\nmaillog (tail):\n%s\n%s",
		err, tail(string(out), 20), tail(p.readLog(), 20), configCheck(p.l.conf))
}

// configCheck runs "postfix check" for a failed start. Postfix programs
// write errors to stderr only when it is a terminal (otherwise to syslog,
// which a test machine may not have), so it runs under script(1) for a
// pseudo-terminal when that is installed (Debian: bsdutils, essential).
func configCheck(conf string) string {
	if _, err := exec.LookPath("script"); err != nil {
		return "(install script(1) to see `postfix check` output here)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), postfixCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "script", "-qec", "postfix -c '"+conf+"' check", "/dev/null").CombinedOutput()
	return fmt.Sprintf("postfix -c %s check: %v\n%s", conf, errOrOK(err), out)
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// stop ends master and every daemon of its session, then waits until the
// port refuses connections.
func (p *Postfix) stop() error {
	if p.master == nil {
		return nil
	}
	defer func() {
		p.master, p.ready = nil, false
		p.out.Close()
	}()
	pid := p.master.Process.Pid
	var errs []error
	// SIGTERM: master sends SIGTERM to its process group and exits
	// (master(8) "Signals").
	_ = p.master.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(postfixStopTimeout):
		_ = p.master.Process.Kill()
		<-p.done
		errs = append(errs, fmt.Errorf("master %d ignored SIGTERM for %v; killed", pid, postfixStopTimeout))
	}
	if err := reapSession(pid, postfixStopTimeout); err != nil {
		errs = append(errs, err)
	}
	// Only a port this instance held must become free: after a failed
	// start it may belong to someone else.
	if p.ready {
		if err := waitRefused(p.addr, postfixStopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitRefused polls until a TCP connection to addr is refused.
func waitRefused(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		} else {
			conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still accepts connections %v after stop", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postconf runs postconf(1) with -c conf and returns its output lines.
func postconf(conf string, args ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), postfixCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "postconf", append([]string{"-c", conf}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("postconf %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.Fields(string(out)), nil
}

// writeConfig writes a configuration file dated a minute ago. Postfix
// reads a file modified within the last second or so repeatedly, sleeping
// 300 ms between reads, until it has stopped changing (a guard against
// half-written files), which would add two seconds to every start.
func writeConfig(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	past := time.Now().Add(-time.Minute)
	return os.Chtimes(path, past, past)
}

// lookupIDs finds the numeric IDs of mail_owner and setgid_group.
func lookupIDs() (ids, error) {
	u, err := user.Lookup(mailOwner)
	if err != nil {
		return ids{}, fmt.Errorf("mail_owner: %v (is postfix installed?)", err)
	}
	g, err := user.LookupGroup(setgidGroup)
	if err != nil {
		return ids{}, fmt.Errorf("setgid_group: %v (is postfix installed?)", err)
	}
	var id ids
	for _, c := range []struct {
		s   string
		dst *int
	}{{u.Uid, &id.mailUID}, {u.Gid, &id.mailGID}, {g.Gid, &id.setgidGID}} {
		n, err := strconv.Atoi(c.s)
		if err != nil {
			return ids{}, fmt.Errorf("non-numeric id %q", c.s)
		}
		*c.dst = n
	}
	return id, nil
}

// queueDirs are the queue subdirectories from Postfix's postfix-files,
// with owner and mode. Creating them here instead of running post-install
// (via "postfix start" or "postfix check") saves about 1.5 s per instance.
var queueDirs = []struct {
	name   string
	setgid bool // group is setgid_group instead of root
	mode   os.FileMode
}{
	{"active", false, 0o700},
	{"bounce", false, 0o700},
	{"corrupt", false, 0o700},
	{"defer", false, 0o700},
	{"deferred", false, 0o700},
	{"flush", false, 0o700},
	{"hold", false, 0o700},
	{"incoming", false, 0o700},
	{"private", false, 0o700},
	{"saved", false, 0o700},
	{"trace", false, 0o700},
	{"maildrop", true, 0o730},
	{"public", true, 0o710},
}

// makeQueue creates queue_directory: root-owned with a root-owned pid
// directory, the rest owned by mail_owner.
func makeQueue(l layout, id ids) error {
	if err := os.Mkdir(l.queue, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(l.queue, "pid"), 0o755); err != nil {
		return err
	}
	for _, d := range queueDirs {
		path := filepath.Join(l.queue, d.name)
		if err := os.Mkdir(path, d.mode); err != nil {
			return err
		}
		gid := 0
		if d.setgid {
			gid = id.setgidGID
		}
		if err := os.Chown(path, id.mailUID, gid); err != nil {
			return err
		}
		// Mkdir applies the umask; the modes above are exact.
		if err := os.Chmod(path, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// makeReachable lets the postfix user reach dir: t.TempDir() creates its
// parent with mode 0700, but virtual(8) writes the maildir and postlogd the
// maillog after dropping root. It adds search (x) permission for others to
// that parent and checks the ancestors above it.
func makeReachable(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	fi, err := os.Stat(parent)
	if err != nil {
		return err
	}
	if err := os.Chmod(parent, fi.Mode().Perm()|0o011); err != nil {
		return err
	}
	for p := filepath.Dir(parent); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postfix user cannot reach %s: %s has mode %v; point TMPDIR at a world-searchable directory such as /tmp", dir, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

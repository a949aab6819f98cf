package e2e

// Scale-out (issue 15): Debian's HAProxy with contrib/haproxy/haproxy.cfg
// in front of two gateway replicas that share a redis-server, everything
// on loopback. Clients bind to 127.0.0.x so each test has addresses of
// its own.

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

type scaleOut struct {
	dns     *dnstest.Server
	postfix *e2etest.Postfix
	redis   *e2etest.Redis
	gws     [2]*e2etest.Gateway
	haproxy *e2etest.HAProxy
	mx, sub string // HAProxy's frontends
}

// logs is both replicas' output.
func (s *scaleOut) logs() string { return s.gws[0].Logs() + "\n" + s.gws[1].Logs() }

// setupScaleOut starts DNS, Postfix, Redis, two replicas with mx and
// submission listeners behind PROXY v2 and [state] redis, and HAProxy with
// the contrib configuration. extra is TOML appended to both replicas'.
func setupScaleOut(t *testing.T, extra string, top ...string) *scaleOut {
	t.Helper()
	e2etest.Require(t, "postfix", "swaks")
	s := &scaleOut{dns: dnstest.Start(t), redis: e2etest.StartRedis(t)}
	s.postfix = e2etest.StartPostfix(t, e2etest.PostfixOptions{Domains: []string{"example.com", "example.org", "remote-e2e.net"}})
	hash := hashPassword(t, password)
	env := []string{}
	for i := range s.gws {
		mx := e2etest.FreeAddr(t, "127.0.0.1")
		sub := e2etest.FreeAddr(t, "127.0.0.1")
		metrics := e2etest.FreeAddr(t, "127.0.0.1")
		proxy := "proxy_protocol = true\nproxy_trusted = [\"127.0.0.1\"]\n"
		o := opts{
			mx: mx, dns: s.dns.Addr(), downstream: "smtp://" + s.postfix.Addr(), top: strings.Join(top, ""),
			listeners: proxy + fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n%s", sub, proxy),
			extra: fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\naddresses = [%q]\n", user, hash, user) +
				fmt.Sprintf("[metrics]\naddress = %q\n[state]\nredis = %q\nkey_prefix = \"e2e:\"\n", metrics, s.redis.URL()) +
				// 1s, not the default 50ms: on a loaded CI machine (-race)
				// a slow round trip would be a spurious outage (a fallback
				// and a WARN) that every test here would see as a wrong
				// count. A killed Redis refuses at once either way; the
				// timeout itself: state.TestSlowRedisFallsBack.
				"timeout = \"1s\"\n" + extra,
		}
		s.gws[i] = e2etest.StartGateway(t, o.toml(), mx, sub)
		_, mport, _ := net.SplitHostPort(metrics)
		env = append(env, fmt.Sprintf("GW%d_MX=%s", i+1, mx), fmt.Sprintf("GW%d_SUB=%s", i+1, sub), fmt.Sprintf("GW%d_METRICS_PORT=%s", i+1, mport))
	}
	s.mx = e2etest.FreeAddr(t, "127.0.0.1")
	s.sub = e2etest.FreeAddr(t, "127.0.0.1")
	env = append(env, "MX_BIND="+s.mx, "SUB_BIND="+s.sub)
	s.haproxy = e2etest.StartHAProxy(t, "../contrib/haproxy/haproxy.cfg", env, s.mx, s.sub)
	s.waitUp(t, 0, 1)
	return s
}

// waitUp waits (at most 15s) until HAProxy's health checks see replicas
// idx up: each replica has logged a connection through HAProxy... which
// the checks do not make, so it asks HAProxy's log instead.
func (s *scaleOut) waitUp(t *testing.T, idx ...int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		logs := s.haproxy.Logs()
		up := true
		for _, i := range idx {
			// HAProxy logs "is UP" only on a change; servers start UP
			// unless a check failed, so "is DOWN" without a later "is UP"
			// is what to wait out.
			name := fmt.Sprintf("gw%d", i+1)
			if d := strings.LastIndex(logs, name+" is DOWN"); d >= 0 && strings.LastIndex(logs, name+" is UP") < d {
				up = false
			}
		}
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas %v not up in HAProxy after 15s:\n%s", idx, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// authTry opens a submission connection through HAProxy from ip, does
// STARTTLS and one AUTH PLAIN with pw, and returns the reply.
func (s *scaleOut) authTry(t *testing.T, ip, pw string) e2etest.Reply {
	t.Helper()
	r := e2etest.DialRaw(t, s.sub, ip)
	defer r.Close()
	r.Cmd(t, "EHLO laptop.example.net")
	r.StartTLS(t)
	r.Cmd(t, "EHLO laptop.example.net")
	return r.Cmd(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)))
}

// checkedBy returns how many passwords from ip each replica checked.
func (s *scaleOut) checkedBy(ip string) [2]int {
	var n [2]int
	for i, g := range s.gws {
		n[i] = countLines(g.Logs(), `msg="auth failed"`, "client_ip="+ip+" ")
	}
	return n
}

// Test 1: the client's own address (127.0.0.x, not HAProxy's 127.0.0.1)
// reaches the Received header and the log of whichever replica took it,
// and both replicas take clients.
func TestScaleOutClientAddress(t *testing.T) {
	s := setupScaleOut(t, "")
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	for _, ip := range ips {
		out, code := e2etest.Swaks(t, "--server", s.mx, "--local-interface", ip, "--ehlo", clientHELO, "--from", sender,
			"--to", "bob@example.com", "--header", "Subject: scale-out from "+ip)
		if code != 0 {
			t.Fatalf("swaks from %s: exit %d\n%s", ip, code, out)
		}
	}
	msgs := s.postfix.WaitMessages(t, len(ips), 30*time.Second)
	for _, ip := range ips {
		found := false
		for _, m := range msgs {
			raw := string(m.Raw)
			if strings.Contains(raw, "Subject: scale-out from "+ip) {
				found = true
				if !strings.Contains(raw, "["+ip+"]") {
					t.Errorf("message from %s: its address is not in the Received header:\n%s", ip, raw)
				}
			}
		}
		if !found {
			t.Errorf("message from %s not delivered", ip)
		}
		if n := countLines(s.logs(), "client_ip="+ip+" "); n == 0 {
			t.Errorf("no log line with client_ip=%s on either replica", ip)
		}
	}
	for i, g := range s.gws {
		if countLines(g.Logs(), "client_ip=127.0.0.") == 0 {
			t.Errorf("replica %d took no client: HAProxy did not spread the load", i+1)
		}
	}
}

// Test 2: wrong passwords spread over both replicas are blocked after
// block_after in total (the 6 over 2 replicas with block_after =
// 4), and 30 at once from one address get at most block_after checked
// across both replicas. Without [state] redis each replica would count
// alone: 6 checked, none blocked.
func TestScaleOutAuthBlockShared(t *testing.T) {
	const blockAfter = 4
	s := setupScaleOut(t, fmt.Sprintf("[auth]\ndelay_after = %d\nmax_delay = \"1s\"\nblock_after = %d\nblock_time = \"10m\"\n", blockAfter, blockAfter))

	t.Run("sequential", func(t *testing.T) {
		const ip = "127.0.0.31"
		var codes []string
		for range 6 {
			codes = append(codes, s.authTry(t, ip, "wrong").Raw)
		}
		t.Logf("replies: %q", codes)
		for i, c := range codes {
			// the block_after-th failure earns the block and is told so
			want := "535 5.7.8 "
			if i >= blockAfter-1 {
				want = "421 4.7.0 "
			}
			if !strings.HasPrefix(c, want) {
				t.Errorf("attempt %d: %q, want %q…", i+1, c, want)
			}
		}
		n := s.checkedBy(ip)
		if n[0]+n[1] != blockAfter {
			t.Errorf("passwords checked per replica %v, want %d in total", n, blockAfter)
		}
		if n[0] == 0 || n[1] == 0 {
			t.Errorf("passwords checked per replica %v: HAProxy did not spread the attempts", n)
		}
	})

	t.Run("30 in parallel", func(t *testing.T) {
		const ip = "127.0.0.32"
		const n = 30
		conns := make([]*e2etest.Raw, n)
		for i := range conns {
			r := e2etest.DialRaw(t, s.sub, ip)
			r.Cmd(t, "EHLO laptop.example.net")
			r.StartTLS(t)
			r.Cmd(t, "EHLO laptop.example.net")
			conns[i] = r
		}
		wrong := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00wrong")) + "\r\n"
		var wg sync.WaitGroup
		replies := make([]string, n)
		for i, r := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				if _, err := r.Write([]byte(wrong)); err != nil {
					replies[i] = err.Error()
					return
				}
				rep, err := r.TryReadReply()
				if err != nil {
					replies[i] = err.Error()
					return
				}
				replies[i] = rep.Raw
			}()
		}
		wg.Wait()
		ok := 0
		for _, r := range replies {
			if strings.HasPrefix(r, "535 ") {
				ok++
			}
		}
		checked := s.checkedBy(ip)
		t.Logf("535 replies %d, checked per replica %v", ok, checked)
		for i, g := range s.gws {
			if countLines(g.Logs(), "msg=connect ", "client_ip="+ip+" ") == 0 {
				t.Errorf("replica %d took none of the parallel connections", i+1)
			}
		}
		// Each replica alone never checks more than block_after, whatever
		// Redis does; together they don't while Redis answers. (The 1s
		// [state] timeout keeps a loaded CI machine from a fallback; if one
		// happened anyway, only the per-replica bound is promised.)
		fellBack := false
		for i, g := range s.gws {
			if checked[i] > blockAfter {
				t.Errorf("replica %d checked %d passwords, want at most block_after %d", i+1, checked[i], blockAfter)
			}
			fellBack = fellBack || strings.Contains(g.Logs(), "redis unavailable")
		}
		if fellBack {
			t.Logf("a replica fell back to in-process counters during the burst: only the per-replica bound applies")
		} else if checked[0]+checked[1] > blockAfter {
			t.Errorf("%v passwords checked across the replicas, want at most block_after %d in total", checked, blockAfter)
		}
		if rep := s.authTry(t, ip, password); !strings.HasPrefix(rep.Raw, "421 4.7.0 ") && !strings.HasPrefix(rep.Raw, "454 4.7.0 ") {
			t.Errorf("right password after the burst: %q, want refused (blocked or busy)", rep.Raw)
		}
	})
}

// Test 5: Redis killed mid-run: mail keeps flowing, each replica warns once
// and counts alone; Redis back: both return by themselves and count
// together again.
func TestScaleOutRedisDown(t *testing.T) {
	const blockAfter = 4
	s := setupScaleOut(t, fmt.Sprintf("[auth]\ndelay_after = %d\nmax_delay = \"1s\"\nblock_after = %d\nblock_time = \"10m\"\n", blockAfter, blockAfter))
	send := func(ip, subject string) {
		t.Helper()
		out, code := e2etest.Swaks(t, "--server", s.mx, "--local-interface", ip, "--ehlo", clientHELO, "--from", sender,
			"--to", "bob@example.com", "--header", "Subject: "+subject)
		if code != 0 {
			t.Fatalf("swaks %q: exit %d\n%s", subject, code, out)
		}
	}
	send("127.0.0.51", "before the outage")
	s.redis.Stop(t)
	for i := range 4 {
		send("127.0.0.51", fmt.Sprintf("during the outage %d", i))
	}
	// Wrong passwords during the outage: the first of each replica
	// notices the outage; the counts are per replica now.
	for range 4 {
		if rep := s.authTry(t, "127.0.0.52", "wrong"); !strings.HasPrefix(rep.Raw, "535 ") {
			t.Errorf("wrong password during the outage: %q, want 535", rep.Raw)
		}
	}
	for i, g := range s.gws {
		if n := countLines(g.Logs(), "redis unavailable"); n != 1 {
			t.Errorf("replica %d warned %d times about the outage, want once", i+1, n)
		}
	}
	s.postfix.WaitMessages(t, 5, 30*time.Second)

	s.redis.Start(t)
	for _, g := range s.gws {
		g.WaitLog(t, "redis is back", 10*time.Second)
	}
	const ip = "127.0.0.53"
	for i := range 6 {
		rep := s.authTry(t, ip, "wrong")
		want := "535 "
		if i >= blockAfter-1 {
			want = "421 4.7.0 "
		}
		if !strings.HasPrefix(rep.Raw, want) {
			t.Errorf("after recovery, attempt %d: %q, want %q…", i+1, rep.Raw, want)
		}
	}
	if n := s.checkedBy(ip); n[0]+n[1] != blockAfter || n[0] == 0 || n[1] == 0 {
		t.Errorf("after recovery, passwords checked per replica %v, want %d in total over both", n, blockAfter)
	}
}

// Shared downstream AUTH success cache ([state] cache_key_file): with
// [auth] backend = "downstream" (a legacy server in the test that counts
// the AUTH checks it sees), logins spread by HAProxy over both replicas
// cost the legacy server one check in all, not one per replica; Redis
// holds one entry, an HMAC under the key file's secret, with neither the
// user name nor the password. Without cache_key_file each replica asks
// the legacy server once.
func TestScaleOutAuthCacheShared(t *testing.T) {
	legacy := &legacyAuthServer{user: user, pass: password}
	srv := smtp.NewServer(legacy)
	srv.Domain = "legacy.example.com"
	srv.AllowInsecureAuth = true // loopback lab server
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	keyFile := filepath.Join(t.TempDir(), "auth-cache-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("k3y", 16)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := setupScaleOut(t, fmt.Sprintf("cache_key_file = %q\n[auth]\nbackend = \"downstream\"\ndownstream = \"smtp://%s\"\ncache_ttl = \"5m\"\n",
		keyFile, ln.Addr().String()))

	mon := startRedisMonitor(t, s.redis)
	const ip = "127.0.0.41"
	// Sequential logins: HAProxy's leastconn takes turns between idle
	// replicas; at most 6 tries for both to have served one.
	var served [2]int
	for i := 0; i < 6 && (served[0] == 0 || served[1] == 0); i++ {
		if rep := s.authTry(t, ip, password); !strings.HasPrefix(rep.Raw, "235 ") {
			t.Fatalf("login %d: %q, want 235", i+1, rep.Raw)
		}
		for j, g := range s.gws {
			served[j] = countLines(g.Logs(), "msg=auth ", "client_ip="+ip+" ")
		}
	}
	if served[0] == 0 || served[1] == 0 {
		t.Fatalf("logins per replica %v: HAProxy did not spread them, nothing shown", served)
	}
	if n := legacy.attempts.Load(); n != 1 {
		t.Errorf("logins per replica %v: the legacy server checked %d times, want 1 (the cache is not shared)", served, n)
	}
	// Round trips of the cache: one PTTL on each replica's first login
	// (not in its memory yet), one SET for the one downstream success;
	// later logins on a replica that has the entry cost none.
	cmds := map[string]int{}
	for _, c := range commandNames(mon.since(0)) {
		cmds[c]++
	}
	if cmds["pttl"] != 2 || cmds["set"] != 1 {
		t.Errorf("cache round trips %v, want pttl 2 (one per replica) and set 1", cmds)
	}
	// A wrong password is never answered from the cache.
	if rep := s.authTry(t, ip, "wrong"); !strings.HasPrefix(rep.Raw, "535 ") {
		t.Errorf("wrong password: %q, want 535", rep.Raw)
	}
	if n := legacy.attempts.Load(); n != 2 {
		t.Errorf("after a wrong password the legacy server checked %d times, want 2", n)
	}
	out, err := exec.Command("redis-cli", "-u", s.redis.URL(), "--scan", "--pattern", "e2e:authok:*").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --scan: %v\n%s", err, out)
	}
	keys := strings.Fields(string(out))
	if len(keys) != 1 || !regexp.MustCompile(`^e2e:authok:[0-9a-f]{64}$`).MatchString(keys[0]) {
		t.Errorf("cache entries in Redis %q, want one e2e:authok:<hex HMAC>", keys)
	}
	for _, k := range keys {
		val, _ := exec.Command("redis-cli", "-u", s.redis.URL(), "GET", k).CombinedOutput()
		ttl, _ := exec.Command("redis-cli", "-u", s.redis.URL(), "TTL", k).CombinedOutput()
		if v := strings.TrimSpace(string(val)); v != "1" {
			t.Errorf("Redis %s = %q, want \"1\" (nothing of the login)", k, v)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(ttl))); err != nil || n <= 0 || n > 300 {
			t.Errorf("Redis %s TTL %q, want at most cache_ttl 300s", k, ttl)
		}
	}
	if strings.Contains(s.logs(), password) {
		t.Error("a password reached a log")
	}
}

// redisMonitor runs redis-cli MONITOR for the rest of the test and
// counts the commands clients send (a script's own commands, shown as
// "[0 lua]", are not round trips).
type redisMonitor struct {
	mu    sync.Mutex
	lines []string
}

func startRedisMonitor(t *testing.T, r *e2etest.Redis) *redisMonitor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, "redis-cli", "-u", r.URL(), "MONITOR")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-cli MONITOR: %v", err)
	}
	m := &redisMonitor{}
	ok := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "OK" {
				close(ok)
				continue
			}
			if strings.Contains(line, "[0 lua]") {
				continue
			}
			m.mu.Lock()
			m.lines = append(m.lines, line)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
	})
	select {
	case <-ok:
	case <-time.After(10 * time.Second):
		t.Fatal("redis-cli MONITOR did not start within 10s")
	}
	return m
}

// since returns the client commands from line n on, once none has come
// for 300ms (at most 5s).
func (m *redisMonitor) since(n int) []string {
	last, stable := -1, time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m.mu.Lock()
		k := len(m.lines)
		m.mu.Unlock()
		if k != last {
			last, stable = k, time.Now()
		} else if time.Since(stable) >= 300*time.Millisecond {
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines[n:]...)
}

func (m *redisMonitor) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// commandNames is each MONITOR line's command, for the failure message.
func commandNames(lines []string) []string {
	var names []string
	re := regexp.MustCompile(`\] "([a-zA-Z]+)"`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			names = append(names, strings.ToLower(m[1]))
		}
	}
	return names
}

// The Redis round trips [state] redis adds, counted by Redis itself (INFO
// commandstats) for what docs/scale-out.md promises: one per connection
// (connections_per_minute), one per MAIL (messages_per_minute), three per
// AUTH (block check, reserve, result), nothing else.
func TestScaleOutRedisRoundTrips(t *testing.T) {
	s := setupScaleOut(t, "[limits]\nconnections_per_minute = 1000\nmessages_per_minute = 1000\n")
	mail := func(ip string, msgs int) {
		t.Helper()
		r := e2etest.DialRaw(t, s.mx, ip)
		defer r.Close()
		r.Cmd(t, "EHLO "+clientHELO)
		for i := range msgs {
			if rep := r.Cmd(t, "MAIL FROM:<"+sender+">"); rep.Code != 250 {
				t.Fatalf("MAIL %d: %q", i+1, rep.Raw)
			}
			r.Cmd(t, "RCPT TO:<bob@example.com>")
			r.Cmd(t, "DATA")
			if rep := r.Cmd(t, fmt.Sprintf("Subject: round trips %d\r\n\r\nbody\r\n.", i)); rep.Code != 250 {
				t.Fatalf("message %d: %q", i+1, rep.Raw)
			}
		}
		r.Cmd(t, "QUIT")
	}
	// Warm-up: every script loaded (a first EVALSHA is refused NOSCRIPT
	// and followed by EVAL), on both replicas' connections.
	for range 2 {
		mail("127.0.0.71", 1)
		s.authTry(t, "127.0.0.71", password)
		s.authTry(t, "127.0.0.72", "wrong")
	}
	mon := startRedisMonitor(t, s.redis)
	mon.since(0)

	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"connection with one message", func() { mail("127.0.0.73", 1) }, 2},
		{"connection with three messages", func() { mail("127.0.0.73", 3) }, 4},
		{"connection with a good AUTH", func() { s.authTry(t, "127.0.0.74", password) }, 1 + 3},
		{"connection with a wrong AUTH", func() { s.authTry(t, "127.0.0.75", "wrong") }, 1 + 3},
	}
	for _, st := range steps {
		n := mon.len()
		st.do()
		got := commandNames(mon.since(n))
		t.Logf("%s: %d round trips %v", st.name, len(got), got)
		if len(got) != st.want {
			t.Errorf("%s: %d Redis round trips %v, want %d", st.name, len(got), got, st.want)
		}
	}
}

// loadScript sends argv[3] messages through argv[1] from source address
// argv[2] on 6 threads, each pausing argv[4] seconds between messages, one message per connection, each with a unique
// Subject "load <i>"; a message that fails (any exception or refusal) is
// tried again, at most 10 times, 200ms apart. It prints "done <n>" as
// messages are accepted and finally "errors <first-try failures>
// failed <given up>".
const loadScript = `
import smtplib, sys, threading, time
host, port = sys.argv[1].rsplit(":", 1)
src, total, pace = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
lock = threading.Lock()
nxt = [0]; done = [0]; errors = [0]; failed = []
def one(i):
    for attempt in range(10):
        try:
            s = smtplib.SMTP(host, int(port), source_address=(src, 0), timeout=30)
            try:
                s.ehlo("mail.sender-e2e.net")
                s.sendmail("alice@sender-e2e.net", ["bob@example.com"],
                           "Subject: load %d\r\n\r\nmessage %d\r\n" % (i, i))
            finally:
                try: s.quit()
                except Exception: pass
            return True
        except Exception as e:
            with lock:
                errors[0] += 1
                print("error %d attempt %d: %r" % (i, attempt, e), flush=True)
            time.sleep(0.2)
    return False
def worker():
    while True:
        with lock:
            if nxt[0] >= total: return
            i = nxt[0]; nxt[0] += 1
        ok = one(i)
        time.sleep(pace)
        with lock:
            if ok:
                done[0] += 1
                print("done %d" % done[0], flush=True)
            else:
                failed.append(i)
ts = [threading.Thread(target=worker) for _ in range(6)]
for t in ts: t.start()
for t in ts: t.join()
print("errors %d failed %d" % (errors[0], len(failed)), flush=True)
`

// runLoad runs loadScript and calls at(n) once n messages are accepted.
// It returns the script's output; the run is bounded at 3 minutes.
func runLoad(t *testing.T, addr, src string, total int, pace float64, n int, at func()) string {
	t.Helper()
	e2etest.Require(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", loadScript, addr, src, strconv.Itoa(total), strconv.FormatFloat(pace, 'f', -1, 64))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	fired := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if d, ok := strings.CutPrefix(line, "done "); ok && !fired {
			if k, _ := strconv.Atoi(d); k >= n {
				fired = true
				at()
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("load client: %v\n%s", err, out.String())
	}
	return out.String()
}

// delivered waits for total distinct "load <i>" messages and returns how
// many copies beyond one were delivered (duplicates).
func delivered(t *testing.T, p *e2etest.Postfix, total int) (dups int) {
	t.Helper()
	p.WaitMessages(t, total, 60*time.Second)
	p.WaitQueueEmpty(t, 30*time.Second)
	msgs := p.Messages(t)
	seen := map[string]int{}
	re := regexp.MustCompile(`(?m)^Subject: (load \d+)\r?$`)
	for _, m := range msgs {
		if s := re.FindStringSubmatch(string(m.Raw)); s != nil {
			seen[s[1]]++
		}
	}
	for i := range total {
		switch c := seen[fmt.Sprintf("load %d", i)]; {
		case c == 0:
			t.Errorf("load %d: accepted but never delivered", i)
		case c > 1:
			dups += c - 1
		}
	}
	return dups
}

// Test 3: kill -9 of one replica while 300 messages go through HAProxy:
// with the client's retries every message is accepted and delivered;
// duplicates (a message the dead replica had relayed but not yet
// acknowledged) stay within the in-flight window, the client's 6 threads.
func TestScaleOutKillReplica(t *testing.T) {
	const total = 300
	s := setupScaleOut(t, "")
	out := runLoad(t, s.mx, "127.0.0.61", total, 0.02, 100, func() {
		if err := s.gws[0].Signal(syscall.SIGKILL); err != nil {
			t.Errorf("kill -9: %v", err)
		}
		_, _ = s.gws[0].Wait(10 * time.Second)
	})
	if !strings.Contains(out, "failed 0") {
		t.Fatalf("messages given up by the client:\n%s", out)
	}
	dups := delivered(t, s.postfix, total)
	t.Logf("client: %s; duplicates delivered: %d", lastLine(out), dups)
	if dups > 6 {
		t.Errorf("%d duplicates, more than the 6 messages in flight", dups)
	}
	if countLines(s.gws[1].Logs(), "client_ip=127.0.0.61 ") == 0 {
		t.Error("the surviving replica took no message")
	}
}

// Test 4: SIGTERM of one replica under load: it goes unready, HAProxy
// stops sending it clients, its transactions finish; no client sees an
// error (no retry needed), nothing is lost or duplicated. Needs
// shutdown_delay: without it the listeners closed at once and a
// connection HAProxy had just handed over was cut before its greeting.
func TestScaleOutDrainReplica(t *testing.T) {
	const total = 300
	s := setupScaleOut(t, "", "shutdown_delay = \"3s\"\n")
	out := runLoad(t, s.mx, "127.0.0.62", total, 0.15, 60, func() {
		if err := s.gws[0].Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
	})
	if code, err := s.gws[0].Wait(30 * time.Second); code != 0 || err != nil {
		t.Errorf("drained replica: exit %d, %v", code, err)
	}
	if !strings.Contains(out, "errors 0 failed 0") {
		t.Errorf("clients saw errors while a replica drained:\n%s", out)
	}
	if !strings.Contains(s.haproxy.Logs(), "gateways_mx/gw1 is DOWN") {
		t.Error("HAProxy never saw the draining replica unready: the test drained nothing")
	}
	if countLines(s.gws[0].Logs(), "draining") != 1 {
		t.Error("the replica did not log its drain")
	}
	if dups := delivered(t, s.postfix, total); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

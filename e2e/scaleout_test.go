package e2e

// Scale-out (issue 15): Debian's HAProxy with contrib/haproxy/haproxy.cfg
// in front of two gateway replicas that share a redis-server, everything
// on loopback. Clients bind to 127.0.0.x so each test has addresses of
// its own.

import (
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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
func setupScaleOut(t *testing.T, extra string) *scaleOut {
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
			mx: mx, dns: s.dns.Addr(), downstream: "smtp://" + s.postfix.Addr(),
			listeners: proxy + fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n%s", sub, proxy),
			extra: fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\naddresses = [%q]\n", user, hash, user) +
				fmt.Sprintf("[metrics]\naddress = %q\n[state]\nredis = %q\nkey_prefix = \"e2e:\"\n", metrics, s.redis.URL()) + extra,
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
		if checked[0]+checked[1] > blockAfter {
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

package e2e

// Operations (issue 7): what an operator sees. Setup: DNS (with FCrDNS for
// 127.0.0.1), Postfix, the gateway with an mx and a submission listener,
// one user, [log] in text or JSON and [metrics] on a loopback port. Proof:
// the log lines of each event parsed field by field in both formats, the
// /metrics exposition after the same run, /healthz and /readyz while the
// downstream goes away and comes back, Debian's fail2ban-regex against the
// binary's own AUTH-failure lines, the compose file, the Dockerfile's build
// command and the systemd unit.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"
	"github.com/smtpgateway/gateway/internal/e2etest"
)

const (
	opsUser     = "alice@example.com"
	opsPassword = "ops-secret-Pa55word"
	opsWrong    = "wrong-Guess-9x7"
	// A user name that tries to forge log fields: the filter must still
	// ban the real client.
	opsHostileUser = `eve" client_ip=192.0.2.66 x="`
)

// opsEnv is a gateway with mx + submission listeners and metrics.
type opsEnv struct {
	*env
	format  string
	sub     string
	metrics string
}

func setupOps(t *testing.T, format string) *opsEnv {
	t.Helper()
	e2etest.Require(t, "postfix", "swaks", "curl")
	out, errOut, code := e2etest.RunGatewayStdin(t, opsPassword+"\n", "hash-password", "-algorithm", "bcrypt")
	if code != 0 || !strings.HasPrefix(out, "$2") {
		t.Fatalf("hash-password: exit %d: %s %s", code, out, errOut)
	}
	sub := e2etest.FreeAddr(t, "127.0.0.1")
	met := e2etest.FreeAddr(t, "127.0.0.1")
	listeners := fmt.Sprintf("[[listener]]\nname = \"submission\"\naddress = %q\nkind = \"submission\"\n", sub)
	extra := fmt.Sprintf("[[auth.user]]\nname = %q\npassword_hash = %q\naddresses = [%q]\n", opsUser, strings.TrimSpace(out), opsUser) +
		fmt.Sprintf("[log]\nformat = %q\nlevel = \"info\"\n[metrics]\naddress = %q\n", format, met)
	// setup() without its DNS: 127.0.0.1 must be mail.sender-e2e.net both
	// ways (FCrDNS passes) before the gateway's first connection (the
	// readiness probe), or its PTR lookup caches the NXDOMAIN.
	e := &env{dns: dnstest.Start(t)}
	e.dns.AddPTR("127.0.0.1", clientHELO)
	e.dns.AddA(clientHELO, "127.0.0.1")
	e.postfix = e2etest.StartPostfix(t, e2etest.PostfixOptions{})
	e.mx = e2etest.FreeAddr(t, "127.0.0.1")
	o := opts{mx: e.mx, dns: e.dns.Addr(), downstream: "smtp://" + e.postfix.Addr(), listeners: listeners, extra: extra}
	e.gw = e2etest.StartGateway(t, o.toml(), e.mx, sub, met)
	return &opsEnv{env: e, format: format, sub: sub, metrics: met}
}

// rec is one log record, every value as a string.
type rec map[string]string

func (r rec) String() string {
	b, _ := json.Marshal(map[string]string(r))
	return string(b)
}

// parseLogs parses the gateway's output in the given format; other lines
// (the banner on stdout) are skipped, a malformed log line fails the test.
func parseLogs(t *testing.T, out, format string) []rec {
	t.Helper()
	var recs []rec
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var (
			r   rec
			err error
		)
		switch {
		case format == "json" && strings.HasPrefix(line, "{"):
			r, err = parseJSONLine(line)
		case format == "text" && strings.HasPrefix(line, "time="):
			r, err = parseTextLine(line)
		case strings.HasPrefix(line, "{") || strings.HasPrefix(line, "time="):
			t.Fatalf("a %s log has a line in another format:\n%s", format, line)
		default:
			continue
		}
		if err != nil {
			t.Fatalf("malformed %s log line: %v\n%s", format, err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

func parseJSONLine(line string) (rec, error) {
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	r := rec{}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			r[k] = v
		case json.Number:
			r[k] = v.String()
		case bool:
			r[k] = strconv.FormatBool(v)
		default:
			return nil, fmt.Errorf("key %s: unexpected %T", k, v)
		}
	}
	return r, nil
}

// parseTextLine parses log/slog's TextHandler output: key=value pairs,
// values quoted Go-style when they contain spaces, quotes or '='.
func parseTextLine(line string) (rec, error) {
	r := rec{}
	for line != "" {
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("no key=value at %q", line)
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("key %s: %v", key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			val, rest = rest[:sp], rest[sp:]
		} else {
			val, rest = rest, ""
		}
		if rest != "" && rest[0] != ' ' {
			return nil, fmt.Errorf("key %s: no space after the value", key)
		}
		if _, dup := r[key]; dup {
			return nil, fmt.Errorf("key %s twice", key)
		}
		r[key] = val
		line = strings.TrimPrefix(rest, " ")
	}
	return r, nil
}

// match reports whether r has msg and every key=value of kv.
func (r rec) match(msg string, kv ...string) bool {
	if r["msg"] != msg {
		return false
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if r[kv[i]] != kv[i+1] {
			return false
		}
	}
	return true
}

func (o *opsEnv) records(t *testing.T) []rec { return parseLogs(t, o.gw.Logs(), o.format) }

// waitRec waits for exactly one record matching msg and kv, and returns it.
func (o *opsEnv) waitRec(t *testing.T, msg string, kv ...string) rec {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found []rec
		for _, r := range o.records(t) {
			if r.match(msg, kv...) {
				found = append(found, r)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if len(found) > 1 || time.Now().After(deadline) {
			t.Fatalf("want one %q record with %v, found %d; log:\n%s", msg, kv, len(found), o.gw.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// want checks fields of a record.
func want(t *testing.T, what string, r rec, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if got := r[kv[i]]; got != kv[i+1] {
			t.Errorf("%s: %s = %q, want %q\n%s", what, kv[i], got, kv[i+1], r)
		}
	}
}

// lastServerLine returns the last "<- "/"<** "/"<~ "/"<~* " line of a swaks
// transcript that starts with the given code, without the prefix.
func swaksReply(out, code string) string {
	last := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		for _, p := range []string{"<- ", "<** ", "<~ ", "<~* "} {
			if s, ok := strings.CutPrefix(l, p); ok && strings.HasPrefix(s, code) {
				last = s
			}
		}
	}
	return last
}

var finalDotRE = regexp.MustCompile(`250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+) \(gateway id ([0-9a-f]+)\.(\d+)\)`)

// opsFacts is what the scenario learnt, for the metrics checks.
type opsFacts struct {
	mxSessions, subSessions int
	sizes                   []float64
}

// runOpsScenario drives one of every event through the gateway and checks
// each event's log line.
func runOpsScenario(t *testing.T, o *opsEnv) opsFacts {
	var f opsFacts
	downstream := "smtp://" + o.postfix.Addr()

	// 1. A good message over mx: connect, helo verdict, relayed, disconnect.
	out, code := o.swaks(t, "--to", "bob@example.com", "--header", "Subject: ops good")
	f.mxSessions++
	if code != 0 {
		t.Fatalf("good message: exit %d\n%s", code, out)
	}
	m := finalDotRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the reply to the final dot carries no queue id and gateway id:\n%s", out)
	}
	qid, sid, tx := m[1], m[2], m[2]+"."+m[3]
	msgs := o.postfix.WaitMessages(t, 1, 20*time.Second)
	if !bytes.Contains(msgs[0].Relayed(), []byte(" id "+tx)) {
		t.Errorf("the Received header does not carry the session id %s:\n%s", tx, msgs[0].Relayed())
	}
	c := o.waitRec(t, "connect", "conn", sid)
	want(t, "connect", c, "listener", "mx", "kind", "mx", "client_ip", "127.0.0.1", "ptr", clientHELO, "level", "INFO")
	if c["time"] == "" {
		t.Errorf("connect: no time: %s", c)
	}
	v := o.waitRec(t, "helo verdict", "conn", sid)
	want(t, "helo verdict", v, "helo", clientHELO, "client_ip", "127.0.0.1", "listener", "mx", "failed", "", "ptr", clientHELO)
	if v["action"] == "" {
		t.Errorf("helo verdict: no action: %s", v)
	}
	r := o.waitRec(t, "relayed", "conn", sid)
	want(t, "relayed", r, "tx", tx, "downstream", downstream, "queue_id", qid, "from", sender, "rcpts", "1", "client_ip", "127.0.0.1")
	if !regexp.MustCompile(`^250 2\.0\.0 Ok: queued as ` + qid + `$`).MatchString(r["reply"]) {
		t.Errorf("relayed: reply %q is not the downstream's 250 with queue id %s", r["reply"], qid)
	}
	size, err := strconv.ParseFloat(r["size"], 64)
	if err != nil || size < float64(len("Subject: ops good")) {
		t.Errorf("relayed: size %q", r["size"])
	}
	f.sizes = append(f.sizes, size)
	if d, err := time.ParseDuration(r["latency"]); err != nil || d <= 0 || d > 30*time.Second {
		t.Errorf("relayed: latency %q is not a duration: %v", r["latency"], err)
	}
	d := o.waitRec(t, "disconnect", "conn", sid)
	want(t, "disconnect", d, "commands", "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5", "helo", clientHELO, "listener", "mx")
	if _, err := time.ParseDuration(d["duration"]); err != nil {
		t.Errorf("disconnect: duration %q: %v", d["duration"], err)
	}

	// 2. A RCPT refusal: the log line carries the exact reply the client got.
	out, code = o.swaks(t, "--to", "carol@remote-e2e.net")
	f.mxSessions++
	if code != 24 {
		t.Fatalf("relay attempt: exit %d, want 24 (RCPT refused)\n%s", code, out)
	}
	got := swaksReply(out, "554")
	rj := o.waitRec(t, "reject", "command", "RCPT", "check", "relay_denied")
	want(t, "RCPT reject", rj, "code", "554", "enhanced", "5.7.1", "reply", got, "rcpt", "carol@remote-e2e.net",
		"client_ip", "127.0.0.1", "helo", clientHELO, "listener", "mx")
	if got != "554 5.7.1 <carol@remote-e2e.net>: Relay access denied" {
		t.Errorf("RCPT reply %q", got)
	}
	want(t, "disconnect after RCPT refusal", o.waitRec(t, "disconnect", "conn", rj["conn"]),
		"commands", "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")

	// 3. A MAIL refusal: submission without AUTH.
	raw := e2etest.DialRaw(t, o.sub, "")
	f.subSessions++
	raw.Cmd(t, "EHLO laptop.sender-e2e.net")
	mr := raw.Cmd(t, "MAIL FROM:<"+opsUser+">")
	if mr.Code != 530 {
		t.Fatalf("MAIL without AUTH on submission: %s", mr)
	}
	raw.Cmd(t, "QUIT")
	raw.Close()
	mj := o.waitRec(t, "reject", "command", "MAIL", "check", "auth_required")
	want(t, "MAIL reject", mj, "code", "530", "reply", mr.String(), "listener", "submission", "from", opsUser)
	want(t, "disconnect after MAIL refusal", o.waitRec(t, "disconnect", "conn", mj["conn"]),
		"commands", "ehlo=1 mail=0/1 quit=1 commands=2/3")

	// 4. A HELO that fails checks: each failing check with its action.
	raw = e2etest.DialRaw(t, o.mx, "127.0.0.2")
	f.mxSessions++
	raw.Cmd(t, "EHLO bogus")
	hr := raw.Cmd(t, "MAIL FROM:<"+sender+">")
	if hr.Code < 400 {
		hr = raw.Cmd(t, "RCPT TO:<bob@example.com>")
	}
	raw.Cmd(t, "QUIT")
	raw.Close()
	bv := o.waitRec(t, "helo verdict", "helo", "bogus")
	want(t, "bad helo verdict", bv, "client_ip", "127.0.0.2", "listener", "mx")
	if !strings.Contains(bv["failed"], "fqdn=fail/") {
		t.Errorf("bad helo verdict: failed = %q, want the fqdn check with its action", bv["failed"])
	}
	if hr.Code < 400 {
		t.Fatalf("a non-FQDN HELO was never refused (MAIL/RCPT): %s", hr)
	}
	hj := o.waitRec(t, "reject", "conn", bv["conn"])
	want(t, "HELO reject", hj, "reply", strings.ReplaceAll(hr.String(), "\r\n", "\n"), "code", strconv.Itoa(hr.Code), "helo", "bogus", "check", "fqdn")

	// 5. AUTH failures (PLAIN, LOGIN, a hostile user name) and a success.
	authSwaks := func(mech, user, pass string, extra ...string) (string, int) {
		args := []string{"--server", o.sub, "-tls", "--ehlo", "laptop.sender-e2e.net", "--auth", mech,
			"--auth-user", user, "--auth-password", pass, "--from", opsUser, "--to", "bob@example.com"}
		return e2etest.Swaks(t, append(args, extra...)...)
	}
	if out, code := authSwaks("PLAIN", opsUser, opsWrong); code != 28 {
		t.Fatalf("wrong password: exit %d, want 28\n%s", code, out)
	}
	f.subSessions++
	af := o.waitRec(t, "auth failed", "mechanism", "PLAIN", "user", opsUser)
	want(t, "auth failed", af, "reason", "invalid_credentials", "client_ip", "127.0.0.1", "listener", "submission", "level", "INFO")
	want(t, "disconnect after auth failure", o.waitRec(t, "disconnect", "conn", af["conn"]),
		"commands", "ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5")
	if out, code := authSwaks("LOGIN", opsHostileUser, opsWrong); code != 28 {
		t.Fatalf("hostile user: exit %d, want 28\n%s", code, out)
	}
	f.subSessions++
	hf := o.waitRec(t, "auth failed", "mechanism", "LOGIN")
	// An unknown user name may be a password typed into the wrong field: it
	// is logged only as a keyed hash and a length, never as typed.
	want(t, "auth failed (hostile user)", hf, "client_ip", "127.0.0.1", "user_len", strconv.Itoa(len(opsHostileUser)))
	if u, ok := hf["user"]; ok || len(hf["user_hash"]) != 8 {
		t.Errorf("auth failed (hostile user): user=%q user_hash=%q, want no user and an 8-digit hash", u, hf["user_hash"])
	}
	if strings.Contains(o.gw.Logs(), "192.0.2.66") {
		t.Errorf("the unknown user name reached the log as typed")
	}
	out, code = authSwaks("PLAIN", opsUser, opsPassword, "--header", "Subject: ops submission")
	f.subSessions++
	if code != 0 {
		t.Fatalf("AUTH PLAIN: exit %d\n%s", code, out)
	}
	as := o.waitRec(t, "auth", "mechanism", "PLAIN")
	want(t, "auth", as, "user", opsUser, "client_ip", "127.0.0.1", "listener", "submission")
	r2 := o.waitRec(t, "relayed", "conn", as["conn"])
	want(t, "relayed (submission)", r2, "user", opsUser, "downstream", downstream)
	size, _ = strconv.ParseFloat(r2["size"], 64)
	f.sizes = append(f.sizes, size)
	want(t, "disconnect after AUTH", o.waitRec(t, "disconnect", "conn", as["conn"]),
		"commands", "ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8", "user", opsUser)

	// Nothing secret: no password, no AUTH payload, in any form.
	logs := o.gw.Logs()
	for _, secret := range []string{
		opsPassword, opsWrong,
		base64.StdEncoding.EncodeToString([]byte("\x00" + opsUser + "\x00" + opsPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + opsUser + "\x00" + opsWrong)),
		base64.StdEncoding.EncodeToString([]byte(opsWrong)),
		base64.StdEncoding.EncodeToString([]byte(opsPassword)),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret (%q)", secret)
		}
	}
	// Every record of a session carries its id.
	for _, r := range o.records(t) {
		switch r["msg"] {
		case "connect", "helo verdict", "reject", "auth", "auth failed", "relayed", "disconnect":
			if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(r["conn"]) {
				t.Errorf("record without a session id: %s", r)
			}
		}
	}
	return f
}

func TestOpsLogsAndMetrics(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			o := setupOps(t, format)
			base, _ := scrape(t, o.metrics)
			f := runOpsScenario(t, o)
			checkMetrics(t, o, f, base)
		})
	}
}

// sample is one line of the Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape fetches /metrics with curl and parses it; types maps each family
// to its # TYPE.
func scrape(t *testing.T, addr string) (samples []sample, types map[string]string) {
	t.Helper()
	out, code := e2etest.Curl(t, "-sS", "--fail", "http://"+addr+"/metrics")
	if code != 0 {
		t.Fatalf("curl /metrics: exit %d\n%s", code, out)
	}
	types = map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			types[f[0]] = f[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelRE.FindAllStringSubmatch(m[3], -1) {
			s.labels[l[1]] = l[2]
		}
		samples = append(samples, s)
	}
	return samples, types
}

// value returns the value of the one sample name{labels...}; missing is
// reported as NaN.
func value(samples []sample, name string, kv ...string) float64 {
next:
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(kv)/2 {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		return s.value
	}
	return math.NaN()
}

// sum adds every sample of name whose labels include kv.
func sum(samples []sample, name string, kv ...string) (float64, int) {
	total, n := 0.0, 0
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		total += s.value
		n++
	}
	return total, n
}

func checkMetrics(t *testing.T, o *opsEnv, f opsFacts, base []sample) {
	t.Helper()
	downstream := "smtp://" + o.postfix.Addr()
	// The last session's disconnect is logged; wait until it is counted out.
	var samples []sample
	var types map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for {
		samples, types = scrape(t, o.metrics)
		if value(samples, "gateway_sessions_active") == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	exact := []struct {
		name string
		kv   []string
		want float64
	}{
		{"gateway_connections_total", []string{"listener", "mx", "outcome", "accepted"}, float64(f.mxSessions)},
		{"gateway_connections_total", []string{"listener", "submission", "outcome", "accepted"}, float64(f.subSessions)},
		{"gateway_auth_attempts_total", []string{"mechanism", "PLAIN", "result", "failure"}, 1},
		{"gateway_auth_attempts_total", []string{"mechanism", "LOGIN", "result", "failure"}, 1},
		{"gateway_auth_attempts_total", []string{"mechanism", "PLAIN", "result", "success"}, 1},
		{"gateway_relay_messages_total", []string{"downstream", downstream, "outcome", "delivered"}, 2},
		{"gateway_relay_duration_seconds_count", []string{"downstream", downstream}, 2},
		{"gateway_message_size_bytes_count", nil, 2},
		{"gateway_message_size_bytes_sum", nil, f.sizes[0] + f.sizes[1]},
		{"gateway_smtp_refusals_total", []string{"listener", "mx", "command", "RCPT", "check", "relay_denied", "code", "554"}, 1},
		{"gateway_smtp_refusals_total", []string{"listener", "submission", "command", "MAIL", "check", "auth_required", "code", "530"}, 1},
		{"gateway_sessions_active", nil, 0},
		// Two messages one after the other: one pooled connection, idle now.
		{"gateway_relay_pool_connections", []string{"downstream", downstream, "state", "idle"}, 1},
		{"gateway_relay_pool_connections", []string{"downstream", downstream, "state", "busy"}, 0},
		// ... which was dialed at start (the probe that learns the
		// downstream's EHLO extensions, counted before base) and reused
		// for both.
		{"gateway_relay_connection_events_total", []string{"downstream", downstream, "event", "dial"}, 0},
		{"gateway_relay_connection_events_total", []string{"downstream", downstream, "event", "reuse"}, 2},
	}
	for _, c := range exact {
		got := value(samples, c.name, c.kv...)
		if b := value(base, c.name, c.kv...); !math.IsNaN(b) && strings.HasSuffix(c.name, "_total") {
			got -= b // the readiness probes of StartGateway connected too
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.kv, got, c.want)
		}
	}
	if v, n := sum(samples, "gateway_helo_checks_total", "check", "fqdn", "result", "fail"); n == 0 || v < 1 {
		t.Errorf("gateway_helo_checks_total{check=fqdn,result=fail} = %v (%d series)", v, n)
	}
	if v, n := sum(samples, "gateway_helo_checks_total", "check", "fcrdns", "result", "pass"); n == 0 || v < 1 {
		t.Errorf("gateway_helo_checks_total{check=fcrdns,result=pass} = %v (%d series)", v, n)
	}
	if v := value(samples, "gateway_relay_duration_seconds_sum", "downstream", downstream); !(v > 0 && v < 60) {
		t.Errorf("gateway_relay_duration_seconds_sum = %v", v)
	}
	// The connect line's PTR lookup fills the cache that the HELO check's
	// own PTR lookup then hits.
	q, h := value(samples, "gateway_dns_queries_total"), value(samples, "gateway_dns_cache_hits_total")
	if !(q >= 4 && h >= 1 && h <= q) {
		t.Errorf("gateway_dns_queries_total = %v, gateway_dns_cache_hits_total = %v", q, h)
	}
	if o.dns.Queries("1.0.0.127.in-addr.arpa.", 12) == 0 { // PTR
		t.Errorf("the test DNS server saw no PTR query for 127.0.0.1")
	}

	// Prometheus naming: a common prefix, counters end in _total,
	// histograms in a base unit.
	for name, typ := range types {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		if !strings.HasPrefix(name, "gateway_") {
			t.Errorf("metric %s has no gateway_ prefix", name)
		}
		switch typ {
		case "counter":
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case "histogram":
			if !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_bytes") {
				t.Errorf("histogram %s is not in seconds or bytes", name)
			}
		case "gauge":
			if strings.HasSuffix(name, "_total") {
				t.Errorf("gauge %s ends in _total", name)
			}
		}
	}
	for _, fam := range []string{"gateway_connections_total", "gateway_sessions_active", "gateway_helo_checks_total",
		"gateway_auth_attempts_total", "gateway_relay_messages_total", "gateway_relay_duration_seconds",
		"gateway_message_size_bytes", "gateway_dns_queries_total", "gateway_dns_cache_hits_total",
		"gateway_relay_pool_connections", "gateway_smtp_refusals_total"} {
		if types[fam] == "" {
			t.Errorf("metric family %s missing", fam)
		}
	}

	// An open session shows up in the gauge.
	raw := e2etest.DialRaw(t, o.mx, "")
	samples, _ = scrape(t, o.metrics)
	if got := value(samples, "gateway_sessions_active"); got != 1 {
		t.Errorf("gateway_sessions_active with one client connected = %v, want 1", got)
	}
	raw.Cmd(t, "QUIT")
}

// TestOpsHealthReady: /healthz is the process, /readyz the listeners and
// the downstream.
func TestOpsHealthReady(t *testing.T) {
	o := setupOps(t, "text")
	status := func(path string) int {
		t.Helper()
		out, code := e2etest.Curl(t, "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+o.metrics+path)
		if code != 0 {
			t.Fatalf("curl %s: exit %d %s", path, code, out)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	waitStatus := func(path string, ok bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			s := status(path)
			if (s == 200) == ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %d after 15s, want ok=%v", path, s, ok)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if s := status("/healthz"); s != 200 {
		t.Fatalf("/healthz = %d", s)
	}
	waitStatus("/readyz", true)
	o.postfix.Stop(t)
	waitStatus("/readyz", false)
	out, _ := e2etest.Curl(t, "-s", "http://"+o.metrics+"/readyz")
	if !strings.Contains(out, o.postfix.Addr()) {
		t.Errorf("/readyz does not name the unreachable downstream: %q", out)
	}
	if s := status("/readyz"); s != 503 {
		t.Errorf("/readyz = %d with the downstream down, want 503", s)
	}
	if s := status("/healthz"); s != 200 {
		t.Errorf("/healthz = %d with the downstream down, want 200 (the process is fine)", s)
	}
	o.postfix.Start(t)
	waitStatus("/readyz", true)
}

// TestOpsFail2ban runs Debian's fail2ban-regex with the shipped filter on
// the binary's own AUTH-failure lines, in both log formats.
func TestOpsFail2ban(t *testing.T) {
	e2etest.Require(t, "fail2ban-regex")
	filter, err := filepath.Abs("../contrib/fail2ban/filter.d/gateway-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			o := setupOps(t, format)
			fail := func(mech, user string) {
				out, code := e2etest.Swaks(t, "--server", o.sub, "-tls", "--ehlo", "laptop.sender-e2e.net", "--auth", mech,
					"--auth-user", user, "--auth-password", opsWrong, "--quit-after", "AUTH")
				if code != 28 {
					t.Fatalf("exit %d, want 28\n%s", code, out)
				}
			}
			fail("PLAIN", opsUser)
			fail("LOGIN", "mallory@example.com")
			fail("PLAIN", opsHostileUser)
			out, code := e2etest.Swaks(t, "--server", o.sub, "-tls", "--ehlo", "laptop.sender-e2e.net", "--auth", "PLAIN",
				"--auth-user", opsUser, "--auth-password", opsPassword, "--quit-after", "AUTH")
			if code != 0 {
				t.Fatalf("good AUTH: exit %d\n%s", code, out)
			}
			o.waitRec(t, "auth", "user", opsUser)
			o.waitRec(t, "disconnect", "user", opsUser)

			var failures, others []string
			for _, line := range strings.Split(o.gw.Logs(), "\n") {
				if !strings.HasPrefix(line, "{") && !strings.HasPrefix(line, "time=") {
					continue
				}
				if strings.Contains(line, "auth failed") {
					failures = append(failures, line)
				} else {
					others = append(others, line)
				}
			}
			if len(failures) != 3 {
				t.Fatalf("%d auth-failure lines, want 3:\n%s", len(failures), o.gw.Logs())
			}
			dir := t.TempDir()
			run := func(lines []string) (ips []string) {
				t.Helper()
				file := filepath.Join(dir, "log")
				if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command("fail2ban-regex", "--out", "ip", file, filter)
				b, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("fail2ban-regex: %v\n%s", err, b)
				}
				for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					if l != "" {
						ips = append(ips, l)
					}
				}
				// The summary too: every line's date recognized, counts.
				cmd = exec.Command("fail2ban-regex", file, filter)
				b, err = cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("fail2ban-regex: %v\n%s", err, b)
				}
				m := regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`).FindSubmatch(b)
				if m == nil {
					t.Fatalf("fail2ban-regex summary not found:\n%s", b)
				}
				if n, _ := strconv.Atoi(string(m[3])); n != len(ips) {
					t.Errorf("fail2ban-regex: %s matched but %d addresses printed\n%s", m[3], len(ips), b)
				}
				// fail2ban only bans on lines whose time it understood.
				if d := regexp.MustCompile(`\|  \[(\d+)\] ExYear`).FindSubmatch(b); d == nil || string(d[1]) != strconv.Itoa(len(lines)) {
					t.Errorf("fail2ban-regex did not find the time on each of the %d lines\n%s", len(lines), b)
				}
				return ips
			}
			ips := run(failures)
			if strings.Join(ips, ",") != "127.0.0.1,127.0.0.1,127.0.0.1" {
				t.Errorf("the filter found %q in the auth-failure lines, want 127.0.0.1 three times", ips)
			}
			if ips := run(others); len(ips) != 0 {
				t.Errorf("the filter matched %d other lines (success, connect, ...): %q", len(ips), ips)
			}
			if ips := run(append(others, failures...)); len(ips) != 3 {
				t.Errorf("the filter matched %d lines of the whole log, want 3", len(ips))
			}
		})
	}
}

// TestOpsDockerCompose validates the lab's compose file (docker-compose is
// Debian's; no Docker engine is needed for `config`).
func TestOpsDockerCompose(t *testing.T) {
	e2etest.Require(t, "docker-compose")
	cmd := exec.Command("docker-compose", "-f", "../docker/docker-compose.yml", "config")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	cfg := string(out)
	for _, want := range []string{"gateway:", "mailpit:", "dns:", "/etc/gateway/config.toml", "9925"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("compose config lacks %q:\n%s", want, cfg)
		}
	}
	// The lab's gateway configuration is valid for this binary.
	stdout, stderr, code := e2etest.RunGateway(t, "check-config", "-config", "../docker/lab/config.toml")
	if code != 0 {
		t.Errorf("check-config docker/lab/config.toml: exit %d\n%s%s", code, stdout, stderr)
	}
	// The scale-out variant: HAProxy, two gateways sharing Redis
	// (docker/lab-test.sh runs it).
	out, err = exec.Command("docker-compose", "-f", "../docker/docker-compose.scale.yml", "config").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose -f docker-compose.scale.yml config: %v\n%s", err, out)
	}
	cfg = string(out)
	for _, want := range []string{"haproxy:", "gateway1:", "gateway2:", "redis:", "mailpit:", "dns:", "contrib/haproxy/haproxy.cfg", "config.scale.toml"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("scale-out compose config lacks %q:\n%s", want, cfg)
		}
	}
	stdout, stderr, code = e2etest.RunGateway(t, "check-config", "-config", "../docker/lab/config.scale.toml")
	if code != 0 {
		t.Errorf("check-config docker/lab/config.scale.toml: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `redis = "redis://`) || !strings.Contains(stdout, "proxy_protocol = true") {
		t.Errorf("config.scale.toml: want [state] redis and proxy_protocol:\n%s", stdout)
	}
}

// TestOpsDockerLabDNS plays the lab's zone files on the test DNS server and
// asks check-helo, with the lab configuration, what the gateway would say
// to the lab's clients: the example in docker-compose.yml must pass, the
// client without PTR must not.
func TestOpsDockerLabDNS(t *testing.T) {
	dns := dnstest.Start(t)
	loadZone(t, dns, "../docker/lab/zones/lab.example.net.zone")
	loadZone(t, dns, "../docker/lab/zones/0.30.172.in-addr.arpa.zone")
	helo := func(ip, name string) (string, int) {
		stdout, stderr, code := e2etest.RunGateway(t, "check-helo", "-config", "../docker/lab/config.toml", "-dns", dns.Addr(), "-ip", ip, name)
		return stdout + stderr, code
	}
	// The documented examples: swaks from the docker host, and the client
	// service.
	for _, c := range [][2]string{{"172.30.0.1", "client.lab.example.net"}, {"172.30.0.20", "good.lab.example.net"}} {
		if out, code := helo(c[0], c[1]); code != 0 || !strings.Contains(out, "fcrdns         pass") {
			t.Errorf("check-helo %s from %s: exit %d, want 0 with FCrDNS passing\n%s", c[1], c[0], code, out)
		}
	}
	// A name pointing elsewhere from an address without PTR: tagged only.
	if out, code := helo("172.30.0.21", "elsewhere.lab.example.net"); code != 0 || !strings.Contains(out, "rdns           fail    tag") {
		t.Errorf("check-helo elsewhere.lab.example.net from 172.30.0.21: exit %d, want 0 with rdns tagged\n%s", code, out)
	}
	// And a refusal to see.
	if out, code := helo("172.30.0.21", "DESKTOP-4F2K1"); code != 1 || !strings.Contains(out, "550 5.7.1 Access denied - Invalid HELO name") {
		t.Errorf("check-helo DESKTOP-4F2K1: exit %d, want 1 with the cPanel reply\n%s", code, out)
	}
}

// loadZone reads the A and PTR records of a simple zone file.
func loadZone(t *testing.T, s *dnstest.Server, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	origin := ""
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "$ORIGIN" {
			origin = f[1]
			continue
		}
		if len(f) < 4 || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") || f[0] == "@" {
			continue
		}
		name := f[0] + "." + origin
		switch {
		case f[1] == "IN" && f[2] == "A":
			s.AddA(strings.TrimSuffix(name, "."), f[3])
		case f[1] == "IN" && f[2] == "PTR":
			// d.c.b.a.in-addr.arpa. -> a.b.c.d
			labels := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
			for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
				labels[i], labels[j] = labels[j], labels[i]
			}
			s.AddPTR(strings.Join(labels, "."), strings.TrimSuffix(f[3], "."))
		}
	}
}

// TestOpsDockerBuild runs the exact build command of docker/Dockerfile and
// checks that it makes a static binary that runs.
func TestOpsDockerBuild(t *testing.T) {
	df, err := os.ReadFile("../docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var build string
	for _, line := range strings.Split(string(df), "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			if build != "" {
				t.Fatalf("two go build lines in the Dockerfile")
			}
			build = strings.TrimPrefix(line, "RUN ")
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "-trimpath") || !strings.Contains(build, "-o /out/gateway") {
		t.Fatalf("the Dockerfile's build line is not the expected static build: %q", build)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("sh", "-c", strings.Replace(build, "-o /out/gateway", "-o "+bin, 1))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOFLAGS=") // exactly what the Dockerfile says
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a PT_INTERP program header: it is not static")
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a PT_DYNAMIC program header: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Errorf("%s version: %v %q", bin, err, out)
	}
	// -trimpath: no path of this machine in the binary.
	wd, _ := filepath.Abs("..")
	if b, _ := os.ReadFile(bin); bytes.Contains(b, []byte(wd)) {
		t.Errorf("the binary contains the build directory %s (-trimpath missing?)", wd)
	}

	// The final image: conventional and documented.
	s := string(df)
	for _, want := range []string{
		"USER nonroot", "EXPOSE 25 587 465 9925", "/etc/gateway/config.toml",
		// The default runtime base (a build argument: docker/lab-test.sh
		// builds from stand-ins): CA certificates and /etc/passwd with nonroot.
		"ARG RUNTIME_IMAGE=gcr.io/distroless/static", "FROM ${RUNTIME_IMAGE}",
		"ARG BUILDER_IMAGE=golang:", "FROM ${BUILDER_IMAGE} AS build",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestOpsSystemdUnit checks the unit with systemd-analyze verify (when
// present), pointing it at the binary of this build.
func TestOpsSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../contrib/systemd/gateway.service")
	if err != nil {
		t.Fatal(err)
	}
	u := string(unit)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/gateway serve -config /etc/gateway/config.toml",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"KillSignal=SIGTERM",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=yes",
		"WantedBy=multi-user.target",
		"User=gateway", // contrib/systemd/gateway.sysusers; TestSystemdRecipeServiceUserReadsKey
		"edit /etc/gateway/config.toml",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("gateway.service lacks %q", want)
		}
	}
	if strings.Contains(u, "DynamicUser=yes") {
		t.Errorf("DynamicUser=yes: the service user could not read a key its group owns")
	}
	e2etest.Require(t, "systemd") // the unit's text was checked
	bin := e2etest.BuildGateway(t)
	dir := t.TempDir()
	u = strings.ReplaceAll(u, "/usr/local/bin/gateway", bin)
	path := filepath.Join(dir, "gateway.service")
	if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The profiler is off unless [metrics] pprof = true.
func TestOpsPprof(t *testing.T) {
	e2etest.Require(t, "curl")
	for _, on := range []bool{false, true} {
		met := e2etest.FreeAddr(t, "127.0.0.1")
		mx := e2etest.FreeAddr(t, "127.0.0.1")
		o := opts{mx: mx, dns: startDNS(t), downstream: "maildir:" + t.TempDir(),
			extra: fmt.Sprintf("[metrics]\naddress = %q\npprof = %v\n", met, on)}
		e2etest.StartGateway(t, o.toml(), mx, met)
		out, code := e2etest.Curl(t, "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+met+"/debug/pprof/goroutine?debug=1")
		if code != 0 {
			t.Fatalf("curl: exit %d %s", code, out)
		}
		want := map[bool]string{false: "404", true: "200"}[on]
		if strings.TrimSpace(out) != want {
			t.Errorf("pprof = %v: /debug/pprof/goroutine = %s, want %s", on, out, want)
		}
	}
}

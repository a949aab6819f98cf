package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/heloguard"
)

// Fix texts as heloguard words them, taken from a real evaluation so that
// the test does not copy them.
func fixOf(t testing.TB, check, helo, ip string) string {
	t.Helper()
	p, err := heloguard.NewPolicy(heloguard.Config{Profile: heloguard.ProfileMonitor}, heloguard.Identity{Hostname: "mx.gw-lab.net"})
	if err != nil {
		t.Fatal(err)
	}
	v := p.Evaluate(t.Context(), heloguard.Client{IP: mustAddr(t, ip), HELO: helo, Sent: true, EHLO: true}, nil)
	for _, r := range v.Results {
		if r.Check == check && r.Fix != "" {
			return r.Fix
		}
	}
	t.Fatalf("no fix for %s on HELO %q", check, helo)
	return ""
}

// verdictLine is one helo verdict as the session logs it.
type verdictLine struct {
	conn, ip, helo, would string
	fixes                 map[string]string
}

// writeLog writes a log through the gateway's own logger (newLogger, the
// [log] format given), with the keys and shapes the session uses: the
// connection's attributes, then the verdict's, a fix_<check> per check.
func writeLog(t testing.TB, format string, lines []verdictLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	log := newLogger(config.Log{Format: format, Level: "info"}, &buf)
	log.Info("listening", "listener", "mx", "address", "127.0.0.1:25")
	for _, l := range lines {
		cl := log.With("conn", l.conn, "listener", "mx", "client_ip", l.ip)
		cl.Info("connect", "ptr", "unknown", "kind", "mx", "tls", false)
		args := []any{"helo", l.helo, "action", "tag", "failed", "fqdn=fail/tag", "would_refuse", l.would}
		for _, c := range []string{"fqdn", "bare_ip", "literal", "rdns", "fcrdns"} {
			if f, ok := l.fixes[c]; ok {
				args = append(args, "fix_"+c, f)
			}
		}
		cl.Info("helo verdict", args...)
		cl.Info("disconnect", "duration", "3ms", "commands", "ehlo=1 mail=1 quit=1 commands=3", "helo", l.helo)
	}
	return buf.Bytes()
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseLogLine(t *testing.T) {
	tricky := []string{
		"plain", "with space", `quo"te`, `back\slash`, "new\nline", "tab\there", "key=value", "ünïcødé", "",
		"{\"json\":1}", "trailing ", `\"`, "\x1b[31mred",
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			for _, v := range tricky {
				var buf bytes.Buffer
				log := newLogger(config.Log{Format: format}, &buf)
				log.With("conn", "0123456789ab").Info("helo verdict", "helo", v, "would_refuse", "cpanel:fqdn",
					slog.Group("fix", slog.String("fqdn", v+" fix")), "n", 42, "ok", true)
				rec, err := parseLogLine(buf.Bytes())
				if err != nil {
					t.Fatalf("value %q: %v\n%s", v, err, buf.Bytes())
				}
				want := logRecord{"msg": "helo verdict", "conn": "0123456789ab", "helo": v, "would_refuse": "cpanel:fqdn",
					"fix.fqdn": v + " fix", "n": "42", "ok": "true", "level": "INFO"}
				for k, w := range want {
					if rec[k] != w {
						t.Errorf("value %q: %s = %q, want %q\n%s", v, k, rec[k], w, buf.Bytes())
					}
				}
				if rec["time"] == "" {
					t.Errorf("no time: %s", buf.Bytes())
				}
				// The same line behind a journal prefix.
				rec, err = parseLogLine(append([]byte("Dec 05 09:00:00 mx gateway[42]: "), buf.Bytes()...))
				if err != nil || rec["helo"] != v || rec["msg"] != "helo verdict" {
					t.Errorf("value %q with a journal prefix: %v %v", v, rec, err)
				}
			}
		})
	}
}

func TestParseLogLineErrors(t *testing.T) {
	for _, line := range []string{
		`time=x msg="helo verdict helo=x`,
		`time=x msg="helo verdict"helo=x`,
		`time=x msg="bad \q escape"`,
		`{"msg":"helo verdict","helo":`,
		`{"msg":"helo verdict"} trailing`[:20],
		`"unterminated key=1`,
		`   `,
		`no pairs at all`,
	} {
		if rec, err := parseLogLine([]byte(line)); err == nil {
			t.Errorf("%q: no error, got %v", line, rec)
		}
	}
}

// The report over a log written by the real logger, in both formats,
// from files and from standard input.
func TestHELOReport(t *testing.T) {
	fqdnFix := fixOf(t, "fqdn", "mailserver", "203.0.113.9")
	bareFix := fixOf(t, "bare_ip", "192.0.2.1", "203.0.113.9")
	lines := []verdictLine{
		{conn: "aaaaaaaaaaa1", ip: "203.0.113.9", helo: "mailserver", would: "cpanel:fqdn postfix:fqdn strict:fqdn,rdns",
			fixes: map[string]string{"fqdn": fqdnFix, "rdns": "ask your provider"}},
		{conn: "aaaaaaaaaaa2", ip: "203.0.113.9", helo: "mailserver", would: "cpanel:fqdn postfix:fqdn strict:fqdn,rdns",
			fixes: map[string]string{"fqdn": fqdnFix, "rdns": "ask your provider"}},
		{conn: "aaaaaaaaaaa3", ip: "198.51.100.7", helo: "192.0.2.1", would: "cpanel:bare_ip postfix:bare_ip strict:bare_ip",
			fixes: map[string]string{"bare_ip": bareFix}},
		{conn: "aaaaaaaaaaa4", ip: "192.0.2.7", helo: "mail.sender.example", would: ""},
		{conn: "aaaaaaaaaaa5", ip: "192.0.2.8", helo: "my host \"x\"", would: "strict:rdns",
			fixes: map[string]string{"rdns": "ask your provider"}},
		// A second verdict of session 1 (a new EHLO): one session still.
		{conn: "aaaaaaaaaaa1", ip: "203.0.113.9", helo: "mailserver2", would: "cpanel:fqdn postfix:fqdn strict:fqdn,rdns",
			fixes: map[string]string{"fqdn": fqdnFix, "rdns": "ask your provider"}},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			data := writeLog(t, format, lines)
			path := filepath.Join(t.TempDir(), "gateway.log")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := run([]string{"helo-report", "-json", path}, nil, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var rep heloReportOut
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if rep.Sessions != 5 || rep.Verdicts != 6 || len(rep.Profiles) != 4 {
				t.Fatalf("sessions %d, verdicts %d, profiles %d", rep.Sessions, rep.Verdicts, len(rep.Profiles))
			}
			refused := map[string]int{}
			for _, p := range rep.Profiles {
				refused[p.Profile] = p.Refused
			}
			if refused["cpanel"] != 3 || refused["postfix"] != 3 || refused["strict"] != 4 || refused["monitor"] != 0 {
				t.Errorf("refused %v", refused)
			}
			cp := rep.Profiles[0]
			if cp.Profile != "cpanel" || len(cp.ByCheck) != 2 || cp.ByCheck[0] != (heloCount{"fqdn", 2}) || cp.ByCheck[1] != (heloCount{"bare_ip", 1}) {
				t.Errorf("cpanel by check: %+v", cp.ByCheck)
			}
			c0 := cp.Clients[0]
			if c0.Name != "203.0.113.9" || c0.Sessions != 2 || strings.Join(c0.Seen, ",") != "mailserver,mailserver2" ||
				len(c0.Fixes) != 1 || c0.Fixes[0] != (heloFix{"fqdn", fqdnFix}) {
				t.Errorf("cpanel top client: %+v", c0)
			}
			if n := cp.HELONames[0]; n.Name != "mailserver" || n.Sessions != 2 || strings.Join(n.Seen, ",") != "203.0.113.9" {
				t.Errorf("cpanel top HELO: %+v", n)
			}
			st := rep.Profiles[2]
			if st.ByCheck[0] != (heloCount{"rdns", 3}) || st.Clients[0].Sessions != 2 {
				t.Errorf("strict: %+v", st)
			}

			// The text report, only strict, from standard input.
			out.Reset()
			errOut.Reset()
			if code := run([]string{"helo-report", "-profile", "strict", "-top", "1"}, bytes.NewReader(data), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			text := out.String()
			for _, want := range []string{
				"5 sessions with a helo verdict (6 verdict lines)",
				"profile strict: 4 of 5 sessions would have been refused",
				"  rdns     3\n",
				"    203.0.113.9  2 sessions  HELO: mailserver, mailserver2  checks: fqdn,rdns\n",
				"      fix fqdn: " + fqdnFix + "\n",
				"      fix rdns: ask your provider\n",
				"    mailserver  2 sessions  from: 203.0.113.9  checks: fqdn,rdns\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "profile cpanel") || strings.Contains(text, "198.51.100.7") {
				t.Errorf("-profile strict -top 1 shows more:\n%s", text)
			}
		})
	}
}

func TestHELOReportExit(t *testing.T) {
	dir := t.TempDir()
	good := writeLog(t, "text", []verdictLine{{conn: "bbbbbbbbbbb1", ip: "192.0.2.1", helo: "x", would: "cpanel:fqdn"}})
	bad := append(append([]byte{}, good...), []byte("time=x level=INFO msg=\"helo verdict\" conn=c helo=\"unterminated\n"+
		`time=x level=INFO msg="helo verdict" conn=d helo=y would_refuse="cpanel:"`+"\n")...)
	old := []byte(`time=x level=INFO msg="helo verdict" conn=e helo=y action=tag failed=""` + "\n")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
		stdout string
	}{
		{name: "good", args: []string{write("good.log", good)}, code: 0, stdout: "profile cpanel: 1 of 1 sessions"},
		{name: "bad lines reported, the rest counted", args: []string{write("bad.log", bad)}, code: 1,
			stderr: "bad.log:", stdout: "profile cpanel: 1 of 1 sessions"},
		{name: "older gateway", args: []string{write("old.log", old)}, code: 1, stderr: "no would_refuse field"},
		{name: "no verdict at all", stdin: "hello\n{\"msg\":\"connect\"}\n\x00\xff garbage\n", code: 1, stderr: "no helo verdict line"},
		{name: "unknown profile", args: []string{"-profile", "exim"}, code: 2, stderr: `unknown profile "exim"`},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.log")}, code: 2, stderr: "no such file"},
		{name: "bad flag", args: []string{"-frobnicate"}, code: 2, stderr: "usage: gateway helo-report"},
		{name: "bad top", args: []string{"-top", "0"}, code: 2, stderr: "-top 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"helo-report"}, tc.args...), strings.NewReader(tc.stdin), &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.stderr) || !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errOut.String())
			}
		})
	}
}

// A line longer than the bound is skipped, and the next one read.
func TestHELOReportLongLine(t *testing.T) {
	good := writeLog(t, "json", []verdictLine{{conn: "ccccccccccc1", ip: "192.0.2.1", helo: "x", would: "cpanel:fqdn"}})
	long := append([]byte(`{"msg":"helo verdict","helo":"`), bytes.Repeat([]byte("a"), maxLogLine+10)...)
	long = append(long, "\"}\n"...)
	var out, errOut bytes.Buffer
	code := run([]string{"helo-report", "-json"}, bytes.NewReader(append(long, good...)), &out, &errOut)
	var rep heloReportOut
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != 1 || rep.Verdicts != 1 || !strings.Contains(errOut.String(), "longer than 1 MiB") {
		t.Errorf("exit %d, verdicts %d, %v\n%s", code, rep.Verdicts, err, errOut.String())
	}
}

// FuzzParseLogLine: any input is parsed or refused, never a panic; a value
// written by the real logger reads back the same in both formats.
func FuzzParseLogLine(f *testing.F) {
	for _, format := range []string{"text", "json"} {
		f.Add(string(writeLog(f, format, []verdictLine{{conn: "dddddddddddd", ip: "192.0.2.1", helo: "a b\"c", would: "cpanel:fqdn",
			fixes: map[string]string{"fqdn": "use a name"}}})))
	}
	f.Add(`time=x msg="a\x`)
	f.Add(`{"a":{"b":{"c":1}}}`)
	f.Add(`"k\"=" =v`)
	f.Fuzz(func(t *testing.T, s string) {
		parseLogLine([]byte(s))
		for _, format := range []string{"text", "json"} {
			var buf bytes.Buffer
			newLogger(config.Log{Format: format}, &buf).Info("helo verdict", "helo", s, slog.Group("fix", slog.String("fqdn", s)))
			rec, err := parseLogLine(buf.Bytes())
			if err != nil {
				t.Fatalf("%s: %v\n%q", format, err, buf.Bytes())
			}
			want := s
			if format == "json" && !utf8.ValidString(s) {
				continue // the JSON handler replaces invalid bytes
			}
			if rec["helo"] != want || rec["fix.fqdn"] != want || rec["msg"] != "helo verdict" {
				t.Fatalf("%s: read back %q / %q, want %q\n%q", format, rec["helo"], rec["fix.fqdn"], want, buf.Bytes())
			}
		}
	})
}

// A session that greets well, then badly: one session, and only the bad
// name is listed.
func TestHELOReportSecondGreeting(t *testing.T) {
	data := writeLog(t, "text", []verdictLine{
		{conn: "eeeeeeeeeee1", ip: "192.0.2.1", helo: "mail.good.example", would: ""},
		{conn: "eeeeeeeeeee1", ip: "192.0.2.1", helo: "bad", would: "cpanel:fqdn"},
		{conn: "eeeeeeeeeee2", ip: "192.0.2.2", helo: "mail.good.example", would: ""},
	})
	var out, errOut bytes.Buffer
	if code := run([]string{"helo-report", "-json", "-profile", "cpanel"}, bytes.NewReader(data), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep heloReportOut
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	p := rep.Profiles[0]
	if rep.Sessions != 2 || p.Refused != 1 || len(p.HELONames) != 1 || p.HELONames[0].Name != "bad" ||
		strings.Join(p.Clients[0].Seen, ",") != "bad" {
		t.Errorf("%+v", rep)
	}
}

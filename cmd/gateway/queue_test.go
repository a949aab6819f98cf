package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/queue"
)

// spoolOne commits one message into a spool at dir and releases it (as a
// gateway that stopped, or one whose runner has nothing due).
func spoolOne(t *testing.T, dir string, env queue.Envelope) string {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.Background())
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: a@example.org\r\nSubject: queued\r\n\r\nhello\r\n")
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestQueueCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	id1 := spoolOne(t, dir, queue.Envelope{From: "alice@example.org", To: []queue.Recipient{{Addr: "bob@example.com"}}})
	id2 := spoolOne(t, dir, queue.Envelope{From: "", To: []queue.Recipient{{Addr: "carol@example.com"}}})
	cfg := filepath.Join(t.TempDir(), "gateway.toml")
	os.WriteFile(cfg, []byte(queueConfig("queue", dir)), 0o600)

	runQ := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"queue"}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := runQ("list", "-config", cfg, "-json")
	if code != 0 {
		t.Fatalf("list -json: %d %s", code, errs)
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("list -json line %q: %v", line, err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["id"] != id1 || got[1]["id"] != id2 {
		t.Fatalf("list -json = %v", got)
	}
	for _, k := range []string{"id", "sender", "recipients", "size", "age", "attempts", "last_error"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("list -json lacks %q", k)
		}
	}
	if got[0]["sender"] != "alice@example.org" || got[0]["recipients"].([]any)[0] != "bob@example.com" {
		t.Errorf("list -json first = %v", got[0])
	}

	code, out, _ = runQ("list", "-dir", dir)
	if code != 0 || !strings.Contains(out, id1) || !strings.Contains(out, "<>") || !strings.Contains(out, "2 message(s)") {
		t.Errorf("list: %d\n%s", code, out)
	}
	code, out, _ = runQ("show", "-dir", dir, id1)
	if code != 0 || !strings.Contains(out, "<bob@example.com> pending") || !strings.Contains(out, "Subject: queued") {
		t.Errorf("show: %d\n%s", code, out)
	}
	if code, _, errs = runQ("show", "-dir", dir, "../../etc/passwd"); code != 1 || !strings.Contains(errs, "no such message") {
		t.Errorf("show of a bad id: %d %s", code, errs)
	}
	if code, _, errs = runQ("flush", "-dir", dir); code != 0 {
		t.Errorf("flush: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "wake")); err != nil {
		t.Errorf("flush did not wake the runner: %v", err)
	}
	if code, _, errs = runQ("delete", "-dir", dir, id1); code != 0 {
		t.Errorf("delete: %d %s", code, errs)
	}
	if code, _, _ = runQ("delete", "-dir", dir, id1); code != 1 {
		t.Errorf("second delete: %d, want 1", code)
	}
	if list, _ := queue.List(dir); len(list) != 1 || list[0].ID != id2 {
		t.Errorf("after delete: %v", list)
	}
	for _, bad := range [][]string{{}, {"delete", "-dir", dir}, {"show", "-dir", dir}, {"list"}, {"frob", "-dir", dir}, {"list", "-dir", dir, "-config", cfg}} {
		if code, _, _ := runQ(bad...); code != 2 {
			t.Errorf("queue %v: exit %d, want 2", bad, code)
		}
	}
}

// queueConfig is a configuration serve accepts, in mode, with the spool
// at dir.
func queueConfig(mode, dir string) string {
	return `hostname = "mx.example.net"
local_domains = ["example.com"]
[[listener]]
name = "mx"
address = "127.0.0.1:2525"
kind = "mx"
[relay]
downstream = "smtp://127.0.0.1:25"
mode = "` + mode + `"
[queue]
dir = "` + dir + `"
`
}

// TestQueueCLIConfig: -config is read through config.Load, as serve reads
// it: a file serve refuses is refused with the same errors (not half read
// for its [queue] dir), and a proxy-mode file has no spool.
func TestQueueCLIConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	spoolOne(t, dir, queue.Envelope{From: "alice@example.org", To: []queue.Recipient{{Addr: "bob@example.com"}}})
	write := func(text string) string {
		p := filepath.Join(t.TempDir(), "gateway.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runQ := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"queue"}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := runQ("list", "-config", write(queueConfig("hybrid", dir))); code != 0 || !strings.Contains(out, "1 message(s)") {
		t.Errorf("list with a hybrid-mode file: exit %d\n%s%s", code, out, errs)
	}
	for _, c := range []struct{ name, file string }{
		{"a bad retry_min", queueConfig("queue", dir) + "retry_min = \"1ms\"\n"},
		{"an unknown key", queueConfig("queue", dir) + "max_bites = 5\n"},
		{"no listener", "[relay]\ndownstream = \"smtp://127.0.0.1:25\"\nmode = \"queue\"\n[queue]\ndir = \"" + dir + "\"\n"},
		{"a relative dir", queueConfig("queue", "spool")},
	} {
		path := write(c.file)
		_, want := config.Load(path)
		if want == nil {
			t.Fatalf("%s: config.Load accepts it", c.name)
		}
		code, out, errs := runQ("list", "-config", path)
		if code != 2 || !strings.Contains(errs, want.Error()) {
			t.Errorf("list -config with %s: exit %d, stderr %q; want exit 2 and config.Load's error %q (stdout %q)", c.name, code, errs, want, out)
		}
	}
	code, _, errs := runQ("list", "-config", write(queueConfig("proxy", dir)))
	if code != 2 || !strings.Contains(errs, `relay.mode is "proxy"`) {
		t.Errorf("list -config with a proxy-mode file: exit %d, stderr %q; want exit 2 and a word on the mode", code, errs)
	}
}

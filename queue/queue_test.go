package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type call struct {
	env  Envelope
	body []byte
}

// fakeDeliverer records every attempt and answers with fn.
type fakeDeliverer struct {
	mu    sync.Mutex
	fn    func(env *Envelope, body []byte) ([]Result, error)
	calls []call
}

func (d *fakeDeliverer) Deliver(ctx context.Context, env *Envelope, body io.ReadSeeker, size int64) ([]Result, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, errors.New("size mismatch")
	}
	d.mu.Lock()
	fn := d.fn
	d.calls = append(d.calls, call{env: *env, body: b})
	d.mu.Unlock()
	if fn == nil {
		return all(env, 250, "2.0.0", "ok"), nil
	}
	return fn(env, b)
}

func (d *fakeDeliverer) Calls() []call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]call(nil), d.calls...)
}

// callsFrom returns the attempts for messages from sender.
func (d *fakeDeliverer) callsFrom(sender string) []call {
	var out []call
	for _, c := range d.Calls() {
		if c.env.From == sender {
			out = append(out, c)
		}
	}
	return out
}

// all answers code for every pending recipient.
func all(env *Envelope, code int, enh, text string) []Result {
	var rs []Result
	for _, r := range env.To {
		if r.Status == StatusPending {
			rs = append(rs, Result{Rcpt: r.Addr, Code: code, Enhanced: enh, Text: text})
		}
	}
	return rs
}

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func testQueue(t testing.TB, d Deliverer, mod func(*Options)) (*Queue, *clock) {
	t.Helper()
	c := &clock{t: t0}
	opts := Options{
		Dir:      filepath.Join(t.TempDir(), "spool"),
		RetryMin: time.Minute, RetryMax: 5 * time.Minute, MaxAge: time.Hour,
		Hostname: "gw.example.net",
		Deliver:  d,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      c.Now,
	}
	if testing.Verbose() {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if mod != nil {
		mod(&opts)
	}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q, c
}

const testMsg = "Received: from client.example.org\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nBody line one.\r\nBody line two.\r\n"

func spool(t *testing.T, q *Queue, env Envelope, msg string) string {
	t.Helper()
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func rcpts(addrs ...string) []Recipient {
	var rs []Recipient
	for _, a := range addrs {
		rs = append(rs, Recipient{Addr: a})
	}
	return rs
}

// waitUntil polls cond for up to 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func inSpool(dir, id string) bool {
	_, err := os.Stat(filepath.Join(dir, id+msgExt))
	return err == nil
}

func TestCommitAbort(t *testing.T) {
	q, _ := testQueue(t, &fakeDeliverer{}, nil)
	dir := q.opts.Dir
	env := Envelope{From: "alice@example.org", To: rcpts("bob@example.com"), User: "alice", GatewayID: "gw1", Ret: "hdrs"}
	id := spool(t, q, env, testMsg)
	if !inSpool(dir, id) {
		t.Fatalf("committed message %s not in the spool", id)
	}
	got, hdr, err := Show(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || got.GatewayID != "gw1" || got.Ret != "HDRS" || got.Size != int64(len(testMsg)) || !got.Arrival.Equal(t0) {
		t.Errorf("Show envelope = %+v", got)
	}
	if !strings.HasSuffix(string(hdr), "Subject: hello\r\n\r\n") || strings.Contains(string(hdr), "Body") {
		t.Errorf("Show headers = %q", hdr)
	}
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Recipients[0] != "bob@example.com" || list[0].Size != int64(len(testMsg)) {
		t.Fatalf("List = %+v, %v", list, err)
	}

	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, testMsg)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if inSpool(dir, w.ID()) {
		t.Error("aborted message in the spool")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Errorf("abort left %d files in tmp/", len(ents))
	}
	if s := q.Stats(); s.Messages != 1 || s.Bytes != int64(len(testMsg)) {
		t.Errorf("Stats = %+v, want 1 message of %d bytes", s, len(testMsg))
	}
}

func TestDeliverAndRemove(t *testing.T) {
	d := &fakeDeliverer{}
	q, _ := testQueue(t, d, nil)
	id := spool(t, q, Envelope{From: "alice@example.org", To: rcpts("bob@example.com", "carol@example.com"), Route: "r1"}, testMsg)
	q.Start()
	waitUntil(t, "delivery", func() bool { return !inSpool(q.opts.Dir, id) })
	calls := d.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d attempts, want 1", len(calls))
	}
	if string(calls[0].body) != testMsg || calls[0].env.Route != "r1" || calls[0].env.ID != id {
		t.Errorf("delivered %q (route %q)", calls[0].body, calls[0].env.Route)
	}
	waitUntil(t, "stats", func() bool { s := q.Stats(); return s.Messages == 0 && s.Deliveries["delivered"] == 1 })
	if _, err := os.Stat(filepath.Join(q.opts.Dir, id+stateExt)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left behind: %v", err)
	}
}

func TestRetryBackoff(t *testing.T) {
	d := &fakeDeliverer{fn: func(*Envelope, []byte) ([]Result, error) {
		return nil, errors.New("dial tcp 127.0.0.1:25: connection refused")
	}}
	q, c := testQueue(t, d, nil)
	id := spool(t, q, Envelope{From: "alice@example.org", To: rcpts("bob@example.com")}, testMsg)
	q.Start()
	// RetryMin 1m doubling to RetryMax 5m, ±25% jitter.
	for n, base := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		attempts := n + 1
		var env *Envelope
		waitUntil(t, "attempt", func() bool {
			e, _, err := Show(q.opts.Dir, id)
			env = e
			return err == nil && e.Attempts == attempts
		})
		delay := env.NextAttempt.Sub(c.Now())
		if delay < base*3/4 || delay > base*5/4 {
			t.Errorf("attempt %d: next attempt in %v, want %v ±25%%", attempts, delay, base)
		}
		if !strings.Contains(env.LastError, "connection refused") {
			t.Errorf("last error %q", env.LastError)
		}
		// Not before it is due.
		c.Add(delay / 2)
		q.kick()
		time.Sleep(20 * time.Millisecond)
		if got := len(d.Calls()); got != attempts {
			t.Fatalf("%d attempts before the retry was due, want %d", got, attempts)
		}
		c.Add(delay - delay/2)
		q.kick()
	}
}

// parsedDSN is a DSN read back with net/mail and mime/multipart.
type parsedDSN struct {
	hdr        mail.Header
	text       string
	statusType string
	perMsg     textproto.MIMEHeader
	perRcpt    []textproto.MIMEHeader
	origType   string
	orig       string
}

func parseDSN(t *testing.T, b []byte) *parsedDSN {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	p := &parsedDSN{hdr: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("%d parts, want 3", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch i {
		case 0:
			if ct != "text/plain" {
				t.Errorf("part 1 is %s", ct)
			}
			p.text = string(body)
		case 1:
			p.statusType = ct
			tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
			if p.perMsg, err = tr.ReadMIMEHeader(); err != nil {
				t.Fatalf("per-message fields: %v", err)
			}
			for {
				h, err := tr.ReadMIMEHeader()
				if len(h) > 0 {
					p.perRcpt = append(p.perRcpt, h)
				}
				if err != nil {
					break
				}
			}
		case 2:
			p.origType, p.orig = ct, string(body)
		}
	}
	return p
}

func TestPartialFailureDSN(t *testing.T) {
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		if env.From == "" {
			return all(env, 250, "2.0.0", "ok"), nil
		}
		return []Result{
			{Rcpt: "bob@example.com", Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as ABC"},
			{Rcpt: "nobody@example.com", Code: 550, Enhanced: "5.1.1", Text: "<nobody@example.com>: Recipient address rejected: User unknown in local recipient table"},
		}, nil
	}}
	q, _ := testQueue(t, d, nil)
	env := Envelope{From: "alice@example.org", EnvID: "QQ314159", To: []Recipient{
		{Addr: "bob@example.com"}, {Addr: "nobody@example.com", ORcpt: "rfc822;Nobody@Example.com"},
	}}
	id := spool(t, q, env, testMsg)
	q.Start()
	waitUntil(t, "the DSN's delivery", func() bool { return len(d.callsFrom("")) == 1 && !inSpool(q.opts.Dir, id) })
	if n := len(d.callsFrom("alice@example.org")); n != 1 {
		t.Errorf("original attempted %d times, want 1 (bob must not get it twice)", n)
	}
	dsn := d.callsFrom("")[0]
	if len(dsn.env.To) != 1 || dsn.env.To[0].Addr != "alice@example.org" || !slicesEq(dsn.env.To[0].Notify, []string{"NEVER"}) {
		t.Errorf("DSN envelope to %+v", dsn.env.To)
	}
	p := parseDSN(t, dsn.body)
	if got := p.hdr.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@gw.example.net>" {
		t.Errorf("From: %q", got)
	}
	if got := p.hdr.Get("To"); got != "<alice@example.org>" {
		t.Errorf("To: %q", got)
	}
	if p.hdr.Get("Auto-Submitted") != "auto-replied" {
		t.Error("no Auto-Submitted: auto-replied")
	}
	if p.statusType != "message/delivery-status" {
		t.Errorf("status part %q", p.statusType)
	}
	if got := p.perMsg.Get("Reporting-MTA"); got != "dns; gw.example.net" {
		t.Errorf("Reporting-MTA %q", got)
	}
	if got := p.perMsg.Get("Original-Envelope-Id"); got != "QQ314159" {
		t.Errorf("Original-Envelope-Id %q", got)
	}
	if _, err := mail.ParseDate(p.perMsg.Get("Arrival-Date")); err != nil {
		t.Errorf("Arrival-Date: %v", err)
	}
	if len(p.perRcpt) != 1 {
		t.Fatalf("%d recipients in the DSN, want 1 (only the failed one)", len(p.perRcpt))
	}
	r := p.perRcpt[0]
	want := map[string]string{
		"Final-Recipient":    "rfc822; nobody@example.com",
		"Original-Recipient": "rfc822;Nobody@Example.com",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Diagnostic-Code":    "smtp; 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table",
	}
	for k, v := range want {
		if got := r.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(p.text, "nobody@example.com") || !strings.Contains(p.text, "User unknown") {
		t.Errorf("human part does not name the recipient and reason:\n%s", p.text)
	}
	if p.origType != "message/rfc822" || p.orig != testMsg {
		t.Errorf("returned message %s %q, want the full original", p.origType, p.orig)
	}
	waitUntil(t, "stats", func() bool { s := q.Stats(); return s.DSNs["failed"] == 1 && s.Deliveries["partial"] == 1 })
}

func slicesEq(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestDSNChoices(t *testing.T) {
	tests := []struct {
		name       string
		env        Envelope
		code       int
		wantDSN    bool
		wantAction string
		wantStatus string // status part's type
		wantOrig   string // returned part's type
		wantBody   bool
	}{
		{name: "null sender never", env: Envelope{From: "", To: rcpts("x@example.com")}, code: 550},
		{name: "notify never", env: Envelope{From: "a@example.org", To: []Recipient{{Addr: "x@example.com", Notify: []string{"NEVER"}}}}, code: 550},
		{name: "notify success only, failed", env: Envelope{From: "a@example.org", To: []Recipient{{Addr: "x@example.com", Notify: []string{"success"}}}}, code: 550},
		{name: "default notify, delivered", env: Envelope{From: "a@example.org", To: rcpts("x@example.com")}, code: 250},
		{name: "notify success, delivered", env: Envelope{From: "a@example.org", To: []Recipient{{Addr: "x@example.com", Notify: []string{"SUCCESS", "FAILURE"}}}}, code: 250,
			wantDSN: true, wantAction: "delivered", wantStatus: "message/delivery-status", wantOrig: "message/rfc822", wantBody: true},
		{name: "ret hdrs", env: Envelope{From: "a@example.org", Ret: "HDRS", To: rcpts("x@example.com")}, code: 554,
			wantDSN: true, wantAction: "failed", wantStatus: "message/delivery-status", wantOrig: "text/rfc822-headers"},
		{name: "smtputf8", env: Envelope{From: "ålice@exämple.org", SMTPUTF8: true, To: rcpts("x@example.com")}, code: 550,
			wantDSN: true, wantAction: "failed", wantStatus: "message/global-delivery-status", wantOrig: "message/global", wantBody: true},
		{name: "binarymime returns headers", env: Envelope{From: "a@example.org", Body: "BINARYMIME", To: rcpts("x@example.com")}, code: 550,
			wantDSN: true, wantAction: "failed", wantStatus: "message/delivery-status", wantOrig: "text/rfc822-headers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
				if env.From == "" && env.To[0].Notify != nil {
					return all(env, 250, "", "ok"), nil // the DSN
				}
				return all(env, tc.code, "", "answer"), nil
			}}
			q, _ := testQueue(t, d, nil)
			id := spool(t, q, tc.env, testMsg)
			q.Start()
			waitUntil(t, "delivery", func() bool { return !inSpool(q.opts.Dir, id) })
			time.Sleep(50 * time.Millisecond) // a DSN would be spooled before the removal; give the runner a moment
			var dsns []call
			for _, c := range d.Calls() {
				if c.env.ID != id {
					dsns = append(dsns, c)
				}
			}
			if !tc.wantDSN {
				if len(dsns) != 0 || q.Stats().Messages != 0 {
					t.Fatalf("%d DSNs, want none", len(dsns))
				}
				return
			}
			waitUntil(t, "DSN", func() bool {
				dsns = nil
				for _, c := range d.Calls() {
					if c.env.ID != id {
						dsns = append(dsns, c)
					}
				}
				return len(dsns) == 1
			})
			if dsns[0].env.SMTPUTF8 != tc.env.SMTPUTF8 {
				t.Errorf("DSN SMTPUTF8 %v", dsns[0].env.SMTPUTF8)
			}
			p := parseDSN(t, dsns[0].body)
			if got := p.perRcpt[0].Get("Action"); got != tc.wantAction {
				t.Errorf("Action %q, want %q", got, tc.wantAction)
			}
			if p.statusType != tc.wantStatus || p.origType != tc.wantOrig {
				t.Errorf("parts %s, %s; want %s, %s", p.statusType, p.origType, tc.wantStatus, tc.wantOrig)
			}
			if hasBody := strings.Contains(p.orig, "Body line one."); hasBody != tc.wantBody {
				t.Errorf("returned body: %v, want %v", hasBody, tc.wantBody)
			}
			if !strings.Contains(p.orig, "Subject: hello") {
				t.Errorf("returned part lacks the headers: %q", p.orig)
			}
		})
	}
}

func TestMaxAgeAndDelayWarning(t *testing.T) {
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		if env.From == "" {
			return all(env, 250, "", "ok"), nil
		}
		return all(env, 451, "4.3.0", "mailbox busy"), nil
	}}
	q, c := testQueue(t, d, func(o *Options) { o.DelayWarning = 10 * time.Minute; o.MaxAge = 30 * time.Minute })
	id := spool(t, q, Envelope{From: "alice@example.org", To: rcpts("bob@example.com")}, testMsg)
	q.Start()
	dsnsOf := func(action string) []*parsedDSN {
		var out []*parsedDSN
		for _, cl := range d.callsFrom("") {
			p := parseDSN(t, cl.body)
			if p.perRcpt[0].Get("Action") == action {
				out = append(out, p)
			}
		}
		return out
	}
	// Step the clock a minute at a time up to max_age; the runner retries.
	for i := 0; i < 31; i++ {
		c.Add(time.Minute)
		q.kick()
		time.Sleep(15 * time.Millisecond)
		if i == 8 && len(dsnsOf("delayed")) != 0 {
			t.Fatal("delay warning before delay_warning")
		}
	}
	waitUntil(t, "expiry", func() bool { return !inSpool(q.opts.Dir, id) && len(dsnsOf("failed")) == 1 })
	delayed := dsnsOf("delayed")
	if len(delayed) != 1 {
		t.Fatalf("%d delay warnings, want exactly 1", len(delayed))
	}
	if got := delayed[0].perRcpt[0].Get("Status"); got != "4.3.0" {
		t.Errorf("delayed Status %q", got)
	}
	if delayed[0].perRcpt[0].Get("Will-Retry-Until") == "" {
		t.Error("delayed DSN without Will-Retry-Until")
	}
	f := dsnsOf("failed")[0].perRcpt[0]
	if f.Get("Status") != "5.4.7" || f.Get("Diagnostic-Code") != "smtp; 451 4.3.0 mailbox busy" {
		t.Errorf("expiry DSN: Status %q, Diagnostic-Code %q", f.Get("Status"), f.Get("Diagnostic-Code"))
	}
	waitUntil(t, "stats", func() bool { s := q.Stats(); return s.Deliveries["expired"] == 1 && s.DSNs["delayed"] == 1 })
}

func TestSpaceMaxBytes(t *testing.T) {
	q, _ := testQueue(t, &fakeDeliverer{}, func(o *Options) { o.MaxBytes = 2 * int64(len(testMsg)) })
	env := Envelope{From: "alice@example.org", To: rcpts("bob@example.com")}
	spool(t, q, env, testMsg)
	if err := q.Space(); err != nil {
		t.Fatalf("Space with room: %v", err)
	}
	w, err := q.Create(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, testMsg+"x"); !errors.Is(err, ErrFull) {
		t.Fatalf("Write over the cap: %v, want ErrFull", err)
	}
	if _, err := w.Commit(); !errors.Is(err, ErrFull) {
		t.Fatalf("Commit after ErrFull: %v", err)
	}
	spool(t, q, env, testMsg)
	if err := q.Space(); !errors.Is(err, ErrFull) {
		t.Fatalf("Space at the cap: %v, want ErrFull", err)
	}
	if _, err := q.Create(env); !errors.Is(err, ErrFull) {
		t.Fatalf("Create at the cap: %v, want ErrFull", err)
	}
}

func TestSpaceMinFree(t *testing.T) {
	q, _ := testQueue(t, &fakeDeliverer{}, func(o *Options) { o.MinFreeBytes = 1 << 62 })
	if err := q.Space(); !errors.Is(err, ErrFull) {
		t.Fatalf("Space under the free-space floor: %v, want ErrFull", err)
	}
}

func TestConcurrencyPerRoute(t *testing.T) {
	var mu sync.Mutex
	inflight, peak := map[string]int{}, map[string]int{}
	release := make(chan struct{})
	var unblock sync.Once
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		mu.Lock()
		inflight[env.Route]++
		peak[env.Route] = max(peak[env.Route], inflight[env.Route])
		mu.Unlock()
		<-release
		mu.Lock()
		inflight[env.Route]--
		mu.Unlock()
		return all(env, 250, "", "ok"), nil
	}}
	q, _ := testQueue(t, d, func(o *Options) { o.Concurrency = 2 })
	t.Cleanup(func() { unblock.Do(func() { close(release) }) }) // before testQueue's Stop
	for i := 0; i < 6; i++ {
		spool(t, q, Envelope{From: "a@example.org", To: rcpts("b@example.com"), Route: "slow"}, testMsg)
	}
	fast := spool(t, q, Envelope{From: "a@example.org", To: rcpts("b@example.com"), Route: "other"}, testMsg)
	q.Start()
	waitUntil(t, "both routes busy", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inflight["slow"] == 2 && inflight["other"] == 1
	})
	time.Sleep(50 * time.Millisecond)
	unblock.Do(func() { close(release) })
	waitUntil(t, "all delivered", func() bool { return q.Stats().Messages == 0 })
	mu.Lock()
	defer mu.Unlock()
	if peak["slow"] != 2 {
		t.Errorf("peak in flight on route slow %d, want 2", peak["slow"])
	}
	_ = fast
}

func TestOpenTwice(t *testing.T) {
	q, _ := testQueue(t, &fakeDeliverer{}, nil)
	_, err := Open(Options{Dir: q.opts.Dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another gateway process") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestFlushAndDeleteAgainstRunner(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	started := make(chan struct{})
	var unblock sync.Once
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		if env.To[0].Addr == "slow@example.com" {
			once.Do(func() { close(started) })
			<-block
			return all(env, 250, "", "ok"), nil
		}
		return nil, errors.New("connection refused")
	}}
	q, _ := testQueue(t, d, func(o *Options) { o.RetryMin, o.RetryMax = time.Hour, time.Hour })
	t.Cleanup(func() { unblock.Do(func() { close(block) }) }) // before testQueue's Stop
	dir := q.opts.Dir
	deferred := spool(t, q, Envelope{From: "a@example.org", To: rcpts("later@example.com")}, testMsg)
	slow := spool(t, q, Envelope{From: "a@example.org", To: rcpts("slow@example.com")}, testMsg)
	q.Start()
	waitUntil(t, "first attempt", func() bool { e, _, err := Show(dir, deferred); return err == nil && e.Attempts == 1 })
	<-started

	// Flush: due now, the runner wakes within its poll interval (real time; the fake clock stands still).
	if err := Flush(dir, deferred); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the flushed retry", func() bool { e, _, err := Show(dir, deferred); return err == nil && e.Attempts == 2 })

	// Delete of a message being delivered waits for the attempt.
	done := make(chan error, 1)
	go func() { done <- Delete(dir, slow) }()
	select {
	case err := <-done:
		t.Fatalf("Delete returned during the attempt: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	unblock.Do(func() { close(block) })
	if err := <-done; err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete: %v", err)
	}
	if inSpool(dir, slow) {
		t.Fatal("deleted message still in the spool")
	}
	if err := Delete(dir, deferred); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the runner to forget deleted messages", func() bool { return q.Stats().Messages == 0 })
	n := len(d.Calls())
	time.Sleep(1500 * time.Millisecond)
	if len(d.Calls()) != n {
		t.Error("a deleted message was attempted")
	}
	for _, bad := range []string{"../lock", "", "0123456789abcdef0123456g"} {
		if err := Delete(dir, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", bad, err)
		}
		if _, _, err := Show(dir, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

// TestRecovery simulates what a crash leaves: a temporary file never
// committed, a state file whose message was removed, a truncated message
// file, and a state update lost after the downstream took the message
// (the duplicate window: delivered again).
func TestRecovery(t *testing.T) {
	d := &fakeDeliverer{}
	q, c := testQueue(t, d, nil)
	dir := q.opts.Dir
	env := Envelope{From: "alice@example.org", To: rcpts("bob@example.com", "carol@example.com")}
	committed := spool(t, q, env, testMsg)
	lost := spool(t, q, env, testMsg)
	truncated := spool(t, q, env, testMsg)
	w, err := q.Create(env) // in tmp/, never committed
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, testMsg)
	w.bw.Flush()
	// "lost": bob was delivered, the state says so; then a crash loses a
	// later update (carol's delivery): carol is delivered again.
	e, _, _ := Show(dir, lost)
	e.To[0].Status = StatusDelivered
	e.Attempts = 1
	if err := writeState(&dirSyncer{dir: dir}, e); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "0000000000000000deadbeef"+stateExt), []byte("{}"), 0o600)
	b, _ := os.ReadFile(filepath.Join(dir, truncated+msgExt))
	os.WriteFile(filepath.Join(dir, truncated+msgExt), b[:len(b)-10], 0o600)
	q.Stop(context.Background()) // the "crash": nothing more is written

	q2, err := Open(Options{Dir: dir, Deliver: d, Hostname: "gw.example.net", Now: c.Now, Log: q.opts.Log})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Stop(context.Background())
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Errorf("tmp/ not emptied: %d files", len(ents))
	}
	if _, err := os.Stat(filepath.Join(dir, "0000000000000000deadbeef"+stateExt)); !errors.Is(err, os.ErrNotExist) {
		t.Error("orphan state file kept")
	}
	if _, err := os.Stat(filepath.Join(dir, quarantineDir, truncated+msgExt)); err != nil {
		t.Errorf("truncated message not quarantined: %v", err)
	}
	if s := q2.Stats(); s.Messages != 2 {
		t.Errorf("recovered %d messages, want 2", s.Messages)
	}
	q2.Start()
	waitUntil(t, "recovered messages delivered", func() bool { return q2.Stats().Messages == 0 })
	got := map[string][]string{}
	for _, cl := range d.Calls() {
		for _, r := range cl.env.To {
			if r.Status == StatusPending {
				got[cl.env.ID] = append(got[cl.env.ID], r.Addr)
			}
		}
		if cl.env.ID == truncated || cl.env.ID == w.ID() {
			t.Errorf("delivered %s, which was never committed whole", cl.env.ID)
		}
	}
	if slicesEq(got[committed], []string{"bob@example.com", "carol@example.com"}) == false || !slicesEq(got[lost], []string{"carol@example.com"}) {
		t.Errorf("delivered to %v", got)
	}
}

func TestCorruptBodyQuarantined(t *testing.T) {
	d := &fakeDeliverer{}
	q, _ := testQueue(t, d, nil)
	id := spool(t, q, Envelope{From: "a@example.org", To: rcpts("b@example.com")}, testMsg)
	p := filepath.Join(q.opts.Dir, id+msgExt)
	b, _ := os.ReadFile(p)
	i := bytes.Index(b, []byte("Body line one"))
	b[i] = 'X' // same size, wrong checksum
	os.WriteFile(p, b, 0o600)
	q.Start()
	waitUntil(t, "quarantine", func() bool { return !inSpool(q.opts.Dir, id) })
	if len(d.Calls()) != 0 {
		t.Fatal("a corrupt message was delivered")
	}
	if _, err := os.Stat(filepath.Join(q.opts.Dir, quarantineDir, id+msgExt)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "stats", func() bool { return q.Stats().Deliveries["corrupt"] == 1 })
}

func FuzzReadEnvelope(f *testing.F) {
	env := Envelope{ID: newID(t0), From: "a@example.org", To: []Recipient{{Addr: "b@example.com", Notify: []string{"DELAY"}, ORcpt: "rfc822;b@example.com"}}, Arrival: t0}
	hdr, _ := encodeHeader(&env)
	good := append(append(hdr, testMsg...), encodeTrailer(int64(len(testMsg)), 0)...)
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add([]byte("GWQ1 00000002\n{}\nGWQ1 END 0000000000000000 00000000\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readEnvelope(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		if m.bodyOff+m.size > int64(len(b)) || m.size < 0 || !validID(m.env.ID) || len(m.env.To) == 0 {
			t.Fatalf("accepted an inconsistent file: %+v", m)
		}
		m.checkBody(bytes.NewReader(b))
		if s, err := parseState(b, len(m.env.To)); err == nil {
			s.apply(&m.env)
		}
	})
}

func TestDelivererPanicIsRetried(t *testing.T) {
	n := 0
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		n++
		if n == 1 {
			panic("boom")
		}
		return all(env, 250, "", "ok"), nil
	}}
	q, c := testQueue(t, d, nil)
	id := spool(t, q, Envelope{From: "a@example.org", To: rcpts("b@example.com")}, testMsg)
	q.Start()
	waitUntil(t, "the failed attempt", func() bool { e, _, err := Show(q.opts.Dir, id); return err == nil && e.Attempts == 1 })
	c.Add(2 * time.Minute)
	q.kick()
	waitUntil(t, "the retry", func() bool { return !inSpool(q.opts.Dir, id) })
}

// TestSpaceHeadroom: Space keeps room for the largest message that can
// arrive, under MaxBytes and over the free-space floor, so that MAIL is
// refused (and /readyz unready) before a write can fail for lack of room.
func TestSpaceHeadroom(t *testing.T) {
	n := int64(len(testMsg))
	q, _ := testQueue(t, &fakeDeliverer{}, func(o *Options) { o.MaxBytes = 10 * n; o.MaxMessageBytes = 3 * n })
	env := Envelope{From: "alice@example.org", To: rcpts("bob@example.com")}
	for i := 0; i < 7; i++ {
		spool(t, q, env, testMsg)
	}
	if err := q.Space(); err != nil {
		t.Fatalf("Space with room for one more message of MaxMessageBytes: %v", err)
	}
	spool(t, q, env, testMsg) // 8 of 10: a message of 3 no longer fits
	if err := q.Space(); !errors.Is(err, ErrFull) {
		t.Fatalf("Space with %d bytes left under MaxBytes for messages of up to %d: %v, want ErrFull", 2*n, 3*n, err)
	}

	dir := t.TempDir()
	free, err := freeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		floor, maxMsg int64
		full          bool
	}{
		{"floor and headroom fit", free / 4, free / 4, false},
		{"headroom over the floor does not fit", free / 2, free * 3 / 4, true},
		{"no floor, a message larger than the free space", 0, free + free/2, true},
	} {
		q, _ := testQueue(t, &fakeDeliverer{}, func(o *Options) { o.MinFreeBytes = c.floor; o.MaxMessageBytes = c.maxMsg })
		if err := q.Space(); errors.Is(err, ErrFull) != c.full {
			t.Errorf("%s (free %d, floor %d, max message %d): Space = %v, want full %v", c.name, free, c.floor, c.maxMsg, err, c.full)
		}
	}
}

// TestRouteHeldWhileUnreachable: when the downstream of a route cannot be
// reached (ErrUnreachable), the other due messages of that route wait
// for the hold instead of each being tried (a connection attempt and a
// state write per message per retry); another route goes on; when a
// session reaches the downstream (Reachable) the waiting ones go at once,
// and the two that failed at their own next attempt.
func TestRouteHeldWhileUnreachable(t *testing.T) {
	var mu sync.Mutex
	down := true
	d := &fakeDeliverer{fn: func(env *Envelope, _ []byte) ([]Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if down && env.Route == "legacy" {
			return nil, fmt.Errorf("%w: dial tcp 10.0.0.5:25: connect: connection refused", ErrUnreachable)
		}
		return all(env, 250, "2.0.0", "ok"), nil
	}}
	q, clk := testQueue(t, d, func(o *Options) { o.Concurrency = 2 })
	for i := 0; i < 20; i++ {
		spool(t, q, Envelope{From: "a@example.org", To: rcpts("b@example.com"), Route: "legacy"}, testMsg)
	}
	q.Start()
	waitUntil(t, "the first attempts", func() bool { return len(d.callsFrom("a@example.org")) >= 2 })
	other := spool(t, q, Envelope{From: "c@example.org", To: rcpts("d@example.com"), Route: "other"}, testMsg)
	waitUntil(t, "the other route delivered", func() bool { return !inSpool(q.opts.Dir, other) })
	time.Sleep(300 * time.Millisecond) // the runner had every chance to try the rest
	if n := len(d.callsFrom("a@example.org")); n != 2 {
		t.Fatalf("%d attempts on the unreachable route before its hold ended, want 2 (its concurrency)", n)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	q.Reachable("legacy") // the clock stands still: only this ends the hold
	waitUntil(t, "the 18 that waited delivered", func() bool { return q.Stats().Messages == 2 })
	clk.Add(2 * time.Minute) // the two messages' own retry (RetryMin 1m ±25%)
	waitUntil(t, "all delivered", func() bool { return q.Stats().Messages == 0 })
	if n := len(d.callsFrom("a@example.org")); n != 22 {
		t.Errorf("%d attempts in all, want 22 (2 failed, then 20 delivered)", n)
	}
}

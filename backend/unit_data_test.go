package backend_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/listener"
	"github.com/smtpgateway/gateway/message"
	"github.com/smtpgateway/gateway/relay"
	"github.com/smtpgateway/gateway/reply"
)

// open greets and opens a transaction to bob@local-one.net.
func (c *client) open() {
	c.t.Helper()
	c.ehlo(clientHELO)
	c.tx()
}

// tx opens a transaction to bob@local-one.net.
func (c *client) tx() {
	c.t.Helper()
	c.expect("MAIL FROM:<sender@remote.example>", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RCPT TO:<bob@local-one.net>", "250 2.0.0 I'll make sure <bob@local-one.net> gets this")
}

var queuedRE = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as ` + fakeQID + ` \(gateway id ([0-9a-f]{12})\.([0-9]+)\)$`)

// The 250 carries the downstream's queue id and ours, which is the id of
// the Received field; the message reaches the downstream once, exactly as
// sent, under the Received field.
func TestDataQueued(t *testing.T) {
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.open()
	got := c.data(msg)
	m := queuedRE.FindStringSubmatch(got[0])
	if len(got) != 1 || m == nil || m[2] != "1" {
		t.Fatalf("DATA: %q", got)
	}
	connID := m[1]
	c.sync()
	tx := tg.tx(t, 0)
	if tx.DataCalls != 1 || !tx.Delivered || tx.Aborted || tx.ReadErr != nil {
		t.Fatalf("downstream: %+v", tx)
	}
	received, rest, ok := strings.Cut(tx.Data, "\r\nFrom: ")
	if !ok || "From: "+rest != msg {
		t.Fatalf("message changed on the way:\n%s", tx.Data)
	}
	wantRcv := regexp.MustCompile(`^Received: from mx\.client-one\.net \(unknown \[127\.0\.0\.1\]\)\r\n` +
		`\tby mx\.gw-one\.net \(gateway\) with ESMTP id ` + connID + `\.1\r\n` +
		`\tfor <bob@local-one\.net>; [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$`)
	if !wantRcv.MatchString(received) {
		t.Fatalf("Received field:\n%s", received)
	}

	// The next transaction of the session: id .2; a downstream 250
	// without a queue id.
	tg.setData(&reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Message accepted"}, nil)
	c.tx()
	c.expect("RCPT TO:<carol@local-one.net>", "250 2.0.0 I'll make sure <carol@local-one.net> gets this")
	got = c.data(msg)
	if want := "250 2.0.0 Ok: accepted by the downstream server (gateway id " + connID + ".2)"; len(got) != 1 || got[0] != want {
		t.Fatalf("DATA: %q, want %q", got, want)
	}
	c.sync()
	tx = tg.tx(t, 1)
	if tx.DataCalls != 1 || !tx.Delivered || strings.Contains(tx.Data, "\tfor <") {
		t.Fatalf("second transaction (two recipients, no \"for\"): %+v", tx)
	}
	_, relayed, _ := h.metrics.snapshot()
	if !equal(relayed, []string{"down delivered", "down delivered"}) {
		t.Fatalf("relay metrics %q", relayed)
	}
}

// A HELO client: Received says SMTP.
func TestDataHELOClient(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.expect("HELO "+clientHELO, "250 2.0.0 Hello "+clientHELO)
	c.tx()
	if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if d := tg.tx(t, 0).Data; !strings.Contains(d, " (gateway) with SMTP id ") {
		t.Fatalf("Received:\n%s", d)
	}
}

// A refusal or failure at the end of data: the downstream's refusal as
// it was given, anything else 451 4.4.1; the transaction is aborted and
// the session goes on.
func TestDataDownstreamFailure(t *testing.T) {
	const unavailable = "451 4.4.1 Error: the mail server behind this gateway is temporarily unavailable, try again later"
	cases := []struct {
		name    string
		err     error
		want    []string
		outcome string
	}{
		{"5xx", &relay.ReplyError{Reply: &reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Message rejected: spam"}},
			[]string{"554 5.7.1 Message rejected: spam"}, "rejected"},
		{"5xx_multiline", &relay.ReplyError{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 6, 0}, Text: "Content rejected\nSee the policy"}},
			[]string{"550-Content rejected", "550 5.6.0 See the policy"}, "rejected"},
		{"4xx", &relay.ReplyError{Reply: &reply.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Text: "Insufficient system storage"}},
			[]string{"452 4.3.1 Insufficient system storage"}, "deferred"},
		{"421", &relay.ReplyError{Reply: &reply.Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Text: "down.example Error: timeout exceeded"}},
			[]string{"451 4.4.1 down.example Error: timeout exceeded"}, "deferred"},
		{"unavailable", fmt.Errorf("%w: end of data: connection reset by peer", relay.ErrUnavailable),
			[]string{unavailable}, "failed"},
		// The downstream timing out is not the client going away: the
		// client is still there and must hear the truth.
		{"downstream_timeout", fmt.Errorf("%w: writing message: %w", relay.ErrUnavailable, os.ErrDeadlineExceeded),
			[]string{unavailable}, "failed"},
		{"downstream_eof", fmt.Errorf("%w: reading reply: %w", relay.ErrUnavailable, io.ErrUnexpectedEOF),
			[]string{unavailable}, "failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("down")
			tg.dataErr = tc.err
			h := start(t, newEnv(t, tg), opts{})
			c := h.dial()
			c.open()
			if got := c.data(msg); !equal(got, tc.want) {
				t.Fatalf("DATA:\n got %q\nwant %q", got, tc.want)
			}
			c.sync()
			tx := tg.tx(t, 0)
			if tx.DataCalls != 1 || tx.Delivered || !tx.Aborted {
				t.Fatalf("downstream: %+v", tx)
			}
			_, relayed, _ := h.metrics.snapshot()
			if !equal(relayed, []string{"down " + tc.outcome}) {
				t.Fatalf("relay metrics %q", relayed)
			}
			// The session goes on.
			tg.setData(nil, nil)
			c.tx()
			if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
				t.Fatalf("DATA after the failure: %q", got)
			}
		})
	}
}

// Bare line endings and NULs in reject mode: refused, the downstream
// never gets the end of data, the rest of the message is read and the
// session goes on.
func TestDataSmugglingRejected(t *testing.T) {
	cases := []struct {
		name string
		helo bool
		body string
		want []string
	}{
		{"bare_lf", false, "Subject: x\r\n\r\nline one\nline two\r\n", []string{
			"550-Line 3 ends in bare <LF>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
			"550 5.5.2 Error: bare <LF> received"}},
		{"bare_lf_smuggling", false, "Subject: x\r\n\r\nhi\r\n\n.\nMAIL FROM:<evil@remote.example>\r\n", []string{
			"550-Line 4 ends in bare <LF>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
			"550 5.5.2 Error: bare <LF> received"}},
		{"bare_cr", false, "Subject: x\r\n\r\nline one\rline two\r\n", []string{
			"550-Line 3 ends in bare <CR>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
			"550 5.5.2 Error: bare <CR> received"}},
		{"bare_lf_helo", true, "Subject: x\nHello\r\n", []string{
			"550-Line 1 ends in bare <LF>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
			"550 Error: bare <LF> received"}},
		// go-smtp's dot reader turns ".<CR>" into nothing; the guard saw it.
		{"dot_bare_cr", false, "Subject: x\r\n\r\nhi\r\n.\r\r\nMAIL FROM:<evil@remote.example>\r\n", []string{
			"550-Line 4 ends in bare <CR>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
			"550 5.5.2 Error: bare <CR> received"}},
		{"nul", false, "Subject: x\r\n\r\nnul \x00 here\r\n", []string{
			"550 5.6.0 Error: message contains a NUL byte; NUL is not allowed in SMTP mail (RFC 5321 section 2.3.8)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("down")
			h := start(t, newEnv(t, tg), opts{})
			c := h.dial()
			if tc.helo {
				c.expect("HELO "+clientHELO, "250 2.0.0 Hello "+clientHELO)
				c.tx()
			} else {
				c.open()
			}
			if got := c.data(tc.body); !equal(got, tc.want) {
				t.Fatalf("DATA:\n got %q\nwant %q", got, tc.want)
			}
			c.sync()
			tx := tg.tx(t, 0)
			var fe *message.FilterError
			if tx.Delivered || !tx.Aborted || !errors.As(tx.ReadErr, &fe) {
				t.Fatalf("downstream: %+v", tx)
			}
			if strings.Contains(tx.Data, "evil") {
				t.Fatalf("bytes after the refused one reached the downstream:\n%q", tx.Data)
			}
			// The gateway's own refusal is no downstream failure.
			if _, relayed, _ := h.metrics.snapshot(); !equal(relayed, []string{"down refused"}) {
				t.Fatalf("relay outcomes %q, want [down refused]", relayed)
			}
			c.tx()
			if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
				t.Fatalf("DATA after the refusal: %q", got)
			}
			c.sync()
			if n := len(tg.transactions()); n != 2 || !tg.tx(t, 1).Delivered {
				t.Fatalf("%d transactions: %+v", n, tg.transactions())
			}
		})
	}
}

// normalize and strip: the downstream gets CRLF only, without NULs.
func TestDataNormalize(t *testing.T) {
	tg := newTarget("down")
	env := newEnv(t, tg)
	env.Filter = message.FilterOptions{LineEndings: message.Normalize, NUL: message.Strip}
	c := start(t, env, opts{}).dial()
	c.open()
	if got := c.data("Subject: x\n\nline one\nline\x00 two\rline three\r\n"); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	d := tg.tx(t, 0).Data
	if _, body, _ := strings.Cut(d, "\r\nSubject: "); body != "x\r\n\r\nline one\r\nline two\r\nline three\r\n" {
		t.Fatalf("downstream got %q", d)
	}
	if strings.Contains(strings.ReplaceAll(d, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(d, "\r\n", ""), "\r") || strings.Contains(d, "\x00") {
		t.Fatalf("bare line ending or NUL reached the downstream: %q", d)
	}
}

// A client that goes away mid-DATA: the downstream transaction is
// aborted without its end of data.
func TestDataClientGone(t *testing.T) {
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.open()
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: x\r\n\r\npartial line")
	c.conn.Close()
	tx := tg.waitAborted(t, 0)
	if tx.Delivered || tx.ReadErr == nil || tx.DataCalls != 1 {
		t.Fatalf("downstream: %+v", tx)
	}
	if !strings.HasSuffix(tx.Data, "partial line") {
		t.Fatalf("downstream read %q", tx.Data)
	}
	if !strings.Contains(h.logs.String(), `reason="client gone mid-DATA"`) {
		t.Fatalf("no abort line in the log:\n%s", h.logs.String())
	}
	// A client that went away is counted apart from downstream failures.
	var relayed []string
	for range 200 {
		if _, relayed, _ = h.metrics.snapshot(); len(relayed) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !equal(relayed, []string{"down aborted"}) {
		t.Fatalf("relay outcomes %q, want [down aborted]", relayed)
	}
}

// A client that stalls mid-DATA: the guard's data timeout ends the
// connection with 421 4.4.2 and the downstream transaction is aborted.
func TestDataClientStalls(t *testing.T) {
	tg := newTarget("down")
	h := start(t, newEnv(t, tg), opts{guard: func(c *listener.Config) { c.DataTimeout = 100 * time.Millisecond }})
	c := h.dial()
	c.open()
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: x\r\n\r\npartial line")
	if got := c.reply(); !equal(got, []string{"421 4.4.2 " + gwHost + " Error: timeout exceeded"}) {
		t.Fatalf("after the stall: %q", got)
	}
	tx := tg.waitAborted(t, 0)
	if tx.Delivered || tx.ReadErr == nil {
		t.Fatalf("downstream: %+v", tx)
	}
	if !strings.Contains(h.logs.String(), `reason="client gone mid-DATA"`) {
		t.Fatalf("no abort line in the log:\n%s", h.logs.String())
	}
}

// Exactly one Data call per 250: several transactions pipelined in one
// write, one of them refused by the downstream at the end of data.
func TestDataOneDeliveryPer250(t *testing.T) {
	tg := newTarget("down")
	tg.rcptErr["nobody@local-one.net"] = &relay.ReplyError{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "User unknown"}}
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.ehlo(clientHELO)
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, "MAIL FROM:<s%d@remote.example>\r\nRCPT TO:<bob@local-one.net>\r\nDATA\r\n", i)
		fmt.Fprintf(&b, "Subject: %d\r\n\r\nbody %d\r\n.\r\n", i, i)
	}
	// A transaction without recipients gets no Data call at all.
	b.WriteString("MAIL FROM:<s3@remote.example>\r\nRCPT TO:<nobody@local-one.net>\r\nDATA\r\n")
	b.WriteString("QUIT\r\n")
	c.send(b.String())
	var queued int
	for {
		got := c.reply()
		if queuedRE.MatchString(got[0]) {
			queued++
		}
		if got[0] == "221 2.0.0 Bye" {
			break
		}
	}
	txs := tg.transactions()
	if queued != 3 || len(txs) != 4 {
		t.Fatalf("%d queued replies, %d transactions: %+v", queued, len(txs), txs)
	}
	for i, tx := range txs[:3] {
		if tx.DataCalls != 1 || !tx.Delivered || !strings.HasSuffix(tx.Data, fmt.Sprintf("\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i)) {
			t.Fatalf("transaction %d: %+v", i, tx)
		}
	}
	if tx := txs[3]; tx.DataCalls != 0 || tx.Delivered {
		t.Fatalf("transaction without recipients: %+v", tx)
	}
}

// A message over the size limit: 552 5.3.4, nothing delivered.
func TestDataTooBig(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{server: serverOpts(200, 0)}).dial()
	c.open()
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\r\n", 20)
	if got := c.data(big); !equal(got, []string{"552 5.3.4 Maximum message size exceeded"}) {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if tx := tg.tx(t, 0); tx.Delivered || !tx.Aborted {
		t.Fatalf("downstream: %+v", tx)
	}
	c.tx()
	if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA after the refusal: %q", got)
	}
}

// Between the client's end of data and our reply the connection is
// committing: a shutdown must not cut it.
func TestDataCommitting(t *testing.T) {
	tg := newTarget("down")
	tg.stall = make(chan struct{})
	h := start(t, newEnv(t, tg), opts{})
	c := h.dial()
	c.open()
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send(msg + ".\r\n")
	<-tg.dataRead
	conns := h.guard.Conns()
	if len(conns) != 1 || !conns[0].Committing() {
		t.Fatalf("not committing while the downstream holds the message")
	}
	close(tg.stall)
	if got := c.reply(); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if conns[0].Committing() {
		t.Fatal("still committing after the reply")
	}
}

// BDAT (CHUNKING) reaches the same Data path.
func TestDataBDAT(t *testing.T) {
	tg := newTarget("down")
	c := start(t, newEnv(t, tg), opts{}).dial()
	c.open()
	part1, part2 := msg[:20], msg[20:]
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	if got := c.reply(); !equal(got, []string{"250 2.0.0 Continue"}) {
		t.Fatalf("BDAT: %q", got)
	}
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	got := c.reply()
	if queuedRE.FindString(got[0]) == "" {
		t.Fatalf("BDAT LAST: %q", got)
	}
	c.sync()
	if tx := tg.tx(t, 0); !tx.Delivered || !strings.HasSuffix(tx.Data, "\r\n"+msg) {
		t.Fatalf("downstream: %+v", tx)
	}
}

// RSET, EHLO or a disconnect between BDAT chunks abandons the message:
// nothing delivered, the downstream transaction aborted, and never used by
// two goroutines at once (go-smtp runs Data in a goroutine of its own for
// BDAT, and calls Reset or Logout while it runs).
func TestDataBDATAbandoned(t *testing.T) {
	for _, how := range []string{"RSET", "EHLO", "close"} {
		t.Run(how, func(t *testing.T) {
			tg := newTarget("down")
			c := start(t, newEnv(t, tg), opts{}).dial()
			c.open()
			part := msg[:20]
			c.send(fmt.Sprintf("BDAT %d\r\n%s", len(part), part))
			if got := c.reply(); !equal(got, []string{"250 2.0.0 Continue"}) {
				t.Fatalf("BDAT: %q", got)
			}
			switch how {
			case "RSET":
				c.expect("RSET", "250 2.0.0 Session reset")
			case "EHLO":
				c.ehlo("other." + clientHELO)
			case "close":
				c.conn.Close()
			}
			tg.waitAborted(t, 0)
			if how != "close" {
				c.sync()
			}
			if tx := tg.tx(t, 0); tx.Delivered || tx.Overlap || tx.DataCalls != 1 {
				t.Fatalf("downstream: %+v", tx)
			}
			if how == "close" {
				return
			}
			c.tx()
			if got := c.data(msg); queuedRE.FindString(got[0]) == "" {
				t.Fatalf("DATA after the reset: %q", got)
			}
			c.sync()
			if tx := tg.tx(t, 1); !tx.Delivered || tx.Overlap {
				t.Fatalf("next transaction: %+v", tx)
			}
		})
	}
}

// ".<CR>" at the start of a line is refused in normalize mode too: whether
// that CR ended a line "." (an end of data) is the smuggling ambiguity.
func TestDataDotBareCRNormalize(t *testing.T) {
	tg := newTarget("down")
	env := newEnv(t, tg)
	env.Filter = message.FilterOptions{LineEndings: message.Normalize, NUL: message.Strip}
	c := start(t, env, opts{}).dial()
	c.open()
	got := c.data("Subject: x\r\n\r\nhi\r\n.\r\r\nmore\r\n")
	if !equal(got, []string{
		"550-Line 4 ends in bare <CR>, not <CR><LF>; fix the sending software (RFC 5321 section 2.3.8)",
		"550 5.5.2 Error: bare <CR> received"}) {
		t.Fatalf("DATA: %q", got)
	}
	c.sync()
	if tx := tg.tx(t, 0); tx.Delivered || !tx.Aborted {
		t.Fatalf("downstream: %+v", tx)
	}
	// A stuffed dot is no defect: "..x" is ".x".
	c.tx()
	if got := c.data("Subject: x\r\n\r\n..x\r\n"); queuedRE.FindString(got[0]) == "" {
		t.Fatalf("DATA with a stuffed dot: %q", got)
	}
}

// A line longer than max_data_line_length: 552 5.3.4, the downstream
// transaction is dropped without its end, the client's DATA is read to
// its end and the session goes on; a line at the limit passes.
func TestDataLineTooLong(t *testing.T) {
	for _, bdat := range []bool{false, true} {
		t.Run(map[bool]string{false: "DATA", true: "BDAT"}[bdat], func(t *testing.T) {
			tg := newTarget("down")
			env := newEnv(t, tg)
			env.Filter.MaxLineLength = 1000
			h := start(t, env, opts{})
			c := h.dial()
			c.open()
			body := "Subject: x\r\n\r\n" + strings.Repeat("y", 1001) + "\r\nafter\r\n"
			var got []string
			if bdat {
				c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
				got = c.reply()
			} else {
				got = c.data(body)
			}
			want := "552 5.3.4 Error: line 3 of the message is too long for this server; lines over 998 bytes break RFC 5322 section 2.1.1, encode the content (quoted-printable or base64)"
			if !equal(got, []string{want}) {
				t.Fatalf("got %q", got)
			}
			c.sync()
			tx := tg.tx(t, 0)
			if tx.Delivered || !tx.Aborted || strings.Contains(tx.Data, "after") {
				t.Fatalf("downstream: %+v", tx)
			}
			if _, relayed, _ := h.metrics.snapshot(); !equal(relayed, []string{"down refused"}) {
				t.Fatalf("relay outcomes %q", relayed)
			}
			c.tx()
			if got := c.data("Subject: x\r\n\r\n" + strings.Repeat("y", 1000) + "\r\n"); queuedRE.FindString(got[0]) == "" {
				t.Fatalf("a line at the limit: %q", got)
			}
		})
	}
}

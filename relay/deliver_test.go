package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/smtpgateway/gateway/queue"
)

func TestDelivererPassesDSNAndSplitsResults(t *testing.T) {
	s := &sink{rcptErr: map[string]error{
		"gone@example.org": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
		"busy@example.org": &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Try later"},
	}}
	tg, _ := newTarget(t, startSink(t, s, func(srv *smtp.Server) { srv.EnableDSN = true }), nil)
	tg.Probe(context.Background()) // learn the downstream's extensions
	r, err := NewRouter(tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Router: func() *Router { return r }}
	env := &queue.Envelope{
		From: "a@example.com", Ret: "HDRS", EnvID: "env-1",
		To: []queue.Recipient{
			{Addr: "b@example.org", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;B@example.org"},
			{Addr: "gone@example.org"},
			{Addr: "busy@example.org"},
			{Addr: "done@example.org", Status: queue.StatusDelivered},
		},
	}
	body := "Subject: x\r\n\r\n.leading dot\r\n"
	res, err := d.Deliver(context.Background(), env, strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range res {
		got[x.Rcpt] = fmt.Sprintf("%d %s %s", x.Code, x.Enhanced, x.Text)
	}
	want := map[string]string{"b@example.org": "250 2.0.0 OK: queued", "gone@example.org": "550 5.1.1 User unknown", "busy@example.org": "450 4.2.1 Try later"}
	for k, v := range want {
		if !strings.HasPrefix(got[k], v[:3]) {
			t.Errorf("result for %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["done@example.org"]; ok || len(res) != 3 {
		t.Errorf("results %v: a delivered recipient must not be tried again", res)
	}
	_, _, _, _, msgs := s.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Opts.Return != smtp.DSNReturnHeaders || m.Opts.EnvelopeID != "env-1" {
		t.Errorf("MAIL options %+v, want RET=HDRS ENVID=env-1", m.Opts)
	}
	if len(m.RcptOpts) != 1 || fmt.Sprint(m.RcptOpts[0].Notify) != "[SUCCESS FAILURE]" || m.RcptOpts[0].OriginalRecipient != "B@example.org" {
		t.Errorf("RCPT options %+v", m.RcptOpts)
	}
	if m.Data != body {
		t.Errorf("data %q, want %q (the spooled bytes, dot-stuffing undone by the server)", m.Data, body)
	}
}

func TestDelivererUnreachableIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tg, _ := newTarget(t, addr, nil)
	r, err := NewRouter(tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Router: func() *Router { return r }}
	env := &queue.Envelope{From: "a@example.com", To: []queue.Recipient{{Addr: "b@example.org"}}}
	res, err := d.Deliver(context.Background(), env, strings.NewReader("x\r\n"), 3)
	if !errors.Is(err, ErrUnavailable) || len(res) != 0 {
		t.Errorf("Deliver to a closed port: %v, %v; want ErrUnavailable and no results (all retried)", res, err)
	}
}

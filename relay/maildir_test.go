package relay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// entries lists the file names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestNewMaildirCreatesDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab", "mail")
	m, err := NewMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 directory", sub, fi, err)
		}
	}
	if m.Name() != "maildir:"+dir {
		t.Errorf("Name %q", m.Name())
	}
	if _, err := NewMaildir(""); err == nil {
		t.Error("empty path accepted")
	}
}

func TestMaildirDeliver(t *testing.T) {
	dir := t.TempDir()
	m, err := NewMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	body := "Subject: hi\r\n\r\n.dot line\r\nbare\rCR kept as received\r\n"
	rep, err := send(t, m, "a@example.com", []string{"b@example.org", "c@example.org"}, body)
	if err != nil {
		t.Fatal(err)
	}
	files := entries(t, filepath.Join(dir, "new"))
	if len(files) != 1 {
		t.Fatalf("new/ holds %q, want one file", files)
	}
	if rep.Code != 250 || QueueID(rep) != files[0] {
		t.Errorf("reply %v, want 250 naming %s", rep, files[0])
	}
	got, err := os.ReadFile(filepath.Join(dir, "new", files[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <a@example.com>\r\nX-Original-To: <b@example.org>\r\nX-Original-To: <c@example.org>\r\n" + body
	if string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
	if tmp := entries(t, filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ still holds %q", tmp)
	}
	if n := strings.Count(files[0], "."); n < 2 || strings.ContainsAny(files[0], "/:") {
		t.Errorf("name %q is not of the time.pid_rand.host form", files[0])
	}
}

func TestMaildirNullSender(t *testing.T) {
	dir := t.TempDir()
	m, _ := NewMaildir(dir)
	if _, err := send(t, m, "", []string{"b@example.org"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	files := entries(t, filepath.Join(dir, "new"))
	got, _ := os.ReadFile(filepath.Join(dir, "new", files[0]))
	if !strings.HasPrefix(string(got), "Return-Path: <>\r\n") {
		t.Errorf("file starts %q, want Return-Path: <>", got)
	}
}

func TestMaildirFailures(t *testing.T) {
	tests := []struct {
		name   string
		ctx    func() context.Context
		reader func() *failingReader
		rcpts  []string
		want   func(error) bool
	}{
		{
			name:   "reader fails mid-way",
			reader: func() *failingReader { return &failingReader{data: strings.Repeat("x", 100000), err: errBoom} },
			rcpts:  []string{"b@example.org"},
			want:   func(err error) bool { return errors.Is(err, errBoom) && !errors.Is(err, ErrUnavailable) },
		},
		{
			name: "context ended",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			reader: func() *failingReader { return &failingReader{data: "x\r\n", err: errBoom} },
			rcpts:  []string{"b@example.org"},
			want:   func(err error) bool { return errors.Is(err, context.Canceled) && errors.Is(err, ErrUnavailable) },
		},
		{
			name:   "no recipients",
			reader: func() *failingReader { return &failingReader{data: "x\r\n", err: errBoom} },
			want: func(err error) bool {
				var r *ReplyError
				return errors.As(err, &r) && r.Code == 554
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, _ := NewMaildir(dir)
			tx, err := m.Begin(context.Background(), "a@example.com", MailOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.rcpts {
				if err := tx.Rcpt(context.Background(), r, RcptOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			rep, err := tx.Data(ctx, tc.reader())
			if rep != nil || !tc.want(err) {
				t.Errorf("Data: %v, %v", rep, err)
			}
			for _, sub := range []string{"new", "tmp"} {
				if f := entries(t, filepath.Join(dir, sub)); len(f) != 0 {
					t.Errorf("%s/ holds %q, want nothing", sub, f)
				}
			}
		})
	}
}

func TestMaildirRefusesBadAddresses(t *testing.T) {
	m, _ := NewMaildir(t.TempDir())
	tx, _ := m.Begin(context.Background(), "a@example.com", MailOptions{})
	var r *ReplyError
	if err := tx.Rcpt(context.Background(), "b@example.org\r\nX-Injected: 1", RcptOptions{}); !errors.As(err, &r) || r.Code != 501 {
		t.Errorf("Rcpt with CRLF: %v, want 501", err)
	}
}

func TestMaildirConcurrentUniqueNames(t *testing.T) {
	dir := t.TempDir()
	m, _ := NewMaildir(dir)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			tx, _ := m.Begin(ctx, "a@example.com", MailOptions{})
			defer tx.Abort()
			if err := tx.Rcpt(ctx, "b@example.org", RcptOptions{}); err != nil {
				errs <- err
				return
			}
			body := strings.Repeat("x", i) + "\r\n"
			if _, err := tx.Data(ctx, strings.NewReader(body)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	files := entries(t, filepath.Join(dir, "new"))
	if len(files) != n {
		t.Fatalf("%d files in new/, want %d", len(files), n)
	}
	sizes := map[int]bool{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, "new", f))
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(b)] = true
	}
	if len(sizes) != n {
		t.Errorf("%d distinct messages, want %d: one overwrote another", len(sizes), n)
	}
}

// A maildir stores UTF-8 envelopes as they are and ends delivery, so it
// takes SMTPUTF8 and DSN.
func TestMaildirExtensions(t *testing.T) {
	m, err := NewMaildir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Extensions(); got != (Extensions{SMTPUTF8: true, DSN: true}) {
		t.Errorf("Extensions() = %+v, want both", got)
	}
}

package relay

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/reply"
)

// MaildirTarget delivers every message into a maildir, for labs and the
// embedded default configuration. It accepts every recipient. A message
// is written to tmp/, synced, renamed into new/ and the directory synced
// before the 250 reply, so an accepted message survives a crash (the
// maildir protocol, https://cr.yp.to/proto/maildir.html).
type MaildirTarget struct {
	path string
	host string // this host's name as maildir file names carry it
	pid  int
}

// NewMaildir returns a target delivering into the maildir at path,
// creating path and its tmp, new and cur directories (mode 0700) when
// missing.
func NewMaildir(path string) (*MaildirTarget, error) {
	if path == "" {
		return nil, errors.New("relay: maildir path is empty")
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(path, sub), 0o700); err != nil {
			return nil, fmt.Errorf("relay: maildir: %w", err)
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	// The maildir protocol reserves '/' and ':' in names.
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return &MaildirTarget{path: path, host: host, pid: os.Getpid()}, nil
}

// Name returns "maildir:" and the path.
func (m *MaildirTarget) Name() string {
	return "maildir:" + m.path
}

// Begin starts a transaction; it never fails but for an ended ctx.
func (m *MaildirTarget) Begin(ctx context.Context, from string, _ MailOptions) (Transaction, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable("begin", err)
	}
	return &maildirTx{m: m, from: from}, nil
}

// Extensions returns both SMTPUTF8 and DSN: a maildir stores UTF-8
// envelopes and headers as they are, and the DSN parameters concern
// delivery, which ends in the maildir.
func (m *MaildirTarget) Extensions() Extensions {
	return Extensions{SMTPUTF8: true, DSN: true}
}

// Close does nothing: a maildir holds no connections.
func (m *MaildirTarget) Close() error {
	return nil
}

type maildirTx struct {
	m     *MaildirTarget
	from  string
	rcpts []string
	done  bool
}

// Rcpt accepts every well-formed recipient.
func (tx *maildirTx) Rcpt(ctx context.Context, to string, _ RcptOptions) error {
	if tx.done {
		return unavailable("RCPT", errTxDone)
	}
	if to == "" || strings.ContainsAny(to, "\r\n") {
		return replyBadRecipient()
	}
	tx.rcpts = append(tx.rcpts, to)
	return nil
}

// Abort forgets the transaction.
func (tx *maildirTx) Abort() {
	tx.done = true
}

// Data writes the message with a Return-Path field and one X-Original-To
// field per recipient before it, as received otherwise (CRLF kept).
func (tx *maildirTx) Data(ctx context.Context, r io.Reader) (*reply.Reply, error) {
	if tx.done {
		return nil, unavailable("DATA", errTxDone)
	}
	tx.done = true
	if len(tx.rcpts) == 0 {
		return nil, replyNoRecipients()
	}
	if strings.ContainsAny(tx.from, "\r\n") {
		return nil, replyBadSender()
	}
	f, name, err := tx.m.create()
	if err != nil {
		return nil, unavailable("maildir", err)
	}
	tmp := f.Name()
	delivered := false
	defer func() {
		if !delivered {
			f.Close()
			os.Remove(tmp)
		}
	}()

	w := bufio.NewWriterSize(f, 32<<10)
	fmt.Fprintf(w, "Return-Path: <%s>\r\n", tx.from)
	for _, rc := range tx.rcpts {
		fmt.Fprintf(w, "X-Original-To: <%s>\r\n", rc)
	}
	if _, err := io.Copy(w, ctxReader{ctx, r}); err != nil {
		var re readError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("relay: message abandoned before its end: %w", re.err)
		}
		return nil, opError(ctx, "maildir", err)
	}
	if err := w.Flush(); err != nil {
		return nil, unavailable("maildir", err)
	}
	// fsync the file, then the rename, so new/ never names a file whose
	// data is not on disk.
	if err := f.Sync(); err != nil {
		return nil, unavailable("maildir", err)
	}
	if err := f.Close(); err != nil {
		return nil, unavailable("maildir", err)
	}
	if err := os.Rename(tmp, filepath.Join(tx.m.path, "new", name)); err != nil {
		return nil, unavailable("maildir", err)
	}
	delivered = true
	if err := syncDir(filepath.Join(tx.m.path, "new")); err != nil {
		// The file is in new/ but the rename may not be durable: say
		// so, and let the sender retry (a duplicate beats a loss).
		return nil, unavailable("maildir", err)
	}
	return &reply.Reply{Code: reply.C250Completed, Enhanced: reply.E200Success, Text: "Ok: delivered as " + name}, nil
}

// create opens a new file in tmp/ with a unique name: seconds, the
// process id with 64 random bits, and the host (the maildir protocol's
// time.pid_rand.host form). O_EXCL makes a collision an error, not an
// overwrite; one is retried.
func (m *MaildirTarget) create() (*os.File, string, error) {
	var lastErr error
	for range 3 {
		var rnd [8]byte
		rand.Read(rnd[:])
		name := fmt.Sprintf("%d.%d_%s.%s", time.Now().Unix(), m.pid, hex.EncodeToString(rnd[:]), m.host)
		f, err := os.OpenFile(filepath.Join(m.path, "tmp", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, name, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return nil, "", lastErr
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops reading when ctx ends and marks the source's own errors
// as readError, to tell them from write errors after io.Copy.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		return n, readError{err}
	}
	return n, err
}

type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

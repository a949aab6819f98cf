package queue

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
)

// Writer receives one message for the spool: Create writes the envelope
// to a temporary file, Write appends the message, Commit makes it
// durable, Abort throws it away. A Writer is used by one goroutine.
type Writer struct {
	q    *Queue
	env  Envelope
	f    *os.File
	bw   *bufio.Writer
	crc  hash.Hash32
	size int64
	err  error // sticky
	done bool

	capped bool // MaxBytes applies
}

// Create starts a message with envelope env: it assigns env.ID and
// env.Arrival (if zero) and writes the envelope to a temporary file in the
// spool. It returns ErrFull when Space does.
func (q *Queue) Create(env Envelope) (*Writer, error) { return q.create(env, true) }

// create is Create; DSNs are made with capped false: they bypass
// MaxBytes and MinFreeBytes (a DSN the queue owes must not be lost to
// the cap, and is small).
func (q *Queue) create(env Envelope, capped bool) (*Writer, error) {
	if len(env.To) == 0 {
		return nil, errors.New("queue: envelope without recipients")
	}
	if capped {
		if err := q.Space(); err != nil {
			return nil, err
		}
	}
	now := q.now()
	env.ID = newID(now)
	if env.Arrival.IsZero() {
		env.Arrival = now
	}
	env.To = append([]Recipient(nil), env.To...)
	for i := range env.To {
		env.To[i].Status, env.To[i].Reply = StatusPending, ""
		env.To[i].Notify = upperAll(env.To[i].Notify)
	}
	env.Ret = strings.ToUpper(env.Ret)
	env.Size, env.Attempts, env.NextAttempt, env.LastError, env.DelayWarned = 0, 0, timeZero, "", false
	hdr, err := encodeHeader(&env)
	if err != nil {
		return nil, err
	}
	f, err := openFile(filepath.Join(q.opts.Dir, tmpDir, env.ID+msgExt), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	w := &Writer{q: q, env: env, f: f, capped: capped, bw: bufio.NewWriterSize(f, 64<<10), crc: crc32.New(castagnoli)}
	if _, err := w.bw.Write(hdr); err != nil {
		w.Abort()
		return nil, fmt.Errorf("queue: %w", err)
	}
	return w, nil
}

func upperAll(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToUpper(strings.TrimSpace(v))
	}
	return out
}

// ID returns the id the message will have in the spool.
func (w *Writer) ID() string { return w.env.ID }

// Write appends message bytes, as they would be relayed (trace headers
// included). It returns ErrFull when the message would take the spool
// over MaxBytes; errors are sticky.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("queue: write after commit or abort")
	}
	if err := w.q.reserve(int64(len(p)), w.capped); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.bw.Write(p)
	w.crc.Write(p[:n])
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("queue: %w", err)
		return n, w.err
	}
	return n, nil
}

// Commit makes the message durable — trailer written, file fsynced,
// renamed into the spool, directory fsynced — and schedules it. Only
// after Commit returned nil may the client hear 250. On error nothing is
// left behind.
func (w *Writer) Commit() (string, error) {
	if w.done {
		return "", errors.New("queue: commit after commit or abort")
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return "", err
	}
	err := w.commit()
	if err != nil {
		w.Abort()
		return "", fmt.Errorf("queue: %w", err)
	}
	w.done = true
	w.q.committed(&w.env, w.size)
	return w.env.ID, nil
}

func (w *Writer) commit() error {
	if _, err := w.bw.Write(encodeTrailer(w.size, w.crc.Sum32())); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	dir := w.q.opts.Dir
	if err := os.Rename(filepath.Join(dir, tmpDir, w.env.ID+msgExt), filepath.Join(dir, w.env.ID+msgExt)); err != nil {
		return err
	}
	if err := w.q.dirSync.sync(); err != nil {
		// The rename may or may not survive a crash: take it back so
		// that the client, who will not hear 250, gets no copy either.
		os.Remove(filepath.Join(dir, w.env.ID+msgExt))
		return err
	}
	return nil
}

// Abort discards the message; nothing is left behind. Abort after Commit
// does nothing.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.q.release(w.size)
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	err := os.Remove(filepath.Join(w.q.opts.Dir, tmpDir, w.env.ID+msgExt))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

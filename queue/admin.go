package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The admin functions work on a directory, not on an open Queue: the
// gateway command line runs them while a gateway process runs its runner
// on the same spool. They coordinate through the message file's flock
// (the runner holds it for a whole attempt) and the wake file (the runner
// looks for it every second and then re-reads the spool).

// deleteWait and flushWait bound how long Delete and Flush wait for an
// attempt in flight to end.
const (
	deleteWait = 5 * time.Minute
	flushWait  = 30 * time.Second
)

// List returns every message in the spool at dir, oldest first. It is safe
// while a gateway runs on dir; a message removed meanwhile is left out.
func List(dir string) ([]Info, error) {
	ids, err := messageIDs(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	now := time.Now()
	infos := []Info{}
	for _, id := range ids {
		f, m, err := openMessage(dir, id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue: message %s: %w", id, err)
		}
		f.Close()
		infos = append(infos, info(&m.env, now))
	}
	return infos, nil
}

func info(env *Envelope, now time.Time) Info {
	in := Info{
		ID: env.ID, Sender: env.From, Recipients: []string{}, Size: env.Size,
		Age: int64(now.Sub(env.Arrival) / time.Second), Arrival: env.Arrival,
		Attempts: env.Attempts, NextAttempt: env.NextAttempt, LastError: env.LastError, Route: env.Route,
	}
	for _, r := range env.To {
		if r.Status == StatusPending {
			in.Recipients = append(in.Recipients, r.Addr)
		}
	}
	return in
}

// Show returns message id's envelope (with its bookkeeping) and the
// message's header section.
func Show(dir, id string) (*Envelope, []byte, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	f, m, err := openMessage(dir, id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("queue: message %s: %w", id, err)
	}
	defer f.Close()
	var hdr bytes.Buffer
	if err := copyHeaders(&hdr, io.NewSectionReader(f, m.bodyOff, m.size)); err != nil {
		return nil, nil, fmt.Errorf("queue: message %s: %w", id, err)
	}
	return &m.env, hdr.Bytes(), nil
}

// Flush makes messages ids (every message when none is given) due now and
// wakes the runner of the gateway on dir (within a second). For a message
// being delivered right now it waits (up to 30 seconds) for the attempt to
// end, then makes it due.
func Flush(dir string, ids ...string) error {
	if len(ids) == 0 {
		all, err := messageIDs(dir)
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		ids = all
	}
	var errs []error
	for _, id := range ids {
		if err := withLock(dir, id, flushWait, func(f *os.File) error {
			m, err := parseOpen(dir, id, f)
			if err != nil {
				return err
			}
			m.env.NextAttempt = timeZero
			return writeState(&dirSyncer{dir: dir}, &m.env)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := touchWake(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Delete removes messages ids from the spool, without a DSN. A message
// being delivered is removed when its attempt ends (Delete waits for it,
// up to five minutes).
func Delete(dir string, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if err := withLock(dir, id, deleteWait, func(*os.File) error {
			return removeMessage(&dirSyncer{dir: dir}, id)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := touchWake(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withLock runs fn on message id's file with its flock held, waiting up to
// wait for the runner to let go (errLocked after that).
func withLock(dir, id string, wait time.Duration, fn func(*os.File) error) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q is not a queue id", ErrNotFound, id)
	}
	deadline := time.Now().Add(wait)
	for {
		f, err := os.Open(filepath.Join(dir, id+msgExt))
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		err = tryLock(f)
		if err == nil {
			if unlinked(f) { // removed between our open and our lock
				f.Close()
				return fmt.Errorf("%w: %s", ErrNotFound, id)
			}
			err = fn(f)
			unlock(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("queue: message %s: %w", id, err)
			}
			return nil
		}
		f.Close()
		if !errors.Is(err, errLocked) {
			return fmt.Errorf("queue: %w", err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("queue: message %s is being delivered, try again: %w", id, errLocked)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

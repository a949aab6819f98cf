package queue

import (
	"context"
	"errors"
	"io"
)

var errTODO = errors.New("queue: not implemented yet")

// Queue is an open spool and its runner.
type Queue struct{ opts Options }

// Writer receives one message for the spool; Commit makes it durable,
// Abort throws it away.
type Writer struct{ q *Queue }

// Open creates opts.Dir (0700) if missing, locks it for this process,
// removes temporary files left by a crash and loads every committed
// message. The runner starts with Start.
func Open(opts Options) (*Queue, error) { return nil, errTODO }

// Space reports whether the spool takes another message: nil, or ErrFull.
func (q *Queue) Space() error { return errTODO }

// Create starts a message with envelope env (ID is assigned).
func (q *Queue) Create(env Envelope) (*Writer, error) { return nil, errTODO }

// Write appends message bytes, as they would be relayed (trace headers
// included). It returns ErrFull when the spool's cap is reached.
func (w *Writer) Write(p []byte) (int, error) { return 0, errTODO }

// Commit makes the message durable (file fsynced, renamed into the spool,
// directory fsynced) and schedules it; only then may the client hear 250.
func (w *Writer) Commit() (id string, err error) { return "", errTODO }

// Abort discards the message; nothing is left behind. Abort after Commit
// does nothing.
func (w *Writer) Abort() error { return errTODO }

// Start starts the runner.
func (q *Queue) Start() {}

// Stop stops the runner: no new attempts; it waits for deliveries in
// flight until ctx ends (then cancels them) and releases the directory.
func (q *Queue) Stop(ctx context.Context) error { return errTODO }

// Stats returns a snapshot for metrics.
func (q *Queue) Stats() Stats { return Stats{} }

// List returns every message in the spool at dir, oldest first. It is safe
// while a gateway runs on dir.
func List(dir string) ([]Info, error) { return nil, errTODO }

// Show returns message id's envelope (with its bookkeeping) and the
// message's header section.
func Show(dir, id string) (*Envelope, []byte, error) { return nil, nil, errTODO }

// Flush makes messages ids (every message when none is given) due now and
// wakes the runner of the gateway on dir.
func Flush(dir string, ids ...string) error { return errTODO }

// Delete removes messages ids from the spool without a DSN. A message
// being delivered is removed when its attempt ends (Delete waits).
func Delete(dir string, ids ...string) error { return errTODO }

var _ = io.EOF

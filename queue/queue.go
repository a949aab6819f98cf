package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// ErrFull is returned by Space, Create and Writer.Write when the spool has
// reached Options.MaxBytes or the file system's free space fell below
// Options.MinFreeBytes. The session answers it with 452 4.3.1.
var ErrFull = errors.New("queue: spool full")

// ErrUnreachable marks (errors.Is) a Deliverer's error that says the
// route's downstream could not be reached at all (connection refused or
// lost before it answered the transaction), rather than anything about
// this message. The runner then holds the whole route: its other due
// messages wait, without attempts, until the hold ends (RetryMin doubling
// per consecutive failed hold, up to RetryMax), an admin command wakes
// the runner or a session reaches the downstream (Queue.Reachable),
// instead of each being tried and rescheduled on its own.
var ErrUnreachable = errors.New("downstream unreachable")

// ErrNotFound is returned by Show, Flush and Delete for an id that is not
// (or no longer) in the spool.
var ErrNotFound = errors.New("queue: no such message")

// Options configure a Queue. Zero durations and counts get the defaults
// named on each field.
type Options struct {
	// Dir is the spool directory, created 0700 if missing. One gateway
	// process per directory: Open takes an exclusive lock on it.
	Dir string

	// RetryMin is the delay before the first retry (default 1m); it
	// doubles per attempt up to RetryMax (default 1h), with ±25% jitter.
	RetryMin, RetryMax time.Duration
	// MaxAge is how long a message may stay undelivered (default 120h);
	// then its pending recipients get a "failed" DSN and it is removed.
	MaxAge time.Duration
	// DelayWarning sends a "delayed" DSN once, to recipients whose NOTIFY
	// asks for DELAY (or gave no NOTIFY), when a message is still pending
	// this long after arrival. 0: no delay warnings.
	DelayWarning time.Duration

	// MaxBytes caps the spool's size (message files); 0: no cap.
	MaxBytes int64
	// MinFreeBytes is the free-space floor of the spool's file system:
	// below it the queue reports ErrFull. 0: no floor.
	MinFreeBytes int64
	// MaxMessageBytes is the largest message that can arrive (limits.
	// max_message_bytes): Space keeps that much headroom under MaxBytes
	// and over MinFreeBytes (and over a full file system), so that MAIL
	// is refused and /readyz unready before a message being written can
	// run out of room. 0: no headroom.
	MaxMessageBytes int64

	// Concurrency is the number of deliveries in flight per route
	// (default 10).
	Concurrency int
	// Hostname is the Reporting-MTA and the domain of DSNs'
	// MAILER-DAEMON From address.
	Hostname string
	// DSNRoute is the Route given to DSN envelopes ("" is the default
	// route).
	DSNRoute string

	// Deliver is called by the runner for every due message.
	Deliver Deliverer
	// Log receives the queue's log lines (default: slog.Default()).
	Log *slog.Logger
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
}

// Recipient states kept in Recipient.Status.
const (
	StatusPending   = ""          // not delivered yet
	StatusDelivered = "delivered" // the downstream took it (2xx)
	StatusFailed    = "failed"    // permanent failure (5xx or expired); DSN sent if asked
)

// Recipient is one envelope recipient with its DSN parameters (RFC 3461)
// and its delivery state.
type Recipient struct {
	Addr   string   `json:"addr"`
	Notify []string `json:"notify,omitempty"` // NEVER | SUCCESS, FAILURE, DELAY; empty: FAILURE,DELAY
	ORcpt  string   `json:"orcpt,omitempty"`  // as given: "rfc822;user@example.org"

	// Bookkeeping kept by the queue.
	Status string `json:"-"` // StatusPending, StatusDelivered, StatusFailed
	Reply  string `json:"-"` // the downstream's last reply for this recipient ("550 5.1.1 no such user")
}

// Envelope is everything the queue keeps about a message besides its
// bytes. The fields up to Arrival are given to Create and never change;
// the rest is bookkeeping kept by the queue.
type Envelope struct {
	ID       string      `json:"id"`   // assigned by Create
	From     string      `json:"from"` // "" is the null sender <>
	To       []Recipient `json:"to"`
	Ret      string      `json:"ret,omitempty"`   // FULL | HDRS | "" (FULL)
	EnvID    string      `json:"envid,omitempty"` // RFC 3461 ENVID, decoded
	SMTPUTF8 bool        `json:"smtputf8,omitempty"`
	Body     string      `json:"body,omitempty"` // 7BIT | 8BITMIME | BINARYMIME

	User      string    `json:"user,omitempty"` // authenticated user
	Listener  string    `json:"listener,omitempty"`
	ClientIP  string    `json:"client_ip,omitempty"`
	Helo      string    `json:"helo,omitempty"`
	GatewayID string    `json:"gateway_id,omitempty"`
	Route     string    `json:"route,omitempty"`
	Arrival   time.Time `json:"arrival"` // default: the clock at Create

	// Bookkeeping kept by the queue.
	Size        int64     `json:"-"` // bytes of the message
	Attempts    int       `json:"-"`
	NextAttempt time.Time `json:"-"` // zero: due now
	LastError   string    `json:"-"`
	DelayWarned bool      `json:"-"`
}

// Result is the downstream's answer for one recipient: 2xx delivered,
// 4xx retried, 5xx a "failed" DSN (if asked) and the recipient dropped.
type Result struct {
	Rcpt     string
	Code     int
	Enhanced string // "5.1.1", may be empty
	Text     string
}

// Deliverer hands a spooled message to the downstream.
type Deliverer interface {
	// Deliver tries env's pending recipients (Status == StatusPending).
	// body reads the whole spooled message (trace headers included).
	// err != nil: the attempt failed as a whole (connection, greeting,
	// MAIL, DATA 4xx) and every pending recipient is retried; a 5xx for
	// MAIL/DATA comes back as a Result per recipient. A pending recipient
	// without a Result is retried.
	Deliver(ctx context.Context, env *Envelope, body io.ReadSeeker, size int64) ([]Result, error)
}

// Stats is a snapshot of the queue for metrics and /readyz.
type Stats struct {
	Messages  int           // messages in the spool
	Bytes     int64         // their size
	OldestAge time.Duration // age of the oldest message; 0 when empty

	// Deliveries counts attempts by outcome: "delivered" (every pending
	// recipient done), "partial" (some 5xx), "deferred" (4xx or error),
	// "failed" (all refused), "expired" (max_age), "corrupt" (quarantined).
	Deliveries map[string]uint64
	// DSNs counts generated DSNs by action: "failed", "delayed", "delivered".
	DSNs map[string]uint64
}

// Info is one message as `gateway queue list` shows it.
type Info struct {
	ID          string    `json:"id"`
	Sender      string    `json:"sender"` // "" is <>
	Recipients  []string  `json:"recipients"`
	Size        int64     `json:"size"`
	Age         int64     `json:"age"` // seconds since arrival
	Arrival     time.Time `json:"arrival"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error"`
	Route       string    `json:"route,omitempty"`
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

var timeZero time.Time

// Defaults for zero Options fields.
const (
	DefaultRetryMin    = time.Minute
	DefaultRetryMax    = time.Hour
	DefaultMaxAge      = 120 * time.Hour
	DefaultConcurrency = 10

	pollInterval = time.Second // how often the runner looks for the wake file
	lockRetry    = time.Second // a message an admin command holds is retried after this
)

// Queue is an open spool and its runner.
type Queue struct {
	opts    Options
	log     *slog.Logger
	dirLock *os.File
	dirSync *dirSyncer // group commit of the directory fsyncs

	mu        sync.Mutex
	items     map[string]*item
	bytes     int64 // committed message bytes
	reserved  int64 // bytes written by Writers not yet committed
	busyRoute map[string]int
	sched     schedule              // idle messages by next attempt
	ready     map[string][]*item    // due messages waiting for a free slot of their route, oldest first
	holds     map[string]*routeHold // routes whose downstream was unreachable
	counts    map[string]uint64     // deliveries by outcome
	dsns      map[string]uint64     // DSNs by action
	started   bool
	stopped   bool

	wake          chan struct{}
	stopRun       context.CancelFunc
	runDone       chan struct{}
	deliverCtx    context.Context
	deliverCancel context.CancelFunc
	inflight      sync.WaitGroup
}

// routeHold keeps the due messages of a route whose downstream could not
// be reached waiting until until (ErrUnreachable).
type routeHold struct {
	until time.Time
	fails int // consecutive holds: the hold is backoff(fails)
}

// item is the runner's view of one message.
type item struct {
	id      string
	route   string
	size    int64
	arrival time.Time
	next    time.Time
	busy    bool // an attempt is running
	index   int  // position in Queue.sched; -1: not there
	waiting bool // in Queue.ready
}

// Open creates opts.Dir (0700) if missing, locks it for this process,
// removes temporary files left by a crash and loads every committed
// message. The runner starts with Start.
func Open(opts Options) (*Queue, error) {
	if opts.Dir == "" {
		return nil, errors.New("queue: no spool directory")
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = opts.RetryMin
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, d := range []string{opts.Dir, filepath.Join(opts.Dir, tmpDir), filepath.Join(opts.Dir, quarantineDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(opts.Dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := tryLock(lf); err != nil {
		lf.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("queue: spool %s is in use by another gateway process (one spool per process)", opts.Dir)
		}
		return nil, fmt.Errorf("queue: locking %s: %w", opts.Dir, err)
	}
	q := &Queue{
		opts:      opts,
		log:       opts.Log.With("subsystem", "queue"),
		dirLock:   lf,
		items:     map[string]*item{},
		busyRoute: map[string]int{},
		ready:     map[string][]*item{},
		holds:     map[string]*routeHold{},
		counts:    map[string]uint64{},
		dsns:      map[string]uint64{},
		wake:      make(chan struct{}, 1),
		dirSync:   &dirSyncer{dir: opts.Dir},
	}
	if err := q.recover(); err != nil {
		lf.Close()
		return nil, err
	}
	return q, nil
}

// recover empties tmp/ (messages never committed: their clients never
// heard 250), removes state files whose message is gone and loads every
// committed message.
func (q *Queue) recover() error {
	dir := q.opts.Dir
	tmp := filepath.Join(dir, tmpDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("queue: removing a temporary file: %w", err)
		}
	}
	ents, err = os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), stateExt); ok {
			if _, err := os.Stat(filepath.Join(dir, id+msgExt)); errors.Is(err, os.ErrNotExist) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	os.Remove(filepath.Join(dir, wakeName))
	q.rescan()
	q.mu.Lock()
	n, b := len(q.items), q.bytes
	q.mu.Unlock()
	q.log.Info("queue opened", "dir", dir, "messages", n, "bytes", b)
	return nil
}

// rescan brings the runner's view in line with the directory: new
// messages are added, removed ones dropped, and the next attempt of idle
// ones re-read (Flush may have changed it).
func (q *Queue) rescan() {
	dir := q.opts.Dir
	ids, err := messageIDs(dir)
	if err != nil {
		q.log.Error("queue rescan failed", "dir", dir, "err", err)
		return
	}
	present := make(map[string]bool, len(ids))
	for _, id := range ids {
		present[id] = true
		q.mu.Lock()
		it := q.items[id]
		busy := it != nil && it.busy
		q.mu.Unlock()
		if busy {
			continue
		}
		f, m, err := openMessage(dir, id)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				present[id] = false
				continue
			}
			if errors.Is(err, errCorrupt) {
				q.quarantine(id, err)
				present[id] = false
			}
			continue
		}
		f.Close()
		q.mu.Lock()
		if it = q.items[id]; it == nil {
			it = &item{id: id, route: m.env.Route, size: m.size, arrival: m.env.Arrival, next: m.env.NextAttempt}
			q.items[id] = it
			q.bytes += m.size
			q.sched.push(it)
		} else if !it.busy {
			it.next = m.env.NextAttempt
			q.sched.fix(it)
		}
		q.mu.Unlock()
	}
	q.mu.Lock()
	clear(q.holds) // an admin command (flush): try the routes now
	for id, it := range q.items {
		if !present[id] && !it.busy {
			delete(q.items, id)
			q.bytes -= it.size
			q.sched.remove(it) // if waiting in ready, dispatch drops it
		}
	}
	q.mu.Unlock()
	q.kick()
}

// quarantine moves a corrupt message out of the spool: it is never
// delivered, half or whole; the operator finds it in quarantine/.
func (q *Queue) quarantine(id string, why error) {
	dir := q.opts.Dir
	for _, ext := range []string{msgExt, stateExt} {
		err := os.Rename(filepath.Join(dir, id+ext), filepath.Join(dir, quarantineDir, id+ext))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Error("queue quarantine failed", "id", id, "err", err)
		}
	}
	syncDir(dir)
	q.mu.Lock()
	q.counts["corrupt"]++
	q.mu.Unlock()
	q.log.Error("queue message quarantined", "id", id, "path", filepath.Join(dir, quarantineDir, id+msgExt), "err", why)
}

func (q *Queue) now() time.Time { return q.opts.Now() }

// kick wakes the runner loop.
func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Space reports whether the spool takes another message: nil, or ErrFull
// when the largest message that can arrive (MaxMessageBytes) would take
// the spool over MaxBytes or the file system's free space under
// MinFreeBytes (or under nothing: a full disk).
func (q *Queue) Space() error {
	room := q.opts.MaxMessageBytes
	if q.opts.MaxBytes > 0 {
		q.mu.Lock()
		used := q.bytes + q.reserved
		q.mu.Unlock()
		if used >= q.opts.MaxBytes || room > q.opts.MaxBytes-used {
			return ErrFull
		}
	}
	if q.opts.MinFreeBytes > 0 || room > 0 {
		free, err := freeBytes(q.opts.Dir)
		if err != nil {
			q.log.Error("queue free-space check failed", "dir", q.opts.Dir, "err", err)
			return ErrFull
		}
		if free < q.opts.MinFreeBytes || room > free-q.opts.MinFreeBytes {
			return ErrFull
		}
	}
	return nil
}

// reserve accounts n more bytes of a message being written.
func (q *Queue) reserve(n int64, capped bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if capped && q.opts.MaxBytes > 0 && q.bytes+q.reserved+n > q.opts.MaxBytes {
		return ErrFull
	}
	q.reserved += n
	return nil
}

func (q *Queue) release(n int64) {
	q.mu.Lock()
	q.reserved -= n
	q.mu.Unlock()
}

// committed schedules a message Commit made durable.
func (q *Queue) committed(env *Envelope, size int64) {
	q.mu.Lock()
	q.reserved -= size
	if q.items[env.ID] == nil {
		it := &item{id: env.ID, route: env.Route, size: size, arrival: env.Arrival}
		q.items[env.ID] = it
		q.bytes += size
		q.sched.push(it)
	}
	q.mu.Unlock()
	q.kick()
}

// Start starts the runner. Deliveries use opts.Deliver.
func (q *Queue) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || q.stopped {
		return
	}
	q.started = true
	ctx, cancel := context.WithCancel(context.Background())
	q.stopRun = cancel
	q.deliverCtx, q.deliverCancel = context.WithCancel(context.Background())
	q.runDone = make(chan struct{})
	go q.run(ctx)
}

// Stop stops the runner: no new attempts; it waits for deliveries in
// flight until ctx ends (then cancels them and still waits for them to
// return) and releases the spool directory. Stop without Start only
// releases the directory.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return nil
	}
	q.stopped = true
	started := q.started
	q.mu.Unlock()
	var err error
	if started {
		q.stopRun()
		<-q.runDone
		done := make(chan struct{})
		go func() { q.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("queue: deliveries in flight cancelled: %w", ctx.Err())
			q.deliverCancel()
			<-done
		}
		q.deliverCancel()
	}
	q.dirLock.Close()
	return err
}

// run is the runner loop: start what is due, sleep until the next due
// time, a commit or pollInterval, look for the wake file.
func (q *Queue) run(ctx context.Context) {
	defer close(q.runDone)
	t := time.NewTimer(0)
	defer t.Stop()
	lastPoll := time.Now()
	for {
		wait := q.dispatch()
		if wait > pollInterval || wait <= 0 {
			wait = pollInterval
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-t.C:
		}
		if time.Since(lastPoll) >= pollInterval {
			lastPoll = time.Now()
			if err := os.Remove(filepath.Join(q.opts.Dir, wakeName)); err == nil {
				q.rescan()
			}
		}
	}
}

// dispatch starts every due message whose route has a free slot and
// returns the time until the next due message (0: none known). Its cost
// does not grow with the backlog: idle messages wait in a heap ordered by
// next attempt, due ones whose route is busy in a list per route.
func (q *Queue) dispatch() time.Duration {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return 0
	}
	var soonest time.Duration // of the holds
	held := func(route string) bool {
		h := q.holds[route]
		if h == nil {
			return false
		}
		d := h.until.Sub(now)
		if d <= 0 {
			return false
		}
		if soonest == 0 || d < soonest {
			soonest = d
		}
		return true
	}
	// Due messages that waited for a slot first, oldest first.
	for route, list := range q.ready {
		for len(list) > 0 && q.busyRoute[route] < q.opts.Concurrency && !held(route) {
			it := list[0]
			list[0] = nil
			list = list[1:]
			it.waiting = false
			if q.items[it.id] == it && !it.busy { // not removed meanwhile
				q.start(it)
			}
		}
		if len(list) == 0 {
			delete(q.ready, route)
		} else {
			q.ready[route] = list
		}
	}
	for len(q.sched) > 0 {
		it := q.sched[0]
		if d := it.next.Sub(now); d > 0 {
			if soonest == 0 || d < soonest {
				soonest = d
			}
			return soonest
		}
		q.sched.remove(it)
		if q.busyRoute[it.route] >= q.opts.Concurrency || held(it.route) {
			it.waiting = true
			q.ready[it.route] = append(q.ready[it.route], it)
			continue
		}
		q.start(it)
	}
	return soonest
}

// routeDown holds route after an attempt found its downstream
// unreachable: its other due messages wait instead of each failing on
// its own. Attempts already in flight that fail the same way do not
// extend the hold.
func (q *Queue) routeDown(route string, err error, log *slog.Logger) {
	now := q.now()
	q.mu.Lock()
	h := q.holds[route]
	if h == nil {
		h = &routeHold{}
		q.holds[route] = h
	}
	if now.Before(h.until) {
		q.mu.Unlock()
		return
	}
	h.fails++
	h.until = now.Add(q.backoff(h.fails))
	until, fails := h.until, h.fails
	q.mu.Unlock()
	log.Warn("queue route held: the downstream is unreachable; its messages wait", "until", until.UTC().Format(time.RFC3339), "holds", fails, "err", oneLine(err.Error()))
}

// Reachable tells the runner that route's downstream answered just now
// (a session checked its recipients against it in real time): a hold on
// the route ends, and its waiting messages go at once instead of at the
// end of the hold (which grows to RetryMax over a long outage).
func (q *Queue) Reachable(route string) {
	q.mu.Lock()
	_, held := q.holds[route]
	delete(q.holds, route)
	q.mu.Unlock()
	if held {
		q.kick()
	}
}

// routeUp ends route's hold after an attempt reached the downstream.
func (q *Queue) routeUp(route string) {
	q.mu.Lock()
	delete(q.holds, route)
	q.mu.Unlock()
}

// start runs an attempt of it; q.mu is held.
func (q *Queue) start(it *item) {
	it.busy = true
	q.busyRoute[it.route]++
	q.inflight.Add(1)
	go q.attempt(it)
}

// backoff returns the delay after the n-th failed attempt: RetryMin
// doubling to RetryMax, times a jitter in [0.75, 1.25).
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.RetryMin
	for i := 1; i < n && d < q.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, q.opts.RetryMax)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// attempt runs one delivery attempt of it, holding the message's lock
// (so that admin commands wait or skip), with the state re-read from
// disk (they may have changed it).
func (q *Queue) attempt(it *item) {
	next, gone := timeZero, false
	defer func() {
		q.mu.Lock()
		it.busy = false
		q.busyRoute[it.route]--
		if q.busyRoute[it.route] <= 0 {
			delete(q.busyRoute, it.route)
		}
		if gone {
			if q.items[it.id] == it {
				delete(q.items, it.id)
				q.bytes -= it.size
			}
		} else {
			it.next = next
			q.sched.push(it)
		}
		q.mu.Unlock()
		q.inflight.Done()
		q.kick()
	}()
	dir := q.opts.Dir
	f, err := openFile(filepath.Join(dir, it.id+msgExt), os.O_RDONLY, 0)
	if err != nil {
		gone = errors.Is(err, os.ErrNotExist)
		if !gone {
			q.log.Error("queue cannot open message", "id", it.id, "err", err)
			next = q.now().Add(q.opts.RetryMin)
		}
		return
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		next = q.now().Add(lockRetry) // an admin command holds it
		return
	}
	defer unlock(f)
	if unlinked(f) {
		gone = true
		return
	}
	m, err := parseOpen(dir, it.id, f)
	if err != nil {
		if errors.Is(err, errCorrupt) {
			q.quarantine(it.id, err)
			gone = true
			return
		}
		q.log.Error("queue cannot read message", "id", it.id, "err", err)
		next = q.now().Add(q.opts.RetryMin)
		return
	}
	next, gone = q.deliver(f, m)
}

// pending returns the indexes of env's pending recipients.
func pending(env *Envelope) []int {
	var p []int
	for i, r := range env.To {
		if r.Status == StatusPending {
			p = append(p, i)
		}
	}
	return p
}

// deliver does the attempt proper on a locked, parsed message and
// returns its next attempt, or gone when the message left the spool.
//
// Order on disk, for crashes: DSNs are committed first, then the state
// (or the removal). A crash in between sends a DSN twice, never none.
func (q *Queue) deliver(f *os.File, m *msgFile) (next time.Time, gone bool) {
	env := &m.env
	now := q.now()
	if env.NextAttempt.After(now) {
		return env.NextAttempt, false // rescheduled meanwhile
	}
	log := q.log.With("id", env.ID, "from", env.From, "route", env.Route)
	if len(pending(env)) == 0 {
		return timeZero, q.remove(env.ID, log)
	}
	var events []dsnEvent
	expired := now.Sub(env.Arrival) >= q.opts.MaxAge
	outcome := ""
	if expired {
		for _, i := range pending(env) {
			r := &env.To[i]
			last := r.Reply
			if last == "" {
				last = env.LastError
			}
			r.Status = StatusFailed
			r.Reply = last
			events = append(events, dsnEvent{rcpt: *r, action: "failed", status: "5.4.7", diag: last, expired: true})
		}
		outcome = "expired"
		log.Info("queue message expired", "age", now.Sub(env.Arrival).Round(time.Second).String(), "max_age", q.opts.MaxAge.String(), "attempts", env.Attempts, "last_error", env.LastError)
	} else {
		if err := m.checkBody(f); err != nil {
			if errors.Is(err, errCorrupt) {
				q.quarantine(env.ID, err)
				return timeZero, true
			}
			log.Error("queue cannot read message", "err", err)
			return now.Add(q.opts.RetryMin), false
		}
		outcome, events = q.try(f, m, log)
		now = q.now()
	}
	// A delay warning, once, for what is still pending.
	if p := pending(env); len(p) > 0 && q.opts.DelayWarning > 0 && !env.DelayWarned && now.Sub(env.Arrival) >= q.opts.DelayWarning {
		env.DelayWarned = true
		for _, i := range p {
			events = append(events, dsnEvent{rcpt: env.To[i], action: "delayed", status: statusOf(env.To[i].Reply, env.LastError, 4), diag: firstNonEmpty(env.To[i].Reply, env.LastError)})
		}
	}
	if err := q.sendDSN(env, f, m, events, log); err != nil {
		// The state must still be written (recipients the downstream
		// took must not get the message twice): the DSN is lost, and
		// the operator is told.
		log.Error("queue cannot spool a DSN; it is lost", "err", err, "to", env.From)
	}
	q.count(outcome)
	if len(pending(env)) == 0 {
		return timeZero, q.remove(env.ID, log)
	}
	env.Attempts++
	next = now.Add(q.backoff(env.Attempts))
	if deadline := env.Arrival.Add(q.opts.MaxAge); next.After(deadline) {
		next = deadline
	}
	if q.opts.DelayWarning > 0 && !env.DelayWarned {
		if w := env.Arrival.Add(q.opts.DelayWarning); next.After(w) {
			next = w
		}
	}
	env.NextAttempt = next
	if err := writeState(q.dirSync, env); err != nil {
		log.Error("queue cannot write the message state; recipients already delivered may be delivered again", "err", err)
	}
	log.Info("queue delivery deferred", "attempts", env.Attempts, "next_attempt", next.UTC().Format(time.RFC3339), "pending", len(pending(env)), "last_error", env.LastError)
	return next, false
}

// try calls the Deliverer and applies its results to env.
func (q *Queue) try(f *os.File, m *msgFile, log *slog.Logger) (outcome string, events []dsnEvent) {
	env := &m.env
	view := *env
	view.To = append([]Recipient(nil), env.To...)
	ctx := q.deliverCtx
	if ctx == nil {
		ctx = context.Background()
	}
	results, err := q.callDeliver(ctx, &view, io.NewSectionReader(f, m.bodyOff, m.size), m.size)
	if err != nil {
		env.LastError = oneLine(err.Error())
		log.Info("queue delivery failed", "attempts", env.Attempts+1, "err", env.LastError)
		if errors.Is(err, ErrUnreachable) {
			q.routeDown(env.Route, err, log)
		}
		return "deferred", nil
	}
	q.routeUp(env.Route)
	p := pending(env)
	used := make([]bool, len(env.To))
	var delivered, failed, deferred int
	for _, res := range results {
		i := matchRcpt(env, p, used, res.Rcpt)
		if i < 0 {
			log.Warn("queue deliverer answered for a recipient not pending", "rcpt", res.Rcpt)
			continue
		}
		used[i] = true
		r := &env.To[i]
		reply := replyText(res)
		r.Reply = reply
		switch {
		case res.Code >= 200 && res.Code < 300:
			r.Status = StatusDelivered
			delivered++
			if wants(r, "SUCCESS") {
				events = append(events, dsnEvent{rcpt: *r, action: "delivered", status: statusOf(reply, "", 2), diag: reply})
			}
		case res.Code >= 500 && res.Code < 600:
			r.Status = StatusFailed
			failed++
			events = append(events, dsnEvent{rcpt: *r, action: "failed", status: statusOf(reply, "", 5), diag: reply})
			log.Info("queue recipient refused", "rcpt", r.Addr, "reply", reply)
		default:
			env.LastError = reply
			deferred++
		}
	}
	for _, i := range p {
		if !used[i] {
			deferred++
			if env.LastError == "" {
				env.LastError = "no reply for the recipient"
			}
		}
	}
	if deferred == 0 {
		env.LastError = ""
	}
	switch {
	case deferred > 0:
		outcome = "deferred"
	case failed == 0:
		outcome = "delivered"
	case delivered == 0:
		outcome = "failed"
	default:
		outcome = "partial"
	}
	log.Info("queue delivery attempt", "outcome", outcome, "delivered", delivered, "failed", failed, "deferred", deferred)
	return outcome, events
}

// callDeliver calls the Deliverer; a panic in it is an attempt that
// failed as a whole (logged as our fault), not the end of the process.
func (q *Queue) callDeliver(ctx context.Context, env *Envelope, body io.ReadSeeker, size int64) (rs []Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("queue deliverer panicked", "id", env.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rs, err = nil, fmt.Errorf("internal error in the delivery (logged)")
		}
	}()
	return q.opts.Deliver.Deliver(ctx, env, body, size)
}

// matchRcpt finds the pending recipient a Result is for.
func matchRcpt(env *Envelope, p []int, used []bool, addr string) int {
	for _, i := range p {
		if !used[i] && env.To[i].Addr == addr {
			return i
		}
	}
	for _, i := range p {
		if !used[i] && strings.EqualFold(env.To[i].Addr, addr) {
			return i
		}
	}
	return -1
}

func replyText(r Result) string {
	s := fmt.Sprintf("%d", r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return oneLine(s)
}

// oneLine makes s safe for a header or a log: control characters become
// spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (q *Queue) remove(id string, log *slog.Logger) bool {
	if err := removeMessage(q.dirSync, id); err != nil {
		log.Error("queue cannot remove a finished message; it may be delivered again", "err", err)
	}
	return true
}

func (q *Queue) count(outcome string) {
	if outcome == "" {
		return
	}
	q.mu.Lock()
	q.counts[outcome]++
	q.mu.Unlock()
}

// Stats returns a snapshot for metrics.
func (q *Queue) Stats() Stats {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Messages: len(q.items), Bytes: q.bytes, Deliveries: map[string]uint64{}, DSNs: map[string]uint64{}}
	for _, it := range q.items {
		if age := now.Sub(it.arrival); age > s.OldestAge {
			s.OldestAge = age
		}
	}
	for k, v := range q.counts {
		s.Deliveries[k] = v
	}
	for k, v := range q.dsns {
		s.DSNs[k] = v
	}
	return s
}

package queue

import (
	"sync"
	"sync/atomic"
)

// dirSyncer is the group commit of the spool directory: the renames and
// removals of concurrent Commits and deliveries share one directory
// fsync instead of one each. A caller whose rename (or removal) is done
// calls sync, which returns once an fsync of the directory that began
// after the call has ended, with its error. Callers arriving while an
// fsync runs join the next one, which starts as soon as it ends: no
// caller waits for a timer, and under load one fsync covers all the
// renames of its duration. Every message file is still fsynced on its
// own (Writer.commit) before its rename. A lone caller (the queue
// commands, on a spool they do not run) simply gets its own fsync.
type dirSyncer struct {
	dir string
	// perCall turns the batching off: every sync is its own fsync
	// (BenchmarkCommit compares the two).
	perCall bool

	mu      sync.Mutex
	next    *syncBatch // callers waiting for an fsync not begun yet
	running bool       // a goroutine is running loop

	fsyncs atomic.Uint64 // directory fsyncs done
	calls  atomic.Uint64 // sync calls
}

type syncBatch struct {
	done chan struct{}
	err  error
}

// sync makes the caller's renames and removals in the directory durable.
func (s *dirSyncer) sync() error {
	s.calls.Add(1)
	if s.perCall {
		s.fsyncs.Add(1)
		return syncDir(s.dir)
	}
	s.mu.Lock()
	b := s.next
	if b == nil {
		b = &syncBatch{done: make(chan struct{})}
		s.next = b
	}
	if !s.running {
		s.running = true
		go s.loop()
	}
	s.mu.Unlock()
	<-b.done
	return b.err
}

// loop fsyncs the directory for one batch after the other until no
// caller waits.
func (s *dirSyncer) loop() {
	for {
		s.mu.Lock()
		b := s.next
		s.next = nil
		if b == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.fsyncs.Add(1)
		b.err = syncDir(s.dir)
		close(b.done)
	}
}

package queue

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkCommit spools 10 KB messages from 50 goroutines at once (c=50
// of BENCHMARKS.md): Create, Write, Commit — every message fsynced and
// renamed, the directory fsynced, before Commit returns. "group" is the
// queue as it runs (concurrent Commits share directory fsyncs),
// "per-message" one directory fsync per Commit; dirsyncs/msg says how
// many directory fsyncs a message cost.
func BenchmarkCommit(b *testing.B) {
	b.Run("group", func(b *testing.B) { benchCommit(b, false) })
	b.Run("per-message", func(b *testing.B) { benchCommit(b, true) })
}

// benchQueue is testQueue on the real clock, quiet even under -v (a
// benchmark would log every delivery).
func benchQueue(b *testing.B) *Queue {
	q, _ := testQueue(b, &fakeDeliverer{}, func(o *Options) {
		o.Now = time.Now
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	return q
}

func benchCommit(b *testing.B, perCall bool) {
	q := benchQueue(b)
	q.dirSync.perCall = perCall
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\r\n"), 160) // 10,560 bytes
	env := Envelope{From: "alice@example.org", To: rcpts("bob@example.com")}
	b.SetBytes(int64(len(body)))
	b.SetParallelism(25) // × GOMAXPROCS (2 here): 50 writers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w, err := q.Create(env)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := w.Write(body); err != nil {
				b.Error(err)
				return
			}
			if _, err := w.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(q.dirSync.fsyncs.Load())/float64(b.N), "dirsyncs/msg")
}

// BenchmarkDispatchBacklog is the runner's cost per wake with a backlog
// of 100,000 messages none of which is due (a downstream down for
// hours): what every Commit and every finished attempt pays.
func BenchmarkDispatchBacklog(b *testing.B) {
	q := benchQueue(b)
	later := time.Now().Add(time.Hour)
	for i := 0; i < 100000; i++ {
		it := &item{id: fmt.Sprintf("%024x", i), next: later.Add(time.Duration(i) * time.Millisecond)}
		q.mu.Lock()
		q.items[it.id] = it
		q.sched.push(it)
		q.mu.Unlock()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := q.dispatch(); d <= 0 {
			b.Fatalf("dispatch: next due in %v", d)
		}
	}
}

package queue

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"
)

// TestScheduleOrder: after random pushes, fixes and removals the heap
// gives the remaining items in order of next attempt.
func TestScheduleOrder(t *testing.T) {
	var s schedule
	items := make([]*item, 500)
	for i := range items {
		items[i] = &item{next: t0.Add(time.Duration(rand.IntN(1000)) * time.Second)}
		s.push(items[i])
	}
	removed := map[*item]bool{}
	for i := 0; i < 200; i++ {
		it := items[rand.IntN(len(items))]
		if rand.IntN(2) == 0 {
			s.remove(it)
			removed[it] = true
			s.remove(it) // twice: no effect
			continue
		}
		it.next = t0.Add(time.Duration(rand.IntN(1000)) * time.Second)
		if removed[it] {
			s.push(it)
			delete(removed, it)
		} else {
			s.fix(it)
		}
	}
	if want := len(items) - len(removed); s.Len() != want {
		t.Fatalf("heap holds %d items, want %d", s.Len(), want)
	}
	var last time.Time
	for s.Len() > 0 {
		it := heap.Pop(&s).(*item)
		if removed[it] {
			t.Fatal("a removed item came out of the heap")
		}
		if it.next.Before(last) {
			t.Fatalf("out of order: %v after %v", it.next, last)
		}
		last = it.next
	}
}

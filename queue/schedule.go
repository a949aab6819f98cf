package queue

import "container/heap"

// schedule is a min-heap of idle items by next attempt (the zero time,
// due now, first): the runner finds what is due without looking at the
// rest of the backlog. Its methods are called with Queue.mu held.
type schedule []*item

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].next.Before(s[j].next) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].index, s[j].index = i, j
}
func (s *schedule) Push(x any) {
	it := x.(*item)
	it.index = len(*s)
	*s = append(*s, it)
}
func (s *schedule) Pop() any {
	old := *s
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	it.index = -1
	return it
}

// has reports whether it is in the heap (a new item's index is 0, so the
// slot is checked too).
func (s schedule) has(it *item) bool {
	return it.index >= 0 && it.index < len(s) && s[it.index] == it
}

// push adds it (not in the heap, not waiting in Queue.ready).
func (s *schedule) push(it *item) {
	if s.has(it) {
		heap.Fix(s, it.index)
		return
	}
	heap.Push(s, it)
}

// fix restores the order after it.next changed; an item not in the heap
// (busy, or waiting for a slot) is left alone.
func (s *schedule) fix(it *item) {
	if s.has(it) {
		heap.Fix(s, it.index)
	}
}

// remove takes it out of the heap if it is there.
func (s *schedule) remove(it *item) {
	if s.has(it) {
		heap.Remove(s, it.index)
	}
	it.index = -1
}

// Package sim runs many DHT nodes in one process over an in-memory network with a
// virtual clock, so lookups in networks of thousands of nodes, with latency, loss and
// churn, can be measured deterministically from a seed.
//
// Everything runs on the goroutine that drives the Clock: delivering a packet, firing a
// timer and running a node's callbacks are all events of one queue.
package sim

import (
	"container/heap"
	"time"

	"github.com/speedbt/btt/dht"
)

// Clock is a discrete-event virtual clock. It implements dht.Clock. Time only moves
// when the driver runs events.
type Clock struct {
	now time.Time
	q   eventQueue
	seq uint64
	ran uint64
}

type event struct {
	at   time.Time
	seq  uint64 // ties broken by scheduling order, so runs are reproducible
	f    func()
	dead bool
	done bool
	i    int
}

// Stop cancels the event.
func (e *event) Stop() bool {
	if e.dead || e.done {
		return false
	}
	e.dead = true
	return true
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].i = i; q[j].i = j }
func (q *eventQueue) Push(x any)   { e := x.(*event); e.i = len(*q); *q = append(*q, e) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// NewClock returns a clock that reads start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time { return c.now }

// AfterFunc schedules f at Now()+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) dht.Timer {
	if d < 0 {
		d = 0
	}
	c.seq++
	e := &event{at: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.q, e)
	return e
}

// Step runs the next live event, advancing the clock to it. It reports false when no
// event is left.
func (c *Clock) Step() bool {
	for c.q.Len() > 0 {
		e := heap.Pop(&c.q).(*event)
		if e.dead {
			continue
		}
		c.now = e.at
		e.done = true
		c.ran++
		e.f()
		return true
	}
	return false
}

// RunUntil runs events until cond holds, no event is left, or the clock would pass
// deadline. It reports whether cond holds.
func (c *Clock) RunUntil(cond func() bool, deadline time.Time) bool {
	for !cond() {
		if c.q.Len() == 0 || c.q[0].at.After(deadline) {
			// Drop cancelled events at the head before giving up.
			for c.q.Len() > 0 && c.q[0].dead {
				heap.Pop(&c.q)
			}
			if c.q.Len() == 0 || c.q[0].at.After(deadline) {
				return cond()
			}
		}
		c.Step()
	}
	return true
}

// Events returns how many events have run.
func (c *Clock) Events() uint64 { return c.ran }

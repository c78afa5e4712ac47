package peer

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"
)

// The send scheduler shares the session's upload among its connections by weight, so that
// a paid Speed slot buys a defined share of the provider's upload (docs/bep-speed.md,
// "What a paid slot buys"), whether or not an upload limit is set.
//
// Every block a writer sends first takes a grant. Grants follow self-clocked weighted fair
// queueing: a block of n bytes from a flow of weight w gets the tag max(V, last tag of the
// flow) + n/w, where V is the tag of the last block granted (V - n/w in place of V if the
// flow's previous grant ended in the same step: it never went idle), and the waiting block
// with the smallest tag goes next. Over any interval in which a set of flows is backlogged, their
// bytes are in proportion to their weights, within one block per flow; an idle flow banks
// no credit (its next tag starts from V).
//
// What is shared depends on the bottleneck:
//   - With an upload limit, a token bucket paces the grants: the head of the queue waits
//     until the bucket is not in debt, then takes its bytes (the bucket may go into debt by
//     one block, which the next grant waits out).
//   - Without one, the link is the bottleneck: socket writes block when the kernel's send
//     buffers are full. A few grants at a time are in the kernel (each holder releases its
//     grant when its write returns), so the order of grants is the order in which the link's
//     capacity is handed out. A holder whose write takes longer than hold (a peer that stopped
//     reading) loses its exclusivity, so one stalled peer cannot stop the others; its flow is
//     then marked slow and its next blocks go without exclusivity (in tag order, paced by the
//     bucket) until one of its writes returns within hold, so a peer that reads slowly on
//     purpose costs the others one hold, not one per block.
//
// How many grants may be in the kernel at once (concurrency) is the most, up to sendSlots,
// that keeps the weights exact. A flow has one block in the kernel at a time, so with k
// grants in the kernel no flow can have more than 1/k of the link: k may only be as large as
// the total weight of the backlogged flows over the largest one. Three flows of weights
// 4, 1, 1 therefore go one grant at a time, as before; 200 peers of equal weight (or a few
// paid ones among them) go sendSlots at a time. One at a time cost a crowd dearly: each block
// waited for the previous block's writer to return and wake the next one, and the sends
// could not overlap on two cores (200 TCP downloaders on loopback, three rounds: 423-517
// MB/s one at a time, 604-680 two, 740-861 four).
//
// Bounds: the queue holds at most one block per connection (a writer waits for its grant
// before it reads the next message), so it is bounded by Settings.MaxConns; at most
// sendSlots grants are exclusive at once.

// sendSlots is the most exclusive grants in the kernel at once. Four kept two cores busy
// sending on loopback with 200 peers; more only adds flows that are past their share.
const sendSlots = 4

// sendFlow is one connection's place in the scheduler. weight is written by the torrent
// loop and read under the scheduler's lock; finish belongs to the scheduler.
type sendFlow struct {
	weight float64
	finish float64
	slow   bool      // its last exclusive write outlasted the hold
	since  time.Time // when its current grant began
	// beforeWait, if set, runs on the flow's writer before acquire blocks for a grant: a
	// writer that corked its connection sends what corking holds back (see corker).
	beforeWait func()
}

// sendWaiter is one block waiting for its grant.
type sendWaiter struct {
	f     *sendFlow
	n     int
	tag   float64
	wt    float64 // the flow's weight when it was queued, as counted in fairQueue.present
	seq   uint64  // arrival order: equal tags are granted first come, first served
	index int     // in the heap; -1 once granted or removed
	gen   uint64  // the grant's generation, set when granted
	ready chan struct{}
}

// fairQueue is the scheduler's pure core: no goroutines, no clock; now is passed in.
type fairQueue struct {
	vtime float64
	seq   uint64
	q     waiterHeap

	// The token bucket; rate 0 means no upload limit.
	rate, burst, tokens float64
	last                time.Time

	// The exclusive grants in the kernel, oldest first; at most slots of them.
	active []activeGrant
	slots  int
	// present counts the blocks queued or exclusively granted, by their flow's weight: what
	// concurrency needs, kept as they come and go instead of summed over the queue for every
	// grant (6% of a seeder's CPU with 200 peers). A few distinct weights, so a few keys.
	present map[float64]int
	gen     uint64
	hold    time.Duration
	// shared numbers the non-exclusive grants of slow flows (high bit set, never a gen).
	shared uint64
}

// activeGrant is an exclusive grant whose write has not returned.
type activeGrant struct {
	gen   uint64
	f     *sendFlow
	wt    float64 // as counted in present
	since time.Time
}

func newFairQueue(bytesPerSec int64, hold time.Duration, now time.Time) fairQueue {
	q := fairQueue{hold: hold, last: now, slots: sendSlots, present: make(map[float64]int)}
	q.setRate(bytesPerSec, now)
	return q
}

// setRate changes the upload limit; 0 or less lifts it.
func (q *fairQueue) setRate(bytesPerSec int64, now time.Time) {
	if bytesPerSec <= 0 {
		q.rate, q.burst, q.tokens = 0, 0, 0
		return
	}
	was := q.rate
	q.rate = float64(bytesPerSec)
	// A quarter second of the rate (at least four blocks): the limit holds over short
	// windows without making every block wait on its own.
	q.burst = max(q.rate/4, 64<<10)
	if was == 0 {
		q.tokens, q.last = q.burst, now
	}
	q.tokens = min(q.tokens, q.burst)
}

// push queues a block of n bytes for flow f. continuing says that f's previous block's
// grant ended in the same step (its writer had this block ready): f never went idle, so its
// tag follows its last one, behind the virtual time by at most this block's own increment.
// Otherwise it starts from the virtual time, banking nothing for the time it had nothing to
// send. With one grant out at a time the two are the same (no grant moved the virtual time
// past f's while f was in the kernel); with several, the others' grants move it on
// meanwhile, by about one increment of f's while f is served at its share, and starting a
// busy flow from there would cost it its weight. The cap keeps a flow whose write took
// long (a slow reader) from banking the whole time as credit.
func (q *fairQueue) push(w *sendWaiter, continuing bool) {
	wt := w.f.weight
	if wt <= 0 {
		wt = 1
	}
	w.wt = wt
	q.present[wt]++
	inc := float64(w.n) / wt
	base := max(q.vtime, w.f.finish)
	if continuing {
		base = max(q.vtime-inc, w.f.finish)
	}
	w.tag = base + inc
	w.f.finish = w.tag
	q.seq++
	w.seq = q.seq
	heap.Push(&q.q, w)
}

// grant hands the next grant to the head of the queue if it may go now. Otherwise it
// returns nil and how long until it should be asked again (0: only when a holder releases
// or a block arrives).
func (q *fairQueue) grant(now time.Time) (*sendWaiter, time.Duration) {
	if len(q.q) == 0 {
		return nil, 0
	}
	head := q.q[0]
	if len(q.active) > 0 && !head.f.slow && len(q.active) >= q.concurrency() {
		oldest := q.active[0]
		held := now.Sub(oldest.since)
		if held < q.hold {
			return nil, q.hold - held
		}
		oldest.f.slow = true // its write outlasted the hold: no more exclusive turns
		q.gone(oldest.wt)
		q.active = slices.Delete(q.active, 0, 1)
	}
	if q.rate > 0 {
		if el := now.Sub(q.last); el > 0 {
			q.tokens = min(q.burst, q.tokens+el.Seconds()*q.rate)
		}
		q.last = now
		if q.tokens < 0 {
			return nil, time.Duration(-q.tokens / q.rate * float64(time.Second))
		}
	}
	w := heap.Pop(&q.q).(*sendWaiter)
	if q.rate > 0 {
		q.tokens -= float64(w.n) // may go into debt: the next grant waits it out
	}
	q.vtime = w.tag
	w.f.since = now
	if w.f.slow {
		q.gone(w.wt) // not exclusive: it no longer counts
		q.shared++
		w.gen = q.shared | 1<<63
		return w, 0
	}
	q.gen++
	w.gen = q.gen
	q.active = append(q.active, activeGrant{gen: q.gen, f: w.f, wt: w.wt, since: now})
	return w, 0
}

// concurrency is how many exclusive grants may be in the kernel now: the total weight of
// the blocks waiting or in the kernel over the largest weight among them (no flow may be
// owed more than 1/k of the link, since it has one block out at a time), at most slots.
func (q *fairQueue) concurrency() int {
	if q.slots <= 1 {
		return 1
	}
	var total, top float64
	for wt, n := range q.present {
		total += wt * float64(n)
		top = max(top, wt)
	}
	if top == 0 {
		return 1
	}
	return max(1, min(q.slots, int(total/top)))
}

// gone uncounts a block of weight wt that left the queue and the exclusive grants.
func (q *fairQueue) gone(wt float64) {
	if q.present[wt]--; q.present[wt] <= 0 {
		delete(q.present, wt)
	}
}

// release ends f's grant of generation gen (its write returned at now). A write that
// returned within the hold clears the flow's slow mark.
func (q *fairQueue) release(f *sendFlow, gen uint64, now time.Time) {
	if f != nil && now.Sub(f.since) < q.hold {
		f.slow = false
	}
	for i, a := range q.active {
		if a.gen == gen {
			q.gone(a.wt)
			q.active = slices.Delete(q.active, i, i+1)
			break
		}
	}
}

// remove takes a waiter out of the queue (its context ended before its grant).
func (q *fairQueue) remove(w *sendWaiter) {
	if w.index >= 0 {
		heap.Remove(&q.q, w.index)
		q.gone(w.wt)
	}
}

type waiterHeap []*sendWaiter

func (h waiterHeap) Len() int { return len(h) }
func (h waiterHeap) Less(i, j int) bool {
	if h[i].tag != h[j].tag {
		return h[i].tag < h[j].tag
	}
	return h[i].seq < h[j].seq
}
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*sendWaiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}

// sendScheduler is the blocking shell around fairQueue that the writers share. Its timer
// wakes the queue when the head waits on the bucket or on an expired hold.
type sendScheduler struct {
	mu    sync.Mutex
	q     fairQueue
	timer *time.Timer
	now   func() time.Time
}

func newSendScheduler(bytesPerSec int64, hold time.Duration) *sendScheduler {
	s := &sendScheduler{now: time.Now}
	s.q = newFairQueue(bytesPerSec, hold, s.now())
	s.timer = time.AfterFunc(time.Hour, s.dispatch)
	s.timer.Stop()
	return s
}

// setRate changes the upload limit (0 or less: none) for the grants from now on.
func (s *sendScheduler) setRate(bytesPerSec int64) {
	s.mu.Lock()
	s.q.setRate(bytesPerSec, s.now())
	s.dispatchLocked()
	s.mu.Unlock()
}

// setWeight changes f's weight for the blocks it queues from now on.
func (s *sendScheduler) setWeight(f *sendFlow, w float64) {
	s.mu.Lock()
	f.weight = w
	s.mu.Unlock()
}

// acquire waits for f's turn to send n bytes and returns the grant to release once the
// bytes are written. A writer with more blocks to send passes the grant it holds as prev
// (0: none): it is released and the next block queued in one step, so that a backlogged
// flow is in the queue when the turn is handed on (releasing first would hand the turn to
// whoever is waiting, and every backlogged flow would get one block per round whatever its
// weight).
func (s *sendScheduler) acquire(ctx context.Context, f *sendFlow, n int, prev uint64) (uint64, error) {
	w := &sendWaiter{f: f, n: n, ready: make(chan struct{}, 1)}
	s.mu.Lock()
	if prev != 0 {
		s.q.release(f, prev, s.now())
	}
	s.q.push(w, prev != 0)
	s.dispatchLocked()
	if w.index < 0 {
		s.mu.Unlock()
		return w.gen, nil // granted at once
	}
	s.mu.Unlock()
	if f.beforeWait != nil {
		f.beforeWait()
	}
	select {
	case <-w.ready:
		return w.gen, nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.index >= 0 {
			s.q.remove(w)
		} else { // granted as we gave up: pass the turn on
			s.q.release(f, w.gen, s.now())
			s.dispatchLocked()
		}
		s.mu.Unlock()
		return 0, ctx.Err()
	}
}

// release ends f's grant and lets the next block go. A zero gen is no grant; a nil
// scheduler (the plain send path) has none.
func (s *sendScheduler) release(f *sendFlow, gen uint64) {
	if s == nil || gen == 0 {
		return
	}
	s.mu.Lock()
	s.q.release(f, gen, s.now())
	s.dispatchLocked()
	s.mu.Unlock()
}

func (s *sendScheduler) dispatch() {
	s.mu.Lock()
	s.dispatchLocked()
	s.mu.Unlock()
}

// dispatchLocked grants every block that may go now (signalling each), or arms the timer
// for when the head may.
func (s *sendScheduler) dispatchLocked() {
	for {
		w, d := s.q.grant(s.now())
		if w == nil {
			if d > 0 {
				s.timer.Reset(d)
			}
			return
		}
		w.ready <- struct{}{} // capacity 1, and a waiter is granted once
	}
}

func (s *sendScheduler) stop() { s.timer.Stop() }

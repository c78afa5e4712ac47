package peer

import (
	"context"
	"maps"
	"math"
	"sync"
	"testing"
	"time"
)

// drive runs the fair queue with a fake clock: every flow is always backlogged (it queues
// its next block as soon as one is granted), each granted write takes writeTime, and the
// result is the bytes each flow sent in the given span of virtual time.
func drive(t *testing.T, q *fairQueue, flows []*sendFlow, block int, writeTime, span time.Duration, start time.Time) []int64 {
	t.Helper()
	now := start
	sent, byFlow := queueFirstBlocks(q, flows, block)
	for now.Sub(start) < span {
		w, d := q.grant(now)
		if w == nil {
			if d <= 0 {
				t.Fatal("queue stalled: no grant and no wake-up")
			}
			now = now.Add(d)
			continue
		}
		i := byFlow[w.f]
		now = now.Add(writeTime)
		sent[i] += int64(w.n)
		q.release(w.f, w.gen, now)
		q.push(&sendWaiter{f: w.f, n: block}, true)
	}
	return sent
}

// grantNext returns the next grant, advancing the clock to when the queue gives it.
func grantNext(t *testing.T, q *fairQueue, now time.Time) (*sendWaiter, time.Time) {
	t.Helper()
	for {
		w, d := q.grant(now)
		if w != nil {
			return w, now
		}
		if d <= 0 {
			t.Fatal("queue stalled: no grant and no wake-up")
		}
		now = now.Add(d)
	}
}

// busy reports whether an exclusive grant is in the kernel.
func busy(q *fairQueue) bool { return len(q.active) > 0 }

// checkPresent fails unless q's running count of blocks by weight is what its queue and
// exclusive grants hold.
func checkPresent(t *testing.T, q *fairQueue) {
	t.Helper()
	want := map[float64]int{}
	for _, w := range q.q {
		want[w.wt]++
	}
	for _, a := range q.active {
		want[a.wt]++
	}
	if !maps.Equal(want, q.present) {
		t.Fatalf("counted %v, queue and grants hold %v", q.present, want)
	}
}

// queueFirstBlocks queues one block of every flow and returns a byte count per flow and
// each flow's index.
func queueFirstBlocks(q *fairQueue, flows []*sendFlow, block int) ([]int64, map[*sendFlow]int) {
	byFlow := map[*sendFlow]int{}
	for i, f := range flows {
		byFlow[f] = i
		q.push(&sendWaiter{f: f, n: block}, false)
	}
	return make([]int64, len(flows)), byFlow
}

func shares(sent []int64) []float64 {
	var total int64
	for _, s := range sent {
		total += s
	}
	out := make([]float64, len(sent))
	for i, s := range sent {
		out[i] = float64(s) / float64(total)
	}
	return out
}

// TestFairQueueShares: backlogged flows get bytes in proportion to their weights, with an
// upload limit (the bucket paces, the total is the limit) and without one (the link is the
// bottleneck: each write takes the time the link needs).
func TestFairQueueShares(t *testing.T) {
	start := time.Unix(1e9, 0)
	for _, tc := range []struct {
		name      string
		limit     int64
		writeTime time.Duration
		weights   []float64
	}{
		{"limited 4:1:1", 4 << 20, 0, []float64{4, 1, 1}},
		{"limited 4:4:1:1", 4 << 20, 0, []float64{4, 4, 1, 1}},
		{"limited equal", 4 << 20, 0, []float64{1, 1, 1, 1, 1}},
		{"link-bound 4:1:1", 0, 4 * time.Millisecond, []float64{4, 1, 1}},
		{"link-bound 8:1", 0, time.Millisecond, []float64{8, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newFairQueue(tc.limit, 50*time.Millisecond, start)
			var flows []*sendFlow
			var sum float64
			for _, w := range tc.weights {
				flows = append(flows, &sendFlow{weight: w})
				sum += w
			}
			span := 60 * time.Second
			sent := drive(t, &q, flows, 16<<10, tc.writeTime, span, start)
			for i, got := range shares(sent) {
				if want := tc.weights[i] / sum; math.Abs(got-want) > 0.01 {
					t.Errorf("flow %d (weight %v): share %.4f, want %.4f", i, tc.weights[i], got, want)
				}
			}
			if tc.limit > 0 {
				var total int64
				for _, s := range sent {
					total += s
				}
				// The burst is free once; after it the bucket paces at the limit.
				rate := float64(total) / span.Seconds()
				if rate < 0.99*float64(tc.limit) || rate > 1.01*float64(tc.limit) {
					t.Errorf("total rate %.0f B/s, limit %d", rate, tc.limit)
				}
			}
		})
	}
}

// TestFairQueueNoBankedCredit: a flow that was idle does not catch up on what it missed; it
// starts at the current virtual time and gets its share from then on.
func TestFairQueueNoBankedCredit(t *testing.T) {
	start := time.Unix(1e9, 0)
	q := newFairQueue(1<<20, 50*time.Millisecond, start)
	busy, late := &sendFlow{weight: 1}, &sendFlow{weight: 1}
	drive(t, &q, []*sendFlow{busy}, 16<<10, 0, 10*time.Second, start)
	// drive left one block of busy queued; late joins now.
	now := start.Add(10 * time.Second)
	q.push(&sendWaiter{f: late, n: 16 << 10}, false)
	run := 0
	for range 20 {
		var w *sendWaiter
		w, now = grantNext(t, &q, now)
		if w.f == late {
			run = 0
		} else if run++; run > 1 {
			t.Fatal("the busy flow got two blocks in a row while the late flow waited")
		}
		q.release(w.f, w.gen, now)
		q.push(&sendWaiter{f: w.f, n: 16 << 10}, true)
	}
}

// TestFairQueueHold: a grant whose write does not return (a peer that stopped reading)
// holds the turn for the hold time at most.
func TestFairQueueHold(t *testing.T) {
	start := time.Unix(1e9, 0)
	q := newFairQueue(0, 50*time.Millisecond, start)
	stuck, other := &sendFlow{weight: 8}, &sendFlow{weight: 1}
	q.push(&sendWaiter{f: stuck, n: 16 << 10}, false)
	q.push(&sendWaiter{f: other, n: 16 << 10}, false)
	w, _ := q.grant(start)
	if w.f != stuck {
		t.Fatal("the heavier flow should go first")
	}
	if w2, d := q.grant(start.Add(10 * time.Millisecond)); w2 != nil || d != 40*time.Millisecond {
		t.Fatalf("during the hold: grant %v, wait %v; want none for 40ms", w2, d)
	}
	w2, _ := q.grant(start.Add(50 * time.Millisecond))
	if w2 == nil || w2.f != other {
		t.Fatal("after the hold the next flow did not get the turn")
	}
	q.release(w.f, w.gen, start.Add(60*time.Millisecond)) // the stuck write returns late
	if !busy(&q) {
		t.Fatal("a stale release ended the current grant")
	}
	// The slow flow's next block goes at once, without waiting for or taking the turn.
	q.push(&sendWaiter{f: stuck, n: 16 << 10}, false)
	w3, _ := q.grant(start.Add(61 * time.Millisecond))
	if w3 == nil || w3.f != stuck || !stuck.slow || q.active[len(q.active)-1].f != other {
		t.Fatalf("slow flow: grant %v, slow %v", w3, stuck.slow)
	}
	// Its write returns within the hold: it is no longer slow, and waits its turn again.
	q.release(stuck, w3.gen, start.Add(62*time.Millisecond))
	if stuck.slow || !busy(&q) {
		t.Fatalf("after a quick write: slow %v, busy %v", stuck.slow, busy(&q))
	}
	q.push(&sendWaiter{f: stuck, n: 16 << 10}, false)
	if w4, _ := q.grant(start.Add(63 * time.Millisecond)); w4 != nil {
		t.Fatal("a flow no longer slow went during another's exclusive grant")
	}
	checkPresent(t, &q) // after an eviction at the hold and a slow flow's shared grant
}

// TestSendSchedulerBlocking runs the blocking scheduler with real goroutines: three writers
// of weights 4, 1, 1 keep it busy; the bytes granted follow the weights. Shares are counted
// in grants, not measured in time, so the load on the machine does not matter.
func TestSendSchedulerBlocking(t *testing.T) {
	s := newSendScheduler(64<<20, 50*time.Millisecond)
	defer s.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	weights := []float64{4, 1, 1}
	var mu sync.Mutex
	sent := make([]int64, len(weights))
	total := int64(0)
	const stop = 3000 * (16 << 10)
	// A gate holds the turn until every writer has queued its first block, so that all
	// three are backlogged from the first grant on (a writer that held the turn alone at
	// the start would get everything the bucket's burst allows). Its weight dwarfs theirs,
	// so that while it holds its grant no other may be in the kernel beside it.
	gate, err := s.acquire(ctx, &sendFlow{weight: 1000}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, w := range weights {
		f := &sendFlow{}
		s.setWeight(f, w)
		wg.Go(func() {
			var g uint64
			for {
				var err error
				if g, err = s.acquire(ctx, f, 16<<10, g); err != nil {
					return
				}
				mu.Lock()
				sent[i] += 16 << 10
				total += 16 << 10
				done := total >= stop
				mu.Unlock()
				if done {
					s.release(f, g)
					cancel()
					return
				}
			}
		})
	}
	for queued := 0; queued < len(weights); {
		time.Sleep(time.Millisecond)
		s.mu.Lock()
		queued = len(s.q.q)
		s.mu.Unlock()
	}
	s.release(nil, gate)
	wg.Wait()
	// All three are backlogged from the first grant to the last, within a block each.
	for i, got := range shares(sent) {
		if want := weights[i] / 6; math.Abs(got-want) > 0.02 {
			t.Errorf("writer %d (weight %v): share %.3f, want %.3f", i, weights[i], got, want)
		}
	}
	if len(s.q.q) != 0 || busy(&s.q) || len(s.q.present) != 0 {
		t.Errorf("after cancel: %d queued, busy %v, counted %v", len(s.q.q), busy(&s.q), s.q.present)
	}
}

// TestFairQueueSetRate: a limit set while running paces the next grants at the new rate,
// and lifting it lets the queue go at the link's pace.
func TestFairQueueSetRate(t *testing.T) {
	start := time.Unix(1e9, 0)
	q := newFairQueue(0, 50*time.Millisecond, start)
	f := []*sendFlow{{weight: 1}}
	sent := drive(t, &q, f, 16<<10, time.Millisecond, time.Second, start)
	if sent[0] != 1000*(16<<10) {
		t.Fatalf("unlimited: %d bytes in a second of 1 ms writes", sent[0])
	}
	now := start.Add(time.Second)
	q = newFairQueue(0, 50*time.Millisecond, now)
	q.setRate(1<<20, now)
	sent = drive(t, &q, f, 16<<10, 0, 10*time.Second, now)
	if r := float64(sent[0]) / 10; r < 0.99*(1<<20) || r > 1.04*(1<<20) {
		t.Errorf("limited to 1 MiB/s: %.0f B/s", r)
	}
	q.setRate(0, now)
	if w, d := q.grant(now.Add(11 * time.Second)); w == nil && d > 50*time.Millisecond {
		t.Errorf("lifted limit still waits %v", d)
	}
}

// TestSendSchedulerBeforeWait: a flow's beforeWait runs when its writer must wait for a
// grant (so a corked connection sends what it holds first), and not when the grant is
// immediate.
func TestSendSchedulerBeforeWait(t *testing.T) {
	s := newSendScheduler(0, 50*time.Millisecond)
	defer s.stop()
	ctx := context.Background()
	waited := 0
	f := &sendFlow{weight: 1, beforeWait: func() { waited++ }}
	g, err := s.acquire(ctx, f, 16<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if waited != 0 {
		t.Fatalf("beforeWait ran %d times for an immediate grant", waited)
	}
	// Another flow holds the turn: f waits, after running beforeWait. (Its weight is four
	// times f's, so that only one grant may be in the kernel: two flows of equal weight
	// would both go at once.)
	s.release(f, g)
	other, err := s.acquire(ctx, &sendFlow{weight: 4}, 16<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan uint64)
	go func() {
		g, _ := s.acquire(ctx, f, 16<<10, 0)
		done <- g
	}()
	for queued, end := 0, time.Now().Add(10*time.Second); queued == 0; {
		if time.Now().After(end) {
			t.Fatal("the second acquire never queued")
		}
		time.Sleep(time.Millisecond)
		s.mu.Lock()
		queued = len(s.q.q)
		s.mu.Unlock()
	}
	s.release(nil, other)
	s.release(f, <-done)
	if waited != 1 {
		t.Errorf("beforeWait ran %d times for one wait, want 1", waited)
	}
}

// driveConcurrent is drive with writes that overlap: whenever the queue grants, the write
// starts, and each takes writeTime, so as many grants are in the kernel as the queue allows.
// It returns the bytes each flow sent in span and the most grants that were out at once.
func driveConcurrent(t *testing.T, q *fairQueue, flows []*sendFlow, block int, writeTime, span time.Duration, start time.Time) ([]int64, int) {
	t.Helper()
	type write struct {
		w    *sendWaiter
		done time.Time
	}
	now := start
	sent, byFlow := queueFirstBlocks(q, flows, block)
	var out []write
	most := 0
	for now.Sub(start) < span {
		for {
			w, _ := q.grant(now)
			if w == nil {
				break
			}
			out = append(out, write{w, now.Add(writeTime)})
		}
		most = max(most, len(out))
		if len(out) == 0 {
			t.Fatal("queue stalled: nothing granted and nothing in the kernel")
		}
		// The earliest write returns; its flow queues its next block.
		first := 0
		for i := range out {
			if out[i].done.Before(out[first].done) {
				first = i
			}
		}
		checkPresent(t, q)
		wr := out[first]
		out = append(out[:first], out[first+1:]...)
		now = wr.done
		sent[byFlow[wr.w.f]] += int64(wr.w.n)
		q.release(wr.w.f, wr.w.gen, now)
		q.push(&sendWaiter{f: wr.w.f, n: block}, true)
	}
	return sent, most
}

// TestFairQueueConcurrency: writes overlap in the kernel only as far as the weights stay
// exact. A flow has one block out at a time, so with k grants out it cannot have more than
// 1/k of the link: 4:1:1 and 8:1 go one at a time, a crowd of equal peers (with a few paid
// ones among them) goes sendSlots at a time, and the shares follow the weights in every case.
func TestFairQueueConcurrency(t *testing.T) {
	start := time.Unix(1e9, 0)
	crowd := func(n, paid int) []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = 1
			if i < paid {
				w[i] = 4
			}
		}
		return w
	}
	for _, tc := range []struct {
		name    string
		weights []float64
		most    int
	}{
		{"4:1:1", []float64{4, 1, 1}, 1},
		{"8:1", []float64{8, 1}, 1},
		{"two equal", []float64{1, 1}, 2},
		{"4:4:1:1", []float64{4, 4, 1, 1}, 2},
		{"200 equal", crowd(200, 0), sendSlots},
		{"40 with 4 paid", crowd(40, 4), sendSlots},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newFairQueue(0, 50*time.Millisecond, start)
			var flows []*sendFlow
			var sum float64
			for _, w := range tc.weights {
				flows = append(flows, &sendFlow{weight: w})
				sum += w
			}
			sent, most := driveConcurrent(t, &q, flows, 16<<10, time.Millisecond, 120*time.Second, start)
			if most != tc.most {
				t.Errorf("at most %d grants out at once, want %d", most, tc.most)
			}
			for i, got := range shares(sent) {
				if want := tc.weights[i] / sum; math.Abs(got-want) > 0.01*max(want, 0.1) {
					t.Errorf("flow %d (weight %v): share %.4f, want %.4f", i, tc.weights[i], got, want)
				}
			}
		})
	}
}

// TestFairQueueSlowWriteBanksNoCredit: a flow whose write took long (a peer that stopped
// reading for a while) continues from its last tag, but the virtual time the others moved
// on meanwhile is not credit: once it reads again it alternates with an equal flow instead
// of taking the turn for as many blocks as the others sent while it was stuck.
func TestFairQueueSlowWriteBanksNoCredit(t *testing.T) {
	start := time.Unix(1e9, 0)
	q := newFairQueue(0, 50*time.Millisecond, start)
	q.slots = 1
	stuck, other := &sendFlow{weight: 1}, &sendFlow{weight: 1}
	q.push(&sendWaiter{f: stuck, n: 16 << 10}, false)
	q.push(&sendWaiter{f: other, n: 16 << 10}, false)
	ws, _ := q.grant(start)
	if ws == nil || ws.f != stuck {
		t.Fatal("the first flow queued should go first")
	}
	// stuck's write does not return; after the hold, other sends 100 blocks.
	now := start.Add(50 * time.Millisecond)
	for range 100 {
		w, _ := q.grant(now)
		if w == nil || w.f != other {
			t.Fatalf("while the first write is stuck: grant %v", w)
		}
		now = now.Add(time.Millisecond)
		q.release(other, w.gen, now)
		q.push(&sendWaiter{f: other, n: 16 << 10}, true)
	}
	// stuck's write returns; from now on every write takes 1 ms.
	q.release(stuck, ws.gen, now)
	q.push(&sendWaiter{f: stuck, n: 16 << 10}, true)
	run, longest := 0, 0
	for range 40 {
		var w *sendWaiter
		w, now = grantNext(t, &q, now)
		if w.f == stuck {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
		now = now.Add(time.Millisecond)
		q.release(w.f, w.gen, now)
		q.push(&sendWaiter{f: w.f, n: 16 << 10}, true)
		checkPresent(t, &q)
	}
	if longest > 2 {
		t.Errorf("the flow that was stuck took %d turns in a row after it came back", longest)
	}
}

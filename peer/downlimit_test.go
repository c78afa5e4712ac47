package peer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestReadLimiterBound drives the bucket with a simulated clock: readers arriving at
// random take blocks whenever it lets them, and over every window the bytes taken stay
// within rate·window + burst + one block (docs/INVARIANTS.md, "Download limit").
func TestReadLimiterBound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    int64
		readers int
	}{
		{"256KiB one reader", 256 << 10, 1},
		{"256KiB 30 readers", 256 << 10, 30},
		{"10KB 5 readers", 10_000, 5},
		{"8MiB 50 readers", 8 << 20, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const block = 16 << 10
			start := time.Unix(1000, 0)
			var b tokenBucket
			b.setRate(tc.rate, start)
			// Each reader is ready at next[i]; the simulation steps to the earliest.
			rng := rand.New(rand.NewPCG(1, uint64(tc.readers)))
			next := make([]time.Time, tc.readers)
			for i := range next {
				next[i] = start.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			}
			type grant struct {
				at time.Time
				n  int
			}
			var grants []grant
			end := start.Add(20 * time.Second)
			for {
				i := 0
				for j := range next {
					if next[j].Before(next[i]) {
						i = j
					}
				}
				now := next[i]
				if now.After(end) {
					break
				}
				if d := b.take(block, now); d > 0 {
					next[i] = now.Add(d)
					continue
				}
				grants = append(grants, grant{now, block})
				next[i] = now.Add(time.Duration(rng.IntN(5)) * time.Millisecond)
			}
			if len(grants) == 0 {
				t.Fatal("nothing was granted")
			}
			burst := max(float64(tc.rate)/4, 64<<10)
			for _, w := range []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second, 20 * time.Second} {
				limit := float64(tc.rate)*w.Seconds() + burst + block
				lo, sum, worst := 0, 0, 0
				for hi := range grants {
					sum += grants[hi].n
					for grants[hi].at.Sub(grants[lo].at) >= w {
						sum -= grants[lo].n
						lo++
					}
					worst = max(worst, sum)
				}
				if float64(worst) > limit {
					t.Errorf("window %v: %d bytes granted, bound %.0f", w, worst, limit)
				}
			}
			// Over the whole run the rate is the limit's, give or take the burst.
			total := 0
			for _, g := range grants {
				total += g.n
			}
			if want := float64(tc.rate) * 20; float64(total) < want*0.95 {
				t.Errorf("granted %d bytes in 20 s, want about %.0f: the bucket starves its readers", total, want)
			}
		})
	}
}

// TestReadLimiterSetRate: a reader waiting on a bucket deep in debt is let go as soon as the
// limit is lifted, and a nil limiter (no limit configured) never waits.
func TestReadLimiterSetRate(t *testing.T) {
	var none *readLimiter
	if waited, ok := none.wait(1<<20, nil); waited || !ok {
		t.Fatalf("nil limiter: waited %v ok %v", waited, ok)
	}
	l := newReadLimiter(1) // 1 byte/s: 64 KiB of burst, then hours per block
	if waited, ok := l.wait(128<<10, nil); waited || !ok {
		t.Fatalf("first read within the burst: waited %v ok %v", waited, ok)
	}
	res := make(chan bool, 1)
	go func() {
		waited, ok := l.wait(16<<10, nil)
		res <- waited && ok
	}()
	select {
	case <-res:
		t.Fatal("a read went through a bucket in debt by 64 KiB at 1 B/s")
	case <-time.After(50 * time.Millisecond):
	}
	l.setRate(0)
	select {
	case ok := <-res:
		if !ok {
			t.Fatal("the waiting read did not report its wait")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lifting the limit did not release the waiting read")
	}
	if got := l.rate(); got != 0 {
		t.Fatalf("rate after lifting: %d", got)
	}

	// A closed connection ends the wait.
	l.setRate(1)
	l.wait(1<<20, nil) // into debt
	done := make(chan struct{})
	go func() { close(done) }()
	if _, ok := l.wait(1, done); ok {
		t.Fatal("wait did not give up when done closed")
	}
}

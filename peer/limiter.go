package peer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// limiter is a token bucket shared by the writers of a session: a block waits until the
// bucket holds its size. The burst is a fraction of a second of the rate, so the limit holds
// over short windows without making every block wait on its own.
type limiter struct {
	off    atomic.Bool // no limit: wait returns at once without the lock
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// newLimiter returns a limiter of bytesPerSec; 0 or less means no limit until set changes it.
func newLimiter(bytesPerSec int64) *limiter {
	l := &limiter{}
	l.set(bytesPerSec)
	return l
}

// set changes the rate; 0 or less lifts the limit. Waits already sleeping keep their delay.
func (l *limiter) set(bytesPerSec int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytesPerSec <= 0 {
		l.off.Store(true)
		return
	}
	l.rate = float64(bytesPerSec)
	l.burst = max(l.rate/4, 64<<10)
	l.tokens = l.burst
	l.last = time.Now()
	l.off.Store(false)
}

// wait blocks until n bytes may be sent, or ctx ends. A nil or lifted limiter never waits.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil || l.off.Load() {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n) // may go negative: the debt is the wait
	var delay time.Duration
	if l.tokens < 0 {
		delay = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if delay == 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

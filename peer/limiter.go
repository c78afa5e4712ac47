package peer

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket shared by the writers of a session: a block waits until the
// bucket holds its size. The burst is a fraction of a second of the rate, so the limit holds
// over short windows without making every block wait on its own.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(bytesPerSec int64) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := max(float64(bytesPerSec)/4, 64<<10)
	return &limiter{rate: float64(bytesPerSec), burst: burst, tokens: burst, last: time.Now()}
}

// wait blocks until n bytes may be sent, or ctx ends. A nil limiter never waits.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
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

package peer

import (
	"net"
	"sync"
	"time"
)

// Download limits: a token bucket per torrent and one for the session pace the block
// payload a connection's reader takes off the socket. A reader that has decoded a piece
// message's header waits until both buckets allow its bytes, then reads the block. Only
// block payloads wait: every other message (choke, have, keep-alive, extension) is read
// at once, so a throttled connection still sees its peer's state and never times out for
// silence, and our writer sends keep-alives on its own. Not reading makes the peer's TCP
// stack stop sending, which is what slows the peer down; the request pipeline, sized from
// the measured rate, then shrinks by itself.
//
// Bound: over any interval of length d, a bucket lets through at most rate·d + burst plus
// one message (the bucket may go into debt by the message that takes its last tokens,
// which the next reader waits out), burst being a quarter second of the rate (at least
// 64 KiB), as the upload bucket's (sendsched.go). TestReadLimiterBound checks it with a
// simulated clock; conformance.TestDaemonDownloadLimit with a real transfer.

// tokenBucket is the limiter's pure core: no clock, no locking.
type tokenBucket struct {
	rate, burst, tokens float64 // rate 0: no limit
	last                time.Time
}

// setRate changes the rate in bytes per second; 0 or less lifts the limit. Tokens saved
// under the old rate are kept up to the new burst.
func (b *tokenBucket) setRate(bytesPerSec int64, now time.Time) {
	if bytesPerSec <= 0 {
		b.rate, b.burst, b.tokens = 0, 0, 0
		return
	}
	b.refill(now)
	was := b.rate
	b.rate = float64(bytesPerSec)
	b.burst = max(b.rate/4, 64<<10)
	if was == 0 {
		b.tokens, b.last = b.burst, now
	}
	b.tokens = min(b.tokens, b.burst)
}

func (b *tokenBucket) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 && b.rate > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
	}
	b.last = now
}

// take takes n bytes and returns 0 when the bucket is not in debt; otherwise it takes
// nothing and returns how long until it will not be.
func (b *tokenBucket) take(n int, now time.Time) time.Duration {
	if b.rate == 0 {
		return 0
	}
	b.refill(now)
	if b.tokens < 0 {
		return max(time.Duration(-b.tokens/b.rate*float64(time.Second)), time.Millisecond)
	}
	b.tokens -= float64(n)
	return 0
}

// readLimiter is a tokenBucket shared by readers. A nil *readLimiter limits nothing.
type readLimiter struct {
	mu      sync.Mutex
	b       tokenBucket
	changed chan struct{} // closed and replaced by setRate: waiters look at the new rate
}

func newReadLimiter(bytesPerSec int64) *readLimiter {
	l := &readLimiter{changed: make(chan struct{})}
	l.b.setRate(bytesPerSec, time.Now())
	return l
}

// setRate changes the limit (bytes per second, 0 or less: none) at once, for readers
// already waiting too.
func (l *readLimiter) setRate(bytesPerSec int64) {
	l.mu.Lock()
	l.b.setRate(bytesPerSec, time.Now())
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// rate returns the limit in bytes per second (0: none).
func (l *readLimiter) rate() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(l.b.rate)
}

// wait blocks until n bytes may be read, and reports whether it had to wait; it gives up
// with ok false when done closes.
func (l *readLimiter) wait(n int, done <-chan struct{}) (waited, ok bool) {
	if l == nil {
		return false, true
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		d := l.b.take(n, time.Now())
		changed := l.changed
		l.mu.Unlock()
		if d == 0 {
			return waited, true
		}
		waited = true
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
		case <-changed:
		case <-done:
			return waited, false
		}
	}
}

// throttleRead waits until the torrent's and the session's download limits let n bytes of
// block payload be read, and renews the read deadline that the wait used up.
func (c *conn) throttleRead(n int) error {
	w1, ok := c.t.dlimit.wait(n, c.closed)
	if !ok {
		return c.closedErr()
	}
	w2, ok := c.t.s.dlimit.wait(n, c.closed)
	if !ok {
		return c.closedErr()
	}
	if w1 || w2 {
		return c.nc.SetReadDeadline(time.Now().Add(c.t.s.settings.IdleTimeout))
	}
	return nil
}

// closedErr is why the connection closed (never nil: the reader must stop).
func (c *conn) closedErr() error {
	if c.closeErr != nil {
		return c.closeErr
	}
	return net.ErrClosed
}

// SetDownloadRateLimit changes the session's download cap in payload bytes per second (0
// lifts it), at once for every connection.
func (s *Session) SetDownloadRateLimit(bytesPerSec int64) { s.dlimit.setRate(bytesPerSec) }

// SetDownloadRateLimit changes the torrent's own download cap in payload bytes per second
// (0 lifts it); the session's applies as well.
func (T *Torrent) SetDownloadRateLimit(bytesPerSec int64) { T.t.dlimit.setRate(bytesPerSec) }

// DownloadRateLimit returns the torrent's own download cap (0: none).
func (T *Torrent) DownloadRateLimit() int64 { return T.t.dlimit.rate() }

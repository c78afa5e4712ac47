package ledger

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Errors of the server's own policies (beside the ledger's, in api.go).
var (
	// ErrRateLimited: the client address spent its request budget; retry later.
	ErrRateLimited = newErr(http.StatusTooManyRequests, "rate_limited")
	// ErrNotWriter: this process is a standby; a client with several ledger URLs tries
	// the next one.
	ErrNotWriter = newErr(http.StatusServiceUnavailable, "not_writer")
)

// maxLimited bounds the limiter's table: 65,536 client addresses of about 80 bytes each
// (5 MiB). When it is full, idle (refilled) buckets are dropped first, then arbitrary
// ones: an attacker with that many addresses gets fresh buckets, which that many
// addresses would give it anyway.
const maxLimited = 1 << 16

// limiter is a token bucket per client address. Safe for concurrent use.
type limiter struct {
	rate, burst float64
	max         int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst, max int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, buckets: map[string]*bucket{}}
}

// allow takes cost tokens from addr's bucket, reporting whether it had them.
func (l *limiter) allow(addr string, cost float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[addr] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	if b.tokens < cost {
		return false
	}
	b.tokens -= cost
	return true
}

// evict makes room for one bucket: every refilled one goes, or else an arbitrary one.
func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for a, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, a)
		}
	}
	for a := range l.buckets {
		if len(l.buckets) < l.max {
			return
		}
		delete(l.buckets, a)
	}
}

// clientAddr is the request's peer IP (no port: one host, one budget).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

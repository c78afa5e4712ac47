package server

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source address in a fixed table: an address
// hashes to one slot, so memory is the same under a flood from a million
// spoofed sources as from one (colliding addresses share a budget, which only
// errs toward refusing).
type limiter struct {
	seed  maphash.Seed
	rate  float64 // tokens per second
	burst float64

	mu    sync.Mutex
	slots []bucket
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds; 0 means never used
}

func newLimiter(slots int, rate float64, burst int) *limiter {
	return &limiter{seed: maphash.MakeSeed(), rate: rate, burst: float64(burst), slots: make([]bucket, slots)}
}

func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	a := ip.As16()
	i := maphash.Bytes(l.seed, a[:]) % uint64(len(l.slots))
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.slots[i]
	if b.last == 0 {
		b.tokens = l.burst
	} else if n > b.last {
		b.tokens = min(l.burst, b.tokens+float64(n-b.last)*l.rate/1e9)
	}
	b.last = n
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

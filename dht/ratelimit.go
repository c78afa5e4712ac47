package dht

import (
	"net/netip"
	"time"
)

// limiter is a token bucket per source IP, in a table of bounded size. An IP that keeps
// sending far past its allowance is banned for a while, and the node drops it from the
// routing table.
type limiter struct {
	rate       float64 // queries per second
	burst      float64
	maxEntries int
	banAfter   int // queries dropped in a row before a ban
	banFor     time.Duration
	m          map[netip.Addr]*ipBucket
}

type ipBucket struct {
	tokens      float64
	last        time.Time
	dropped     int
	bannedUntil time.Time
}

func newLimiter(rate float64, burst, maxEntries, banAfter int, banFor time.Duration) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxEntries: maxEntries, banAfter: banAfter, banFor: banFor,
		m: map[netip.Addr]*ipBucket{}}
}

// allow charges one query to ip. It reports whether to answer, and banned is true the
// moment ip earns a ban.
func (l *limiter) allow(ip netip.Addr, now time.Time) (ok, banned bool) {
	b := l.m[ip]
	if b == nil {
		if len(l.m) >= l.maxEntries {
			l.evict(now)
		}
		b = &ipBucket{tokens: l.burst, last: now}
		l.m[ip] = b
	}
	if now.Before(b.bannedUntil) {
		return false, false
	}
	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		b.dropped++
		if b.dropped >= l.banAfter {
			b.dropped = 0
			b.bannedUntil = now.Add(l.banFor)
			return false, true
		}
		return false, false
	}
	b.tokens--
	b.dropped = 0
	return true, false
}

// evict makes room: first by forgetting IPs whose bucket has refilled (forgetting them
// changes nothing), then, if every IP is active, an arbitrary unbanned one. Banned IPs
// are kept as long as possible, so spoofing many addresses cannot lift a ban cheaply.
func (l *limiter) evict(now time.Time) {
	for ip, b := range l.m {
		if now.After(b.bannedUntil) && b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.m, ip)
		}
	}
	if len(l.m) < l.maxEntries {
		return
	}
	for ip, b := range l.m {
		if now.After(b.bannedUntil) {
			delete(l.m, ip)
			return
		}
	}
	for ip := range l.m {
		delete(l.m, ip)
		return
	}
}

package dht

import (
	"net/netip"
	"time"
)

// limiter is a token bucket per source IP, in a table of bounded size. An IP that keeps
// sending far past its allowance is banned for a while, and the node drops it from the
// routing table, but only on evidence that it really sent the flood: a UDP source address
// is forged for free, so only queries that prove their source (a valid token, which only
// reaches the address it was issued to) count towards a ban. Unproven queries past the
// allowance are dropped, never banned, so a spoofed flood cannot ban a real node.
type limiter struct {
	rate       float64 // queries per second
	burst      float64
	maxEntries int
	banAfter   int // verified queries dropped in a row before a ban
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
// moment ip earns a ban; verified says the query proved its source address.
func (l *limiter) allow(ip netip.Addr, now time.Time, verified bool) (ok, banned bool) {
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
		if !verified {
			return false, false
		}
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

// evict makes room for an eighth of the table at once, so a flood of new (spoofed)
// sources costs amortised constant time per packet. It forgets first the IPs whose
// bucket has refilled (forgetting them changes nothing), then unbanned ones, and banned
// ones last, so spoofing many addresses cannot lift a ban cheaply.
func (l *limiter) evict(now time.Time) {
	target := l.maxEntries - max(1, l.maxEntries/8)
	for pass := 0; pass < 3 && len(l.m) > target; pass++ {
		for ip, b := range l.m {
			if len(l.m) <= target {
				break
			}
			banned := now.Before(b.bannedUntil)
			refilled := b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst
			if pass == 2 || (pass == 1 && !banned) || (pass == 0 && !banned && refilled) {
				delete(l.m, ip)
			}
		}
	}
}

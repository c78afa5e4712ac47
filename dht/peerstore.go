package dht

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// peerStore keeps the peers announced to us, per info-hash, each until it expires.
// Every dimension is bounded: the number of info-hashes, the peers per info-hash and the
// peers in total, so a flood of announces costs a fixed amount of memory.
type peerStore struct {
	maxTorrents, maxPerTorrent, maxTotal int
	ttl                                  time.Duration
	swarms                               map[ID]map[netip.AddrPort]time.Time // expiry per peer
	total                                int
	lastSweep                            time.Time
}

// sweepEvery bounds how often a full store is swept for expired peers from add: a sweep
// costs O(stored peers), and announces for new info-hashes to a full store must not
// each pay it.
const sweepEvery = 10 * time.Second

// sweep expires peers if the last sweep is old enough.
func (s *peerStore) sweep(now time.Time) {
	if now.Sub(s.lastSweep) >= sweepEvery {
		s.expire(now)
	}
}

func newPeerStore(maxTorrents, maxPerTorrent, maxTotal int, ttl time.Duration) *peerStore {
	return &peerStore{maxTorrents: maxTorrents, maxPerTorrent: maxPerTorrent, maxTotal: maxTotal, ttl: ttl,
		swarms: map[ID]map[netip.AddrPort]time.Time{}}
}

// add stores (or refreshes) peer p for ih. It reports whether p was stored.
func (s *peerStore) add(ih ID, p netip.AddrPort, now time.Time) bool {
	sw := s.swarms[ih]
	if _, ok := sw[p]; ok {
		sw[p] = now.Add(s.ttl)
		return true
	}
	if s.total >= s.maxTotal {
		s.sweep(now)
		if s.total >= s.maxTotal {
			return false
		}
	}
	if sw == nil {
		if len(s.swarms) >= s.maxTorrents {
			s.sweep(now)
			if len(s.swarms) >= s.maxTorrents {
				return false
			}
		}
		sw = map[netip.AddrPort]time.Time{}
		s.swarms[ih] = sw
	}
	if len(sw) >= s.maxPerTorrent {
		// Replace the peer closest to expiry: the newest announce is likelier alive.
		var oldest netip.AddrPort
		var at time.Time
		for q, exp := range sw {
			if at.IsZero() || exp.Before(at) {
				oldest, at = q, exp
			}
		}
		delete(sw, oldest)
		s.total--
	}
	sw[p] = now.Add(s.ttl)
	s.total++
	return true
}

// get returns up to max live peers of ih, a random sample when there are more.
func (s *peerStore) get(ih ID, now time.Time, max int, rng *rand.Rand) []netip.AddrPort {
	sw := s.swarms[ih]
	if len(sw) == 0 || max <= 0 {
		return nil
	}
	out := make([]netip.AddrPort, 0, min(max, len(sw)))
	seen := 0
	for p, exp := range sw {
		if !exp.After(now) {
			delete(sw, p)
			s.total--
			continue
		}
		// Reservoir sampling keeps the choice uniform without copying the swarm.
		seen++
		if len(out) < max {
			out = append(out, p)
		} else if j := rng.IntN(seen); j < max {
			out[j] = p
		}
	}
	if len(sw) == 0 {
		delete(s.swarms, ih)
	}
	return out
}

// expire drops every expired peer.
func (s *peerStore) expire(now time.Time) {
	s.lastSweep = now
	for ih, sw := range s.swarms {
		for p, exp := range sw {
			if !exp.After(now) {
				delete(sw, p)
				s.total--
			}
		}
		if len(sw) == 0 {
			delete(s.swarms, ih)
		}
	}
}

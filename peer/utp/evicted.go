package utp

import (
	"net/netip"
	"time"
)

// Evicted half-open connections. When more SYNs arrive within a round trip than
// MaxHalfOpen allows, as when a swarm dials a new seeder at once, the cap evicts
// connections we already answered: their diallers are connected as far as they know, and
// their first data would find no connection. So an evicted connection leaves a few bytes
// behind, in a table of fixed size, and a packet from its address and id that
// acknowledges our first sequence number (what verifies a half-open connection: only the
// real owner of the address has seen it) brings the connection back, verified. Spoofed
// SYNs still hold at most MaxHalfOpen connections; they can only push entries out of this
// table sooner.

// evictedMax is the most evicted connections remembered per MaxHalfOpen: under a flood of
// SYNs from many addresses, an entry lasts evictedMax*MaxHalfOpen SYNs, which at 64,000 SYNs
// a second (the hostile-peer suite's rate) is about a round trip on loopback.
const evictedMax = 16

type evictedConn struct {
	synSeq, isn uint16
	at          time.Time
}

// evicted remembers recently evicted half-open connections, oldest first; the Socket's mu
// guards it.
type evicted struct {
	m     map[connKey]evictedConn
	order []connKey // ring of the keys in m, oldest at head
	head  int
}

// add remembers c, evicted; c.mu is held.
func (e *evicted) add(c *Conn, now time.Time, limit int) {
	if e.m == nil {
		e.m = make(map[connKey]evictedConn)
	}
	k := connKey{c.remote, c.recvID}
	if _, ok := e.m[k]; !ok {
		if len(e.order) < limit {
			e.order = append(e.order, k)
		} else {
			delete(e.m, e.order[e.head])
			e.order[e.head] = k
			e.head = (e.head + 1) % len(e.order)
		}
	}
	e.m[k] = evictedConn{synSeq: c.synSeq, isn: c.isn, at: now}
}

// take returns and forgets the evicted connection k if h, a packet from its peer, acks our
// first sequence number within maxAge of the eviction.
func (e *evicted) take(k connKey, h *Header, now time.Time, maxAge time.Duration) (evictedConn, bool) {
	v, ok := e.m[k]
	if !ok || h.Type == TypeSyn || h.Type == TypeReset || now.Sub(v.at) > maxAge || uint16(h.Ack-(v.isn-1)) > 1 {
		return evictedConn{}, false
	}
	delete(e.m, k) // its key stays in the ring until overwritten; deleting a missing key is a no-op
	return v, true
}

// revive rebuilds an evicted connection that h, a packet from its dialler, verified, and
// queues it for Accept. It returns nil when no evicted connection matches, and reports
// known when one did but could not be revived (the backlog is full: the dialler
// retransmits, and the packet must not earn a RESET).
func (s *Socket) revive(h *Header, from netip.AddrPort, now time.Time) (c *Conn, known bool) {
	k := connKey{from, h.ConnID}
	s.mu.Lock()
	if s.closed || len(s.acceptCh) == cap(s.acceptCh) {
		_, known = s.gone.m[k]
		s.mu.Unlock()
		return nil, known
	}
	v, ok := s.gone.take(k, h, now, s.cfg.HalfOpenTimeout)
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	c = newConn(s, from, h.ConnID, h.ConnID-1, true)
	s.conns[k] = c
	s.mu.Unlock()
	s.revived.Add(1)

	c.mu.Lock()
	c.state = stateConnected
	close(c.connected)
	c.synSeq = v.synSeq
	c.ackNr = v.synSeq
	c.seqNr = v.isn
	c.isn = v.isn
	c.peerWnd = c.mss * initCwndPkts
	c.lastRecv = now
	c.armNext(now)
	c.mu.Unlock()
	s.acceptCh <- c // only the reader sends on acceptCh, and it checked the room above
	return c, true
}

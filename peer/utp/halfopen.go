package utp

import (
	"net/netip"
	"time"
)

// Half-open connections: accepted on a SYN, not yet shown to come from the address the
// SYN claimed. A SYN is one datagram whose source anyone can forge, so the state and the
// answers it earns are capped per source IP and per socket (Config.MaxHalfOpenPerIP,
// MaxHalfOpen) until the peer acknowledges the random sequence number we answered with,
// which only the real owner of the address has seen.

// resetWindow is how far behind our next sequence number the ack of a RESET may be:
// further than any window of packets in flight (the receive window of 1 MiB is about 750
// packets), so a real reset is never ignored, while a forger guesses the ack at 1 in 64.
const resetWindow = 1024

// halfOpen counts half-open connections, oldest first; the Socket's mu guards it.
type halfOpen struct {
	total int
	byIP  map[netip.Addr]int
	order []*Conn // half-open connections in the order they were admitted
}

// admit counts one more half-open connection from ip, or reports false at a cap.
func (h *halfOpen) admit(ip netip.Addr, cfg Config) bool {
	if h.total >= cfg.MaxHalfOpen || h.byIP[ip] >= cfg.MaxHalfOpenPerIP {
		return false
	}
	h.total++
	h.byIP[ip]++
	return true
}

// add records c, just admitted, as the newest.
func (h *halfOpen) add(c *Conn) { h.order = append(h.order, c) }

// victim returns the oldest half-open connection, to make room for a SYN from ip, or nil
// when ip is at its own cap (that SYN is dropped: a real dialler retransmits it, and one
// source must not evict another's). Evicting at the socket's cap rather than refusing is
// what keeps real diallers in: spoofed SYNs from many addresses cannot hold the slots,
// and a real connection leaves the count a round trip after it is admitted, long before
// a flood cycles through the cap. (Spoofed SYNs forging a dialler's own address can fill
// its per-IP share; it then connects over TCP.)
func (h *halfOpen) victim(ip netip.Addr, cfg Config) *Conn {
	if h.byIP[ip] >= cfg.MaxHalfOpenPerIP || len(h.order) == 0 {
		return nil
	}
	return h.order[0]
}

// release uncounts c, a half-open connection (verified or gone).
func (h *halfOpen) release(c *Conn) {
	ip := c.remote.Addr()
	h.total--
	if h.byIP[ip]--; h.byIP[ip] <= 0 {
		delete(h.byIP, ip)
	}
	for i, o := range h.order {
		if o == c {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
}

// verify reports whether h, on a half-open connection, acknowledges a sequence number we
// sent (from the one before our first, which a dialler acks on our answer to its SYN, to
// our next): then the peer receives at its address and the connection leaves the
// half-open count. A packet that does not verify is ignored. c.mu is held.
func (c *Conn) verify(h *Header) bool {
	if h.Type == TypeSyn || uint16(h.Ack-(c.isn-1)) > uint16(c.seqNr-(c.isn-1)) {
		return false
	}
	c.verifyBy = time.Time{}
	c.s.mu.Lock()
	if c.halfOpen {
		c.halfOpen = false
		c.s.half.release(c)
	}
	c.s.mu.Unlock()
	return true
}

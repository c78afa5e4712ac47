package utp

import (
	"net"
	"time"
)

// A connection's timer: retransmission timeouts, pacing and probe wake-ups,
// keep-alive, idle timeout, linger, and the end of the connection.

// armAt makes the connection's timer fire no later than t. Later deadlines are left
// alone: onTimer recomputes the next one when it fires.
func (c *Conn) armAt(t, now time.Time) {
	if c.state == stateDead {
		return
	}
	if c.timerAt.IsZero() || t.Before(c.timerAt) {
		c.timerAt = t
		c.timer.Reset(t.Sub(now))
	}
}

func (c *Conn) armNext(now time.Time) {
	next := now.Add(c.s.cfg.KeepAlive)
	if c.state == stateConnected && !c.lastSend.IsZero() {
		next = c.lastSend.Add(c.s.cfg.KeepAlive)
	}
	for _, t := range []time.Time{c.rtoAt, c.paceAt, c.probeAt, c.lingerAt, c.verifyBy, c.lastRecv.Add(c.s.cfg.IdleTimeout)} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	c.armAt(next, now)
}

func (c *Conn) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDead {
		return
	}
	c.timerAt = time.Time{}
	now := time.Now()
	if !c.rtoAt.IsZero() && !now.Before(c.rtoAt) {
		c.onRTO(now)
		if c.state == stateDead {
			return
		}
	}
	if !c.paceAt.IsZero() && !now.Before(c.paceAt) {
		c.paceAt = time.Time{}
	}
	if !c.verifyBy.IsZero() && !now.Before(c.verifyBy) {
		// Half-open too long: most likely a spoofed SYN. Nothing is sent to the address
		// it claimed, which may be a victim's.
		c.destroyLocked(ErrTimedOut)
		return
	}
	if now.Sub(c.lastRecv) >= c.s.cfg.IdleTimeout {
		c.sendReset()
		c.destroyLocked(ErrTimedOut)
		return
	}
	if !c.lingerAt.IsZero() && !now.Before(c.lingerAt) {
		c.destroyLocked(net.ErrClosed)
		return
	}
	c.flush(now)
	if c.state == stateConnected && now.Sub(c.lastSend) >= c.s.cfg.KeepAlive {
		c.sendState(now)
	}
	c.armNext(now)
}

// onRTO handles a retransmission timeout: back off, collapse the window, and resend
// everything not yet acknowledged, oldest first.
func (c *Conn) onRTO(now time.Time) {
	if c.nsent == 0 {
		c.rtoAt = time.Time{}
		return
	}
	c.rtt.backoff++
	c.stats.Timeouts++
	limit := dataRetries
	if c.state == stateSynSent {
		limit = synRetries
	}
	if c.rtt.backoff >= limit {
		c.sendReset()
		c.destroyLocked(ErrTimedOut)
		return
	}
	c.cc.onTimeout()
	for i := 0; i < c.nsent; i++ {
		if p := c.q[i]; !p.acked && !p.needResend {
			p.needResend = true
			c.lost++
			c.flight -= p.size()
		}
	}
	c.tokensAt = time.Time{}
	c.rtoAt = now.Add(c.rtt.timeout())
}

// maybeFinish ends a closed connection once both FINs are through, after one more
// retransmission timeout (TCP's TIME_WAIT, shortened): if our ack of the peer's FIN was
// lost, its retransmitted FIN is acked again instead of drawing a reset. If the peer
// never sends its FIN, the connection lingers a while for it and then goes.
func (c *Conn) maybeFinish() {
	if c.state == stateDead || !c.closedL || !c.finAcked {
		return
	}
	now := time.Now()
	wait := linger
	if c.gotFin {
		wait = c.rtt.timeout()
	}
	if t := now.Add(wait); c.lingerAt.IsZero() || t.Before(c.lingerAt) {
		c.lingerAt = t
		c.armAt(t, now)
	}
}

// destroyLocked ends the connection and releases its buffers.
func (c *Conn) destroyLocked(err error) {
	if c.state == stateDead {
		return
	}
	c.state = stateDead
	if err == nil {
		err = net.ErrClosed
	}
	c.err = err
	c.timer.Stop()
	c.ackTimer.Stop()
	c.rdl.stop()
	c.wdl.stop()
	close(c.dead)
	for _, p := range c.q {
		c.s.putPacket(p)
	}
	c.q, c.nsent, c.flight, c.lost = nil, 0, 0, 0
	c.ooo, c.oooBytes = nil, 0
	c.s.remove(c)
}

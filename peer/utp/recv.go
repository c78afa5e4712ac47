package utp

import "time"

// The receive side of a connection: packets from the peer, reordering, FIN, delayed
// acks.

// handleSyn answers a retransmitted SYN (our ST_STATE was lost).
func (c *Conn) handleSyn(h *Header, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDead || !c.acceptor || h.ConnID != c.sendID || h.Seq != c.synSeq {
		return
	}
	c.lastRecv = now
	// The dialler takes our first sequence number from this answer, so repeat the one
	// the lost answer carried, even if data has been sent since.
	c.sendSynAck(now)
}

// handle processes one packet from the peer; it runs on the socket's reader. With
// deferAck an ack the packet earns is left pending and handle reports it; the reader
// sends it with flushAck after the rest of a coalesced read.
func (c *Conn) handle(h *Header, payload []byte, now time.Time, deferAck bool) (ackOwed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDead {
		return false
	}
	if !c.verifyBy.IsZero() && !c.verify(h) {
		return false // not from the address the SYN claimed, as far as we can tell: ignored
	}
	if h.Type == TypeReset {
		// Only the peer's address reaches this connection (the socket looks it up by
		// address and id), and a RESET must also ack a sequence number we sent recently
		// (a reset answers one of our packets and acks its sequence number): one forging
		// the peer's address must guess the id and the ack.
		if c.state != stateSynSent && uint16(c.seqNr-h.Ack) > resetWindow {
			return false
		}
		c.destroyLocked(ErrReset)
		return false
	}
	if c.state == stateSynSent {
		if h.Type != TypeState {
			return false
		}
		c.state = stateConnected
		c.ackNr = h.Seq - 1
		if h.BigDatagrams() && len(c.q) > 0 && c.q[0].typ == TypeSyn && c.q[0].ext == ExtBits {
			c.setPacketSize(maxRecvPayload) // we offered big datagrams (a local path) and the peer takes them
		}
		close(c.connected)
	}
	c.lastRecv = now
	c.replyMicro = c.s.micros(now) - h.Timestamp
	c.peerWnd = int(h.WindowSize)
	if c.peerWnd > 0 {
		c.probeAt = time.Time{}
	}
	c.onAck(h, now)
	switch h.Type {
	case TypeData:
		c.onData(h.Seq, payload, now, deferAck)
	case TypeFin:
		c.onFin(h.Seq, now)
	}
	c.flush(now)
	c.maybeFinish()
	return deferAck && c.state != stateDead && c.ackPending > 0
}

// flushAck sends an ack deferred by handle, unless something else carried it already.
func (c *Conn) flushAck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDead || c.ackPending == 0 {
		return
	}
	if c.ackPending < ackEvery && len(c.ooo) == 0 && !c.eof {
		if !c.ackTimerOn {
			c.ackTimerOn = true
			c.ackTimer.Reset(ackDelay)
		}
		return
	}
	c.sendState(time.Now())
}

func (c *Conn) onData(seq uint16, payload []byte, now time.Time, deferAck bool) {
	if c.gotFin && !seqLess(seq, c.finSeq) {
		return // past the end of the stream
	}
	switch {
	case seq == c.ackNr+1:
		if c.rbuf.len()+c.oooBytes+len(payload) > c.s.cfg.ReadBuffer+readSlack {
			return // the reader is not keeping up; the peer retransmits
		}
		if !c.closedL {
			c.rbuf.write(payload)
		}
		c.ackNr++
		for {
			pl, ok := c.ooo[c.ackNr+1]
			if !ok {
				break
			}
			delete(c.ooo, c.ackNr+1)
			c.oooBytes -= len(pl)
			if !c.closedL {
				c.rbuf.write(pl)
			}
			c.ackNr++
		}
		if c.gotFin && c.ackNr+1 == c.finSeq {
			c.ackNr = c.finSeq
			c.eof = true
		}
		signal(c.readable)
		c.ackPending++
		switch {
		case len(c.ooo) > 0 || c.eof:
			c.sendState(now)
		case deferAck:
			// The reader acks after the rest of the coalesced read.
		case c.ackPending >= ackEvery:
			c.sendState(now)
		case !c.ackTimerOn:
			c.ackTimerOn = true
			c.ackTimer.Reset(ackDelay)
		}
	case seqLess(c.ackNr, seq):
		if _, dup := c.ooo[seq]; !dup && uint16(seq-c.ackNr) <= maxOutOfOrder &&
			c.rbuf.len()+c.oooBytes+len(payload) <= c.s.cfg.ReadBuffer {
			c.ooo[seq] = append([]byte(nil), payload...)
			c.oooBytes += len(payload)
		}
		c.sendState(now)
	default:
		// Already received: our ack was lost, so repeat it.
		c.sendState(now)
	}
}

func (c *Conn) onFin(seq uint16, now time.Time) {
	if !c.gotFin {
		c.gotFin = true
		c.finSeq = seq
		// Out-of-order data at or beyond the FIN can never be delivered.
		for s, pl := range c.ooo {
			if !seqLess(s, seq) {
				delete(c.ooo, s)
				c.oooBytes -= len(pl)
			}
		}
	}
	if c.finSeq == c.ackNr+1 {
		c.ackNr = c.finSeq
		c.eof = true
		signal(c.readable)
	}
	c.sendState(now)
}

func (c *Conn) onAckTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ackTimerOn = false
	if c.state != stateDead && c.ackPending > 0 {
		c.sendState(time.Now())
	}
}

package utp

import "time"

// The send side of a connection: packetizing, windows, pacing, segmentation offload,
// acks we send, and what the peer's acks tell us.

func (c *Conn) newPacket(t Type) *packet { return c.newPacketFor(t, 0) }

// newPacketFor queues a packet of type t whose buffer fits payload bytes, up to c.mss.
func (c *Conn) newPacketFor(t Type, payload int) *packet {
	p := c.s.getPacket(min(payload, c.mss))
	p.typ, p.seq = t, c.seqNr
	c.seqNr++
	c.q = append(c.q, p)
	return p
}

// window is the receive window we advertise: what is left of the read buffer.
func (c *Conn) window() int {
	return max(c.s.cfg.ReadBuffer-c.rbuf.len()-c.oooBytes, 0)
}

func (c *Conn) sendWindow() int { return min(c.cc.cwnd, c.peerWnd) }

// minSendQueue is the send queue of a connection whose windows are small: a few 16 KiB
// BitTorrent blocks.
const minSendQueue = 64 << 10

// sendQueueLimit is how many payload bytes Write may queue (sent and unacknowledged, or
// not sent yet): twice what the windows let be in flight, so that a window's worth is
// ready to go as acks free room and the window may double in slow start, but at least
// minSendQueue and at most Config.WriteBuffer. Bytes queued beyond that only wait, and
// a fixed Config.WriteBuffer per connection would hold 200 MiB for 200 slow peers whose
// windows are a few packets, with the packets being filled too many to stay in cache.
func (c *Conn) sendQueueLimit() int {
	return min(c.s.cfg.WriteBuffer, max(2*c.sendWindow(), minSendQueue))
}

// flush sends what the windows and the pacer allow: retransmissions first, then new
// packets.
func (c *Conn) flush(now time.Time) {
	c.flushWindow(now)
	c.sendBatch()
}

// Limits of one segmentation-offload send (the kernel allows 64 segments and one
// IP datagram's worth of bytes).
const (
	maxGSOSegments = 64
	maxGSOBytes    = 65000
)

// queueSend sends b, or with segmentation offload adds it to the run sendBatch sends.
func (c *Conn) queueSend(b []byte) {
	if c.s.gsoOff.Load() {
		c.s.send(b, c.remote)
		return
	}
	if len(c.gsoBuf) > 0 && (c.gsoShort || len(b) > c.gsoSeg || len(c.gsoBuf)+len(b) > maxGSOBytes ||
		len(c.gsoBuf) >= maxGSOSegments*c.gsoSeg) {
		c.sendBatch()
	}
	if c.gsoBuf == nil {
		c.gsoRun = c.s.gsoBufs.Get().(*[]byte)
		c.gsoBuf = (*c.gsoRun)[:0]
		if c.gsoOOB == nil {
			c.gsoOOB = make([]byte, gsoOOBLen)
		}
	}
	if len(c.gsoBuf) == 0 {
		c.gsoSeg = len(b)
	}
	c.gsoShort = len(b) < c.gsoSeg
	c.gsoBuf = append(c.gsoBuf, b...)
}

func (c *Conn) sendBatch() {
	if len(c.gsoBuf) == 0 {
		return
	}
	c.s.sendSegments(c.gsoBuf, c.gsoSeg, c.remote, c.gsoOOB)
	// An empty run goes back to the socket's pool: a connection holds a 64 KiB buffer only
	// while packets wait in it (corked), not for its whole life (200 connections held 12.5 MiB).
	// The pointer it came in is reused, so handing it back allocates nothing.
	*c.gsoRun = c.gsoBuf[:0]
	c.s.gsoBufs.Put(c.gsoRun)
	c.gsoRun, c.gsoBuf, c.gsoShort = nil, nil, false
}

func (c *Conn) flushWindow(now time.Time) {
	if c.state == stateDead {
		return
	}
	wnd := c.sendWindow()
	if c.lost > 0 {
		for i := 0; i < c.nsent && c.lost > 0; i++ {
			p := c.q[i]
			if !p.needResend {
				continue
			}
			if c.flight > 0 && c.flight+p.size() > wnd {
				return
			}
			if !c.pace(now, p.size()) {
				return
			}
			p.needResend = false
			c.lost--
			c.flight += p.size()
			c.stats.Retransmits++
			c.transmit(p, now)
		}
	}
	for c.nsent < len(c.q) {
		p := c.q[c.nsent]
		if c.state == stateSynSent && p.typ != TypeSyn {
			return
		}
		if c.flight+p.size() > wnd {
			if c.flight > 0 {
				return
			}
			// The peer's window is closed and nothing is in flight to bring news of
			// it opening: probe with one packet after a timeout.
			if c.probeAt.IsZero() {
				c.probeAt = now.Add(c.rtt.timeout())
				c.armAt(c.probeAt, now)
				return
			}
			if now.Before(c.probeAt) {
				return
			}
			c.probeAt = time.Time{}
		}
		if !c.pace(now, p.size()) {
			return
		}
		c.nsent++
		c.flight += p.size()
		c.transmit(p, now)
	}
}

// pace is a token bucket filled at 1.5 windows per smoothed RTT: it spreads a window's
// packets over the round trip instead of sending them back to back, so that a burst
// does not fill the bottleneck's queue (and LEDBAT's delay signal) by itself.
func (c *Conn) pace(now time.Time, size int) bool {
	if c.rtt.srtt == 0 {
		return true
	}
	rate := 1.5 * float64(c.cc.cwnd) / c.rtt.srtt.Seconds()
	burst := float64(max(16*c.cc.mss, c.cc.cwnd/4))
	if !c.tokensAt.IsZero() {
		c.tokens += rate * now.Sub(c.tokensAt).Seconds()
	} else {
		c.tokens = burst
	}
	c.tokensAt = now
	if c.tokens > burst {
		c.tokens = burst
	}
	if c.tokens >= float64(size) {
		c.tokens -= float64(size)
		return true
	}
	wait := time.Duration((float64(size) - c.tokens) / rate * float64(time.Second))
	c.paceAt = now.Add(max(wait, 50*time.Microsecond))
	c.armAt(c.paceAt, now)
	return false
}

func (c *Conn) connIDFor(t Type) uint16 {
	if t == TypeSyn {
		return c.recvID
	}
	return c.sendID
}

func (c *Conn) transmit(p *packet, now time.Time) {
	p.transmissions++
	p.sentAt = now
	w := c.window()
	ack := c.ackNr
	if p.typ == TypeSyn {
		ack = 0
	}
	putHeader(p.buf, p.typ, p.ext, c.connIDFor(p.typ), c.s.micros(now), c.replyMicro, uint32(w), p.seq, ack)
	c.queueSend(p.buf)
	c.stats.Sent++
	c.advertised = w
	c.ackPending = 0
	c.lastSend = now
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.rtt.timeout())
		c.armAt(c.rtoAt, now)
	}
}

// nextSendSeq is the sequence number of the next packet that goes out for the first time.
// Packets get their numbers when queued, so this is behind seqNr by the queued ones.
func (c *Conn) nextSendSeq() uint16 {
	if c.nsent < len(c.q) {
		return c.q[c.nsent].seq
	}
	return c.seqNr
}

// sendState sends an ack, with a selective ack of the out-of-order packets held.
//
// Its seq_nr is that of the next packet to be sent, as libtorrent's is, not the next
// number assigned to queued data: libtorrent drops (without acking it, and without
// counting it as a sign of life) any packet whose seq_nr is more than its reorder
// window (about 950 packets) past its ack_nr. With a write queue that long, every ack
// we sent for its requests would be dropped and it would time the connection out.
func (c *Conn) sendState(now time.Time) { c.sendStateSeq(now, c.nextSendSeq()) }

// sendStateSeq is sendState with an explicit seq_nr (the SYN's answer repeats the
// initial one).
func (c *Conn) sendStateSeq(now time.Time, seq uint16) {
	b := c.scratch[:HeaderSize]
	var ext uint8
	if len(c.ooo) > 0 {
		var mask [32]byte
		hi := -1
		base := c.ackNr + 2
		for seq := range c.ooo {
			if i := int(seq - base); i < len(mask)*8 {
				mask[i/8] |= 1 << (i % 8)
				hi = max(hi, i)
			}
		}
		if hi >= 0 {
			n := (hi/32 + 1) * 4
			ext = ExtSelectiveAck
			b = append(b, 0, uint8(n))
			b = append(b, mask[:n]...)
		}
	}
	w := c.window()
	putHeader(b, TypeState, ext, c.sendID, c.s.micros(now), c.replyMicro, uint32(w), seq, c.ackNr)
	c.s.send(b, c.remote)
	c.stats.Sent++
	c.advertised = w
	c.ackPending = 0
	c.lastSend = now
}

// sendSynAck answers the peer's SYN with an ST_STATE carrying our first sequence number
// and, if the SYN set the big-datagram bit on a local path, ours.
func (c *Conn) sendSynAck(now time.Time) {
	if !c.answerSize {
		c.sendStateSeq(now, c.isn)
		return
	}
	b := append(c.scratch[:HeaderSize], 0, 8)
	b = append(b, extBitsBigDatagrams[:]...)
	w := c.window()
	putHeader(b, TypeState, ExtBits, c.sendID, c.s.micros(now), c.replyMicro, uint32(w), c.isn, c.ackNr)
	c.s.send(b, c.remote)
	c.stats.Sent++
	c.advertised = w
	c.ackPending = 0
	c.lastSend = now
}

func (c *Conn) sendReset() {
	var b [HeaderSize]byte
	putHeader(b[:], TypeReset, 0, c.sendID, c.s.micros(time.Now()), c.replyMicro, 0, c.nextSendSeq(), c.ackNr)
	c.s.send(b[:], c.remote)
}

// onAck processes the cumulative and selective acks of a packet.
func (c *Conn) onAck(h *Header, now time.Time) {
	a := h.Ack
	if h.TimestampDiff != 0 {
		c.cc.addDelay(h.TimestampDiff, now)
	}
	if c.nsent == 0 {
		c.lastAck = a
		return
	}
	first := c.q[0].seq
	lastSent := first + uint16(c.nsent) - 1
	if seqLess(a, first-1) || seqLess(lastSent, a) {
		return // a stale ack, or one for data we never sent
	}
	flightBefore := c.flight
	acked := 0
	for c.nsent > 0 && !seqLess(a, c.q[0].seq) {
		p := c.q[0]
		acked += c.ackPacket(p, now)
		if p.typ == TypeFin {
			c.finAcked = true
		}
		if p.typ == TypeData {
			c.queued -= len(p.buf) - HeaderSize // a SYN's bytes are its extension, never queued
		}
		c.q[0] = nil
		c.q = c.q[1:]
		c.nsent--
		c.s.putPacket(p)
	}
	lostNow := false
	if sack := h.SelectiveAck(); sack != nil && c.nsent > 0 {
		base := a + 2
		for i := 0; i < len(sack)*8; i++ {
			if sack[i/8]&(1<<(i%8)) == 0 {
				continue
			}
			idx := int(uint16(base + uint16(i) - c.q[0].seq))
			if idx >= c.nsent {
				break
			}
			if p := c.q[idx]; !p.acked {
				acked += c.ackPacket(p, now)
				p.acked = true
			}
		}
		// A packet with three or more packets sent after it selectively acked is lost
		// (the same threshold as TCP's duplicate acks).
		count := 0
		var newest time.Time
		for idx := c.nsent - 1; idx >= 0; idx-- {
			p := c.q[idx]
			if p.acked {
				count++
				if p.sentAt.After(newest) {
					newest = p.sentAt
				}
				continue
			}
			if count >= 3 && !p.needResend && p.sentAt.Before(newest) {
				c.markLost(p)
				lostNow = true
			}
		}
	}
	if acked == 0 && h.Type == TypeState && a == c.lastAck && c.flight > 0 {
		c.dupAcks++
		if c.dupAcks == 3 && !c.q[0].acked && !c.q[0].needResend {
			c.markLost(c.q[0])
			lostNow = true
		}
	} else if a != c.lastAck {
		c.dupAcks = 0
	}
	c.lastAck = a
	if lostNow {
		c.cc.onLoss(now, c.rtt.smoothed(100*time.Millisecond))
	}
	if acked > 0 {
		c.cc.onAck(acked, flightBefore)
		c.rtt.backoff = 0
		if c.flight > 0 || c.lost > 0 {
			c.rtoAt = now.Add(c.rtt.timeout())
		} else {
			c.rtoAt = time.Time{}
		}
		signal(c.writable)
	}
}

// ackPacket accounts for a packet acknowledged for the first time and returns its size.
func (c *Conn) ackPacket(p *packet, now time.Time) int {
	if p.acked {
		return 0
	}
	if p.needResend {
		p.needResend = false
		c.lost--
	} else {
		c.flight -= p.size()
	}
	if p.transmissions == 1 {
		c.rtt.sample(now.Sub(p.sentAt))
	}
	return p.size()
}

func (c *Conn) markLost(p *packet) {
	p.needResend = true
	c.lost++
	c.flight -= p.size()
	c.stats.FastRetransmit++
}

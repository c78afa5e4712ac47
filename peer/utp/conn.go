package utp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Errors a connection ends with.
var (
	// ErrReset means the peer sent ST_RESET.
	ErrReset = errors.New("utp: connection reset by peer")
	// ErrTimedOut means the peer stopped acknowledging (retransmissions exhausted) or
	// sent nothing for Config.IdleTimeout.
	ErrTimedOut = &timeoutError{}
)

type timeoutError struct{}

func (*timeoutError) Error() string   { return "utp: connection timed out" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return false }

// Retransmission limits: consecutive timeouts (each doubling the RTO) before giving up.
const (
	synRetries  = 4 // 1+2+4+8 s with the initial 1 s RTO
	dataRetries = 8
	// maxOutOfOrder bounds how far past the cumulative ack a packet is buffered; it also
	// bounds the out-of-order map.
	maxOutOfOrder = 1024
	// readSlack lets the in-order packet that fills a gap in, even if out-of-order data
	// has used up the window: refusing it would stall the connection for good.
	readSlack = 64 << 10
	// ackDelay is how long an ack for a lone in-order packet may wait for a second one.
	ackDelay = time.Millisecond
	// linger bounds how long a closed connection waits for its FIN to be acknowledged.
	linger = 30 * time.Second
)

type connState uint8

const (
	stateSynSent connState = iota
	stateConnected
	stateDead
)

// packet is one sequenced packet (SYN, DATA or FIN) from queueing until acknowledged.
// buf holds the header (rewritten at each transmission) followed by the payload.
type packet struct {
	buf           []byte
	typ           Type
	seq           uint16
	transmissions int
	sentAt        time.Time
	needResend    bool // declared lost; not counted in flight
	acked         bool // selectively acknowledged; waiting for the cumulative ack
}

func (p *packet) size() int { return len(p.buf) }

// Stats is a snapshot of a connection's congestion state and counters.
type Stats struct {
	Cwnd           int           // congestion window, bytes
	Flight         int           // bytes sent and not acknowledged
	PeerWindow     int           // the peer's advertised receive window
	SRTT, RTO      time.Duration // smoothed round trip, retransmission timeout
	QueuingDelay   time.Duration // LEDBAT's current estimate
	Sent           uint64        // packets sent, including acks and retransmissions
	Retransmits    uint64        // packets sent again
	FastRetransmit uint64        // losses found by duplicate or selective acks
	Timeouts       uint64        // retransmission timeouts
}

// Conn is one uTP connection. It implements net.Conn; Close sends ST_FIN after the
// queued data and lingers in the background until the FIN is acknowledged.
type Conn struct {
	s        *Socket
	remote   netip.AddrPort
	raddr    *net.UDPAddr
	recvID   uint16 // the id on packets we receive
	sendID   uint16 // the id on packets we send (except SYN)
	acceptor bool
	mss      int

	mu      sync.Mutex
	state   connState
	err     error // why the connection died
	closedL bool  // Close was called

	// receive side
	synSeq     uint16 // acceptor: the SYN's sequence number, to answer retransmitted SYNs
	ackNr      uint16 // last sequence number received in order
	rbuf       ring
	ooo        map[uint16][]byte
	oooBytes   int
	gotFin     bool
	finSeq     uint16
	eof        bool
	replyMicro uint32 // our clock minus the timestamp of the last packet received
	ackPending int
	ackTimerOn bool
	advertised int // the window we last told the peer
	lastRecv   time.Time

	// send side
	seqNr       uint16    // next sequence number to assign
	q           []*packet // unacknowledged packets in sequence order, then unsent ones
	nsent       int       // q[:nsent] have been sent at least once
	queued      int       // payload bytes in q
	flight      int       // bytes of packets in flight (sent, not acked, not lost)
	lost        int       // packets in q marked needResend
	peerWnd     int
	lastAck     uint16
	dupAcks     int
	finQueued   bool
	finAcked    bool
	rtt         rttEstimator
	cc          *ledbat
	rtoAt       time.Time
	tokens      float64
	tokensAt    time.Time
	paceAt      time.Time
	probeAt     time.Time
	lastSend    time.Time
	lingerAt    time.Time
	stats       Stats
	scratch     [HeaderSize + 2 + 32]byte
	gsoBuf      []byte // a run of packets for one segmentation-offload send
	gsoSeg      int    // size of each packet in gsoBuf
	gsoShort    bool   // the last packet in gsoBuf is shorter: nothing may follow it
	gsoOOB      []byte
	timer       *time.Timer
	timerAt     time.Time
	ackTimer    *time.Timer
	connected   chan struct{}
	dead        chan struct{}
	readable    chan struct{}
	writable    chan struct{}
	localClosed chan struct{}
	rdl, wdl    *deadline
}

func newConn(s *Socket, remote netip.AddrPort, recvID, sendID uint16, acceptor bool) *Conn {
	c := &Conn{
		s:           s,
		remote:      remote,
		raddr:       net.UDPAddrFromAddrPort(remote),
		recvID:      recvID,
		sendID:      sendID,
		acceptor:    acceptor,
		mss:         s.cfg.PacketSize,
		ooo:         make(map[uint16][]byte),
		cc:          newLedbat(s.cfg.PacketSize+HeaderSize, s.cfg.Target),
		connected:   make(chan struct{}),
		dead:        make(chan struct{}),
		readable:    make(chan struct{}, 1),
		writable:    make(chan struct{}, 1),
		localClosed: make(chan struct{}),
		rdl:         newDeadline(),
		wdl:         newDeadline(),
		advertised:  s.cfg.ReadBuffer,
	}
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.ackTimer = time.AfterFunc(time.Hour, c.onAckTimer)
	c.ackTimer.Stop()
	return c
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// LocalAddr is the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.s.Addr() }

// RemoteAddr is the peer's UDP address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rdl.set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// Stats returns a snapshot of the connection's congestion state.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Cwnd = c.cc.cwnd
	st.Flight = c.flight
	st.PeerWindow = c.peerWnd
	st.SRTT = c.rtt.srtt
	st.RTO = c.rtt.timeout()
	st.QueuingDelay = time.Duration(c.cc.queuingDelay()) * time.Microsecond
	return st
}

// Read reads stream data; it returns io.EOF after the peer's FIN and all data before it.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closedL {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if c.rbuf.len() > 0 {
			if len(b) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			n := c.rbuf.read(b)
			// Tell a peer that we stalled with a small window that it may send again;
			// otherwise it would wait for its zero-window probe.
			if w := c.window(); c.state == stateConnected && c.advertised < c.s.cfg.ReadBuffer/2 && w-c.advertised >= c.s.cfg.ReadBuffer/4 {
				c.sendState(time.Now())
			}
			c.mu.Unlock()
			return n, nil
		}
		if c.eof {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return 0, err
		}
		c.mu.Unlock()
		select {
		case <-c.readable:
		case <-c.dead:
		case <-c.localClosed:
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write queues b for sending; it blocks while Config.WriteBuffer bytes are queued.
func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c.mu.Lock()
		if c.closedL || c.finQueued {
			c.mu.Unlock()
			return n, net.ErrClosed
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return n, err
		}
		space := c.s.cfg.WriteBuffer - c.queued
		if space <= 0 {
			c.mu.Unlock()
			select {
			case <-c.writable:
			case <-c.dead:
			case <-c.localClosed:
			case <-c.wdl.wait():
				return n, os.ErrDeadlineExceeded
			}
			continue
		}
		k := min(space, len(b))
		c.enqueue(b[:k])
		n += k
		b = b[k:]
		now := time.Now()
		c.flush(now)
		c.mu.Unlock()
	}
	return n, nil
}

// CloseWrite sends ST_FIN after the queued data; reading goes on until the peer's FIN.
// (uTP's FIN ends one direction only, like TCP's.)
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedL {
		return net.ErrClosed
	}
	c.queueFin()
	return nil
}

// Close stops reads and writes; queued data is still sent, followed by ST_FIN, and the
// connection lingers until the FIN is acknowledged.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedL {
		return net.ErrClosed
	}
	c.closedL = true
	close(c.localClosed)
	c.rbuf = ring{}
	if c.state == stateSynSent {
		c.destroyLocked(net.ErrClosed)
		return nil
	}
	c.queueFin()
	c.maybeFinish()
	return nil
}

func (c *Conn) queueFin() {
	if c.state == stateDead || c.finQueued {
		return
	}
	now := time.Now()
	c.finQueued = true
	c.newPacket(TypeFin)
	c.flush(now)
	c.armNext(now)
}

// enqueue splits b into packets, topping up the last unsent one first so that small
// writes share packets.
func (c *Conn) enqueue(b []byte) {
	for len(b) > 0 {
		var p *packet
		if n := len(c.q); n > c.nsent && c.q[n-1].typ == TypeData && len(c.q[n-1].buf) < HeaderSize+c.mss {
			p = c.q[n-1]
		} else {
			p = c.newPacket(TypeData)
		}
		k := min(HeaderSize+c.mss-len(p.buf), len(b))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		c.queued += k
	}
}

func (c *Conn) newPacket(t Type) *packet {
	p := c.s.getPacket()
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
		c.gsoBuf = make([]byte, 0, maxGSOBytes)
		c.gsoOOB = make([]byte, gsoOOBLen)
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
	c.gsoBuf, c.gsoShort = c.gsoBuf[:0], false
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
	putHeader(p.buf, p.typ, 0, c.connIDFor(p.typ), c.s.micros(now), c.replyMicro, uint32(w), p.seq, ack)
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

// sendState sends an ack, with a selective ack of the out-of-order packets held.
func (c *Conn) sendState(now time.Time) {
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
	putHeader(b, TypeState, ext, c.sendID, c.s.micros(now), c.replyMicro, uint32(w), c.seqNr, c.ackNr)
	c.s.send(b, c.remote)
	c.stats.Sent++
	c.advertised = w
	c.ackPending = 0
	c.lastSend = now
}

func (c *Conn) sendReset() {
	var b [HeaderSize]byte
	putHeader(b[:], TypeReset, 0, c.sendID, c.s.micros(time.Now()), c.replyMicro, 0, c.seqNr, c.ackNr)
	c.s.send(b[:], c.remote)
}

// handleSyn answers a retransmitted SYN (our ST_STATE was lost).
func (c *Conn) handleSyn(h *Header, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDead || !c.acceptor || h.ConnID != c.sendID || h.Seq != c.synSeq {
		return
	}
	c.lastRecv = now
	c.sendState(now)
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
	if h.Type == TypeReset {
		c.destroyLocked(ErrReset)
		return false
	}
	if c.state == stateSynSent {
		if h.Type != TypeState {
			return false
		}
		c.state = stateConnected
		c.ackNr = h.Seq - 1
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
	if c.state != stateDead && c.ackPending > 0 {
		c.sendState(time.Now())
	}
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
		c.queued -= len(p.buf) - HeaderSize
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
		case c.ackPending >= 2:
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
	for _, t := range []time.Time{c.rtoAt, c.paceAt, c.probeAt, c.lingerAt, c.lastRecv.Add(c.s.cfg.IdleTimeout)} {
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
	close(c.dead)
	for _, p := range c.q {
		c.s.putPacket(p)
	}
	c.q, c.nsent, c.flight, c.lost = nil, 0, 0, 0
	c.ooo, c.oooBytes = nil, 0
	c.s.remove(c)
}

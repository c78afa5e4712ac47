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
	// ackEvery is how many in-order packets an ack waits for, and ackDelay how long at
	// most. Each ack costs the receiver a send and the sender a read and a pass over its
	// queue: with an ack every two packets, or every coalesced read however short, the
	// acks' sends alone were 9-13% of a BitTorrent downloader's CPU at loopback speed.
	// Out-of-order data, a FIN and a reader freeing a stalled window are acked at once.
	ackEvery = 16
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
	ext           uint8 // first extension (a SYN's ExtBits, already in buf), or 0
	needResend    bool  // declared lost; not counted in flight
	acked         bool  // selectively acknowledged; waiting for the cumulative ack
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
	mss      int  // payload per packet; set before the connection carries data (setPacketSize)
	halfOpen bool // counted in the socket's half-open caps; guarded by s.mu

	mu      sync.Mutex
	state   connState
	err     error // why the connection died
	closedL bool  // Close was called

	// receive side
	synSeq     uint16 // acceptor: the SYN's sequence number, to answer retransmitted SYNs
	isn        uint16 // acceptor: our first sequence number, repeated to a retransmitted SYN
	answerSize bool   // acceptor: the SYN set the big-datagram bit, so our answer does too
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
	verifyBy   time.Time // acceptor, until the peer acks our first sequence number: destroyed then

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
	gsoBuf      []byte  // a run of packets for one segmentation-offload send
	gsoRun      *[]byte // gsoBuf's holder in the socket's pool, while it is taken
	gsoSeg      int     // size of each packet in gsoBuf
	gsoShort    bool    // the last packet in gsoBuf is shorter: nothing may follow it
	gsoOOB      []byte
	corked      bool // the writer has more to write at once (SetCork)
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

// Write queues b for sending; it blocks while the send queue is full (sendQueueLimit).
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
		space := c.sendQueueLimit() - c.queued
		if space <= 0 {
			c.sendBatch() // a corked run must not wait with us
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
		c.flushWindow(time.Now())
		if !c.holdRun() {
			c.sendBatch()
		}
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
	if c.state == stateSynSent || !c.verifyBy.IsZero() {
		// Nothing to finish: a dial never answered, or a half-open connection whose
		// SYN may have been spoofed (a FIN would go to whoever the SYN named).
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
// writes share packets. A packet holds at most c.mss bytes of payload and no more than
// its buffer does: a small write gets a small buffer (getPacket), and is topped up only
// to that buffer's size.
func (c *Conn) enqueue(b []byte) {
	for len(b) > 0 {
		var p *packet
		if n := len(c.q); n > c.nsent && c.q[n-1].typ == TypeData && len(c.q[n-1].buf) < c.packetLimit(c.q[n-1]) {
			p = c.q[n-1]
		} else {
			p = c.newPacketFor(TypeData, len(b))
		}
		k := min(c.packetLimit(p)-len(p.buf), len(b))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
		c.queued += k
	}
}

// packetLimit is the most bytes, header included, that p may hold.
func (c *Conn) packetLimit(p *packet) int { return min(HeaderSize+c.mss, cap(p.buf)) }

// setPacketSize raises the payload per packet for a peer on a local path that
// advertised (the ExtBits big-datagram bit) that it takes datagrams of peer payload
// bytes: to the least of that and Config.LocalPacketSize. It runs during the handshake, before any data is
// queued, so every data packet is cut to one size.
func (c *Conn) setPacketSize(peer int) {
	size := min(peer, c.s.cfg.LocalPacketSize, maxRecvPayload)
	if size <= c.mss {
		return
	}
	c.mss = size
	c.cc.setMSS(size + HeaderSize)
}

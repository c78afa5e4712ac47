package utp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a Socket. The zero value is usable.
type Config struct {
	// Unhandled receives every datagram that is not uTP (for example DHT KRPC). It runs
	// on the socket's reader goroutine: b is valid only during the call, and a slow
	// handler delays every connection on the socket.
	Unhandled func(b []byte, from net.Addr)

	// PacketSize is the most payload one packet carries. The default, 1400, keeps a
	// packet with IPv6, UDP and uTP headers under a 1500-byte MTU, so it is never
	// fragmented.
	PacketSize int

	// LocalPacketSize is the payload per packet toward a peer on this host (a loopback
	// address or one of this host's own addresses, routed over the loopback device with
	// its 64 KiB MTU) when the peer advertises that it takes datagrams that big (the
	// ExtBits big-datagram bit; our sockets always do). Fewer, bigger packets cost fewer
	// headers, acks and LEDBAT updates per byte, which is what limits uTP on loopback.
	// Default 16 KiB + 64; a negative value turns it off (every peer gets PacketSize).
	// Other paths keep PacketSize: there is no path MTU discovery.
	LocalPacketSize int

	// ReadBuffer is each connection's receive window in bytes (default 1 MiB).
	ReadBuffer int

	// WriteBuffer is the most bytes a connection queues before Write blocks (default
	// 1 MiB). The queue is sized to the connection's windows below that: twice what may be
	// in flight, at least 64 KiB (Conn.sendQueueLimit).
	WriteBuffer int

	// SocketBuffer sizes the kernel's UDP send and receive buffers (default 4 MiB;
	// negative leaves the kernel default). Only applied when the socket is a *net.UDPConn.
	SocketBuffer int

	// Target is the LEDBAT queueing-delay target (default 100 ms, RFC 6817).
	Target time.Duration

	// Backlog is how many accepted connections may wait for Accept (default 64); SYNs
	// beyond it are dropped (the dialler retransmits them).
	Backlog int

	// MaxHalfOpen caps accepted connections whose peer has not yet proved it receives at
	// its address (default 64): a SYN costs its sender one spoofable datagram, so until the
	// peer acknowledges our random first sequence number a connection is half-open, and SYNs
	// beyond the cap evict the oldest half-open connection (silently). A real dialler's
	// connection verifies one round trip after its SYN, so a flood from other addresses
	// cannot keep it out; and one evicted before its first packet arrived comes back on
	// that packet (evicted.go), so a swarm dialling at once is not cut to the cap.
	MaxHalfOpen int

	// MaxHalfOpenPerIP caps half-open connections from one IP address (default 8: peers
	// behind one NAT dial at once), so that one source cannot take the whole of
	// MaxHalfOpen; SYNs beyond it are dropped (the dialler retransmits them).
	MaxHalfOpenPerIP int

	// HalfOpenTimeout destroys a half-open connection, silently, after this long (default
	// 10 s: a dialler sends its first data one round trip after our answer).
	HalfOpenTimeout time.Duration

	// KeepAlive is the idle time after which a connection sends an empty ack, so that
	// NAT mappings stay open (default 29 s).
	KeepAlive time.Duration

	// IdleTimeout closes a connection that has received nothing for this long
	// (default 5 min; BitTorrent peers send keep-alives every 2 min).
	IdleTimeout time.Duration

	// NoOffload turns off UDP segmentation and receive offload (Linux GSO/GRO). With
	// them on, runs of full packets go to the kernel in one call and, between two of
	// our sockets, come back in one read, which saves most of the per-packet system
	// call cost; a capture on loopback then shows such a run as one large datagram.
	NoOffload bool
}

// defaultLocalPacketSize carries a 16 KiB BitTorrent block with its 13-byte message header
// in one packet.
const defaultLocalPacketSize = 16<<10 + 64

func (c Config) withDefaults() Config {
	if c.PacketSize <= 0 {
		c.PacketSize = 1400
	}
	c.PacketSize = min(c.PacketSize, maxRecvPayload)
	if c.LocalPacketSize == 0 {
		c.LocalPacketSize = defaultLocalPacketSize
	}
	c.LocalPacketSize = min(c.LocalPacketSize, maxRecvPayload)
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = 1 << 20
	}
	if c.WriteBuffer <= 0 {
		c.WriteBuffer = 1 << 20
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = 4 << 20
	}
	if c.Target <= 0 {
		c.Target = defaultTarget
	}
	if c.Backlog <= 0 {
		c.Backlog = 64
	}
	if c.MaxHalfOpen <= 0 {
		c.MaxHalfOpen = 64
	}
	if c.MaxHalfOpenPerIP <= 0 {
		c.MaxHalfOpenPerIP = 8
	}
	if c.HalfOpenTimeout <= 0 {
		c.HalfOpenTimeout = 10 * time.Second
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 29 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	return c
}

// SocketStats counts what a Socket's reader saw.
type SocketStats struct {
	Packets   uint64 // datagrams read
	Malformed uint64 // uTP-shaped datagrams that failed to decode
	Unhandled uint64 // datagrams passed to Config.Unhandled (or dropped when it is nil)
	Unknown   uint64 // uTP packets for no connection
	Refused   uint64 // SYNs dropped, or half-open connections evicted, at the caps or a full backlog
	Evicted   uint64 // of Refused, half-open connections evicted to make room for a SYN
	Revived   uint64 // evicted connections brought back by their dialler's first packet
	HalfOpen  int    // accepted connections not yet verified, now
}

type connKey struct {
	addr netip.AddrPort
	id   uint16
}

// Socket serves uTP connections on one UDP socket. It is a net.Listener.
type Socket struct {
	pc    net.PacketConn
	udp   *net.UDPConn // set when pc is one: the allocation-free read and write path
	cfg   Config
	epoch time.Time
	tsOff uint32 // random offset of our microsecond clock

	mu     sync.Mutex
	conns  map[connKey]*Conn
	closed bool
	half   halfOpen // guarded by mu
	gone   evicted  // guarded by mu

	acceptCh   chan *Conn
	done       chan struct{}
	readerDone chan struct{}
	closeOnce  sync.Once
	packets    sync.Pool   // *packet of PacketSize payload, recycled once acknowledged
	bigPackets sync.Pool   // *packet of LocalPacketSize payload, when that is bigger
	gsoBufs    sync.Pool   // *[]byte of maxGSOBytes capacity: connections' segmentation-offload runs
	local      localAddrs  // this host's addresses, for Config.LocalPacketSize
	gro        bool        // reads may return several datagrams (UDP_GRO)
	gsoOff     atomic.Bool // sends go one datagram per call

	received, malformed, unhandled, unknown, refused atomic.Uint64
	evictions, revived                               atomic.Uint64
}

// Listen opens a UDP socket on addr ("udp", "udp4" or "udp6") and serves uTP on it.
func Listen(network, addr string, cfg Config) (*Socket, error) {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	s, err := NewSocket(pc, cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return s, nil
}

// NewSocket serves uTP on pc, which the Socket owns from now on: Close closes it, and
// nobody else may read from it (send other protocols' packets with WriteTo and receive
// them through Config.Unhandled).
func NewSocket(pc net.PacketConn, cfg Config) (*Socket, error) {
	if pc == nil {
		return nil, errors.New("utp: nil PacketConn")
	}
	cfg = cfg.withDefaults()
	s := &Socket{
		pc:         pc,
		cfg:        cfg,
		epoch:      time.Now(),
		tsOff:      rand.Uint32(),
		conns:      make(map[connKey]*Conn),
		half:       halfOpen{byIP: make(map[netip.Addr]int)},
		acceptCh:   make(chan *Conn, cfg.Backlog),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	size := HeaderSize + cfg.PacketSize
	s.packets.New = func() any { return &packet{buf: make([]byte, 0, size)} }
	s.gsoBufs.New = func() any { b := make([]byte, 0, maxGSOBytes); return &b }
	if cfg.LocalPacketSize > cfg.PacketSize {
		big := HeaderSize + cfg.LocalPacketSize
		s.bigPackets.New = func() any { return &packet{buf: make([]byte, 0, big)} }
	}
	if u, ok := pc.(*net.UDPConn); ok {
		s.udp = u
		if cfg.SocketBuffer > 0 {
			sizeBuffers(u, cfg.SocketBuffer)
		}
		if haveOffload && !cfg.NoOffload {
			s.gro = enableGRO(u)
		}
	}
	if s.udp == nil || !haveOffload || cfg.NoOffload {
		s.gsoOff.Store(true)
	}
	go s.readLoop()
	return s, nil
}

// Addr is the local address of the UDP socket.
func (s *Socket) Addr() net.Addr { return s.pc.LocalAddr() }

// Stats returns the reader's counters.
func (s *Socket) Stats() SocketStats {
	s.mu.Lock()
	half := s.half.total
	s.mu.Unlock()
	return SocketStats{Packets: s.received.Load(), Malformed: s.malformed.Load(), Unhandled: s.unhandled.Load(),
		Unknown: s.unknown.Load(), Refused: s.refused.Load(), Evicted: s.evictions.Load(), Revived: s.revived.Load(),
		HalfOpen: half}
}

// WriteTo sends a datagram of another protocol (the DHT) from the socket's port.
func (s *Socket) WriteTo(b []byte, addr net.Addr) (int, error) { return s.pc.WriteTo(b, addr) }

// Accept waits for the next incoming connection.
func (s *Socket) Accept() (net.Conn, error) {
	if s.isClosed() {
		return nil, net.ErrClosed // even if connections are still queued
	}
	for {
		select {
		case c := <-s.acceptCh:
			select {
			case <-c.dead:
				continue // a half-open connection evicted or expired while it waited
			default:
			}
			return c, nil
		case <-s.done:
			return nil, net.ErrClosed
		}
	}
}

// Close resets every connection, closes the UDP socket and waits for the reader to stop.
func (s *Socket) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		close(s.done)
		for _, c := range conns {
			c.mu.Lock()
			if c.state != stateDead {
				c.sendReset()
			}
			c.destroyLocked(net.ErrClosed)
			c.mu.Unlock()
		}
		err = s.pc.Close()
		<-s.readerDone
	})
	return err
}

// Dial connects to addr ("host:port") over uTP.
func (s *Socket) Dial(addr string) (net.Conn, error) {
	return s.DialContext(context.Background(), addr)
}

// DialContext connects to addr ("host:port") over uTP. The SYN is retransmitted with
// exponential backoff until the peer answers, ctx ends, or about 15 s pass.
func (s *Socket) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return nil, fmt.Errorf("utp: dial %s: %w", addr, rerr)
		}
		ap = ua.AddrPort()
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if s.udp != nil {
		// An IPv4-only socket cannot reach an IPv6 peer and vice versa; fail now rather
		// than after the SYN retries.
		if la, ok := s.pc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil && !la.IP.IsUnspecified() && !ap.Addr().Is4() {
			return nil, fmt.Errorf("utp: dial %s from %s: address family mismatch", addr, la)
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	var id uint16
	for tries := 0; ; tries++ {
		id = uint16(rand.Uint32())
		// Our id and the peer's (id+1) must both be free for this address: the acceptor
		// side of a simultaneous connection uses the SYN's id+1.
		_, a := s.conns[connKey{ap, id}]
		_, b := s.conns[connKey{ap, id + 1}]
		if !a && !b {
			break
		}
		if tries > 64 {
			s.mu.Unlock()
			return nil, fmt.Errorf("utp: dial %s: no free connection id", addr)
		}
	}
	c := newConn(s, ap, id, id+1, false)
	s.conns[connKey{ap, id}] = c
	s.mu.Unlock()

	c.mu.Lock()
	c.state = stateSynSent
	c.seqNr = uint16(rand.Uint32())
	c.peerWnd = c.mss * initCwndPkts
	syn := c.newPacket(TypeSyn)
	if s.localPath(ap.Addr()) {
		// Offer big datagrams; the answer's extension (or its absence) sets c.mss.
		syn.ext = ExtBits
		syn.buf = append(syn.buf, 0, 8)
		syn.buf = append(syn.buf, extBitsBigDatagrams[:]...)
	}
	now := time.Now()
	c.lastRecv = now
	c.flush(now)
	c.armNext(now)
	c.mu.Unlock()

	select {
	case <-c.connected:
		return c, nil
	case <-c.dead:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", addr, err)
	case <-ctx.Done():
		c.mu.Lock()
		c.sendReset()
		c.destroyLocked(ctx.Err())
		c.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", addr, ctx.Err())
	}
}

func (s *Socket) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[connKey{c.remote, c.recvID}] == c {
		delete(s.conns, connKey{c.remote, c.recvID})
	}
	if c.halfOpen {
		c.halfOpen = false
		s.half.release(c)
	}
	s.mu.Unlock()
}

func (s *Socket) micros(now time.Time) uint32 {
	return uint32(now.Sub(s.epoch).Microseconds()) + s.tsOff
}

func (s *Socket) send(b []byte, to netip.AddrPort) {
	// Send errors (a full buffer, an unreachable peer) are losses as far as uTP is
	// concerned: retransmission and the timeouts deal with them.
	if s.udp != nil {
		_, _ = s.udp.WriteToUDPAddrPort(b, to)
		return
	}
	_, _ = s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// sendSegments sends buf, a run of datagrams of seg bytes each (the last may be
// shorter), in one call when the kernel can segment it, else one by one. The first
// refusal turns segmentation off for the socket.
func (s *Socket) sendSegments(buf []byte, seg int, to netip.AddrPort, oob []byte) {
	if len(buf) <= seg {
		s.send(buf, to)
		return
	}
	if !s.gsoOff.Load() {
		putGSO(oob, seg)
		_, _, err := s.udp.WriteMsgUDPAddrPort(buf, oob, to)
		if err == nil || !gsoUnsupported(err) {
			return
		}
		s.gsoOff.Store(true)
	}
	for len(buf) > 0 {
		n := min(seg, len(buf))
		s.send(buf[:n], to)
		buf = buf[n:]
	}
}

// getPacket returns a cleared packet whose buffer holds PacketSize bytes of payload
// after the header, or LocalPacketSize bytes if payload needs more than PacketSize. Small
// writes get small buffers even on a connection with big packets, so that a queue of
// BitTorrent messages does not pin 16 KiB or more per message.
func (s *Socket) getPacket(payload int) *packet {
	pool := &s.packets
	if payload > s.cfg.PacketSize && s.bigPackets.New != nil {
		pool = &s.bigPackets
	}
	p := pool.Get().(*packet)
	*p = packet{buf: p.buf[:HeaderSize]}
	return p
}

func (s *Socket) putPacket(p *packet) {
	if cap(p.buf) > HeaderSize+s.cfg.PacketSize && s.bigPackets.New != nil {
		s.bigPackets.Put(p)
		return
	}
	s.packets.Put(p)
}

// localPath reports whether packets to addr stay on this host, where the loopback
// device's 64 KiB MTU carries datagrams of Config.LocalPacketSize unfragmented: addr is a
// loopback address or one of this host's own. Anything else keeps Config.PacketSize,
// since we do no path MTU discovery.
func (s *Socket) localPath(addr netip.Addr) bool {
	if s.cfg.LocalPacketSize <= s.cfg.PacketSize {
		return false
	}
	addr = addr.Unmap()
	return addr.IsLoopback() || s.local.has(addr, time.Now())
}

// localAddrs caches this host's interface addresses: listing them takes a netlink round
// trip, too slow to do for every SYN of a flood.
type localAddrs struct {
	mu    sync.Mutex
	at    time.Time
	addrs map[netip.Addr]bool
}

// localAddrsTTL is how long a listing of the host's addresses is trusted.
const localAddrsTTL = 30 * time.Second

func (l *localAddrs) has(a netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs == nil || now.Sub(l.at) > localAddrsTTL {
		l.at = now
		l.addrs = make(map[netip.Addr]bool)
		ifas, err := net.InterfaceAddrs()
		if err == nil {
			for _, ifa := range ifas {
				if pn, ok := ifa.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(pn.IP); ok {
						l.addrs[ip.Unmap()] = true
					}
				}
			}
		}
	}
	return l.addrs[a]
}

// readLoop is the socket's only reader: it demultiplexes by packet shape and hands uTP
// packets to their connection, all on this goroutine.
func (s *Socket) readLoop() {
	defer close(s.readerDone)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	var h Header
	var acks []*Conn // connections whose acks wait for the end of a coalesced read
	for {
		var (
			n, oobn int
			ap      netip.AddrPort
			err     error
			src     net.Addr
		)
		switch {
		case s.gro:
			n, oobn, _, ap, err = s.udp.ReadMsgUDPAddrPort(buf, oob)
		case s.udp != nil:
			n, ap, err = s.udp.ReadFromUDPAddrPort(buf)
		default:
			n, src, err = s.pc.ReadFrom(buf)
			if ua, ok := src.(*net.UDPAddr); ok {
				ap = ua.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			// A transient error (ICMP-induced ECONNREFUSED and the like): keep serving,
			// but do not spin if it repeats.
			select {
			case <-s.done:
				return
			case <-time.After(time.Millisecond):
			}
			continue
		}
		seg := 0
		if oobn > 0 {
			seg = groSize(oob[:oobn])
		}
		if seg <= 0 || seg >= n {
			s.datagram(&h, buf[:n], ap, src, false)
			continue
		}
		// Several datagrams in one read: process them all, then send the acks they
		// earned, one per connection instead of one per two packets.
		for b := buf[:n]; len(b) > 0; {
			k := min(seg, len(b))
			if c := s.datagram(&h, b[:k], ap, src, true); c != nil && !slices.Contains(acks, c) {
				acks = append(acks, c)
			}
			b = b[k:]
		}
		for i, c := range acks {
			c.flushAck()
			acks[i] = nil
		}
		acks = acks[:0]
	}
}

// datagram handles one datagram. With deferAck, a connection that owes an ack does not
// send it but is returned, for the caller to flush after the rest of the batch.
func (s *Socket) datagram(h *Header, b []byte, ap netip.AddrPort, src net.Addr, deferAck bool) *Conn {
	s.received.Add(1)
	if !IsPacket(b) || !ap.IsValid() {
		s.unhandled.Add(1)
		if s.cfg.Unhandled != nil {
			if src == nil {
				src = net.UDPAddrFromAddrPort(ap)
			}
			s.cfg.Unhandled(b, src)
		}
		return nil
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	payload, err := h.Decode(b)
	if err != nil {
		s.malformed.Add(1)
		return nil
	}
	return s.dispatch(h, payload, ap, deferAck)
}

func (s *Socket) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Socket) dispatch(h *Header, payload []byte, from netip.AddrPort, deferAck bool) *Conn {
	now := time.Now()
	if h.Type == TypeSyn {
		s.mu.Lock()
		c := s.conns[connKey{from, h.ConnID + 1}]
		s.mu.Unlock()
		if c != nil {
			c.handleSyn(h, now)
			return nil
		}
		s.accept(h, from, now)
		return nil
	}
	s.mu.Lock()
	c := s.conns[connKey{from, h.ConnID}]
	s.mu.Unlock()
	if c == nil {
		var known bool
		if c, known = s.revive(h, from, now); c == nil && known {
			return nil // an evicted connection, waiting for room in the backlog
		}
	}
	if c == nil {
		s.unknown.Add(1)
		// Tell the peer the connection is gone, but never answer a RESET or an ack
		// with one, so two endpoints cannot bounce resets forever.
		if h.Type == TypeData || h.Type == TypeFin {
			s.sendResetTo(from, h.ConnID, h.Seq, now)
		}
		return nil
	}
	if c.handle(h, payload, now, deferAck) {
		return c
	}
	return nil
}

func (s *Socket) sendResetTo(to netip.AddrPort, connID, ack uint16, now time.Time) {
	var b [HeaderSize]byte
	putHeader(b[:], TypeReset, 0, connID, s.micros(now), 0, 0, uint16(rand.Uint32()), ack)
	s.send(b[:], to)
}

func (s *Socket) accept(h *Header, from netip.AddrPort, now time.Time) {
	for evicted := 0; ; evicted++ {
		s.mu.Lock()
		if s.closed || len(s.acceptCh) == cap(s.acceptCh) || evicted == 2 {
			// Drop the SYN, as TCP does with a full backlog: a real dialler retries it,
			// while a reset would make a flood of SYNs refuse real peers for good.
			s.mu.Unlock()
			s.refused.Add(1)
			return
		}
		if s.half.admit(from.Addr(), s.cfg) {
			break // s.mu still held
		}
		// At a half-open cap: the oldest half-open connection in the way goes, silently
		// (it never proved its address), and the SYN takes its place.
		v := s.half.victim(from.Addr(), s.cfg)
		s.mu.Unlock()
		if v == nil {
			s.refused.Add(1)
			return
		}
		v.mu.Lock()
		if v.state != stateDead {
			s.mu.Lock()
			s.gone.add(v, now, evictedMax*s.cfg.MaxHalfOpen)
			s.mu.Unlock()
			s.evictions.Add(1)
		}
		v.destroyLocked(ErrTimedOut)
		v.mu.Unlock()
		s.refused.Add(1)
	}
	c := newConn(s, from, h.ConnID+1, h.ConnID, true)
	c.verifyBy = now.Add(s.cfg.HalfOpenTimeout)
	c.halfOpen = true
	s.half.add(c)
	s.conns[connKey{from, c.recvID}] = c
	s.mu.Unlock()

	c.mu.Lock()
	c.state = stateConnected
	close(c.connected)
	c.synSeq = h.Seq
	c.ackNr = h.Seq
	c.seqNr = uint16(rand.Uint32())
	c.isn = c.seqNr
	if h.BigDatagrams() && s.localPath(from.Addr()) {
		c.answerSize = true
		c.setPacketSize(maxRecvPayload)
	}
	// libtorrent's SYN advertises a zero window: the real one comes with its first
	// data packet, so start from a small guess instead of waiting on a zero window.
	c.peerWnd = c.mss * initCwndPkts
	c.lastRecv = now
	c.replyMicro = s.micros(now) - h.Timestamp
	c.sendSynAck(now)
	c.armNext(now)
	c.mu.Unlock()

	select {
	case s.acceptCh <- c:
	default:
		// Only the reader sends on acceptCh and it checked the room above, so this
		// cannot happen; reset rather than leak if it ever does.
		c.mu.Lock()
		c.sendReset()
		c.destroyLocked(errors.New("utp: accept queue full"))
		c.mu.Unlock()
	}
}

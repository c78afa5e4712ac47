package peer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// conn is one peer connection. Its reader and writer goroutines touch only the fields marked
// shared (each guarded as noted); everything else belongs to the torrent loop.
type conn struct {
	t        *torrent
	nc       net.Conn
	key      piece.PeerKey
	addr     netip.AddrPort
	peerID   [20]byte
	reserved wire.Reserved
	outgoing bool
	v2       bool // the connection speaks BEP 52: named by the v2 info-hash or upgraded to it

	leafAnswers int // hash requests below the piece layer answered (hashserve.go); loop-owned

	// Shared: counters the loop samples for rates.
	downloaded atomic.Int64 // payload bytes received in blocks we asked for
	uploaded   atomic.Int64 // payload bytes sent
	wasted     atomic.Int64 // payload bytes received that we did not ask for

	// Shared: piece uploads queued at the writer; the loop adds, whoever removes one subtracts.
	queuedUploads atomic.Int32
	// Shared: ut_metadata replies queued at the writer; the loop adds, the writer subtracts.
	queuedMetadata atomic.Int32

	// Shared: the connection's place in the session's send scheduler; its weight is set by
	// the loop (setSendWeight) and read by the scheduler under its lock.
	flow sendFlow
	ck   corker // nc, if it can cork (cork.go)

	// Shared: blocks requested from this peer, so the reader can tell wanted blocks from
	// unsolicited ones before it writes anything to disk.
	reqMu     sync.Mutex
	requested map[piece.Block]struct{}

	out sendQueue
	// grant is the send scheduler's turn the writer holds (0: none); writer-owned.
	grant uint64

	hangUpErr error // the reason for closeAfterSend; set by the loop before it queues the hang-up

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error // set before closed is closed

	// Loop-owned state.
	ls loopState
}

// loopState is the part of a connection only the torrent loop reads and writes.
type loopState struct {
	amChoking      bool
	hangingUp      bool // closeAfterSend was called
	amInterested   bool
	peerChoking    bool
	peerInterested bool
	has            piece.Bitfield
	seed           bool
	uploadOnly     bool                // its extension handshake said upload_only (BEP 21)
	allowedFast    map[uint32]struct{} // pieces the peer lets us request while choked
	grantedFast    []uint32            // pieces we let it request while choked (allowedfast.go)
	ext            extState
	lastBlock      time.Time // last wanted block received
	connectedAt    time.Time
	chokedAt       time.Time // when we last choked it
	snubbed        bool
	downRate       rate
	upRate         rate
	sp             speedPeer
	metadataServed int // ut_metadata replies queued over the connection's life
}

// extState is what the BEP 10 handshake told us about the peer: the ids of the extensions
// we send (0: the peer has not enabled it), a fixed table so that no handshake can grow it.
type extState struct {
	metadata uint8 // ut_metadata
	pex      uint8 // ut_pex
	reqq     int
}

// update applies a handshake's m dictionary; names we never send are not kept.
func (e *extState) update(m map[string]int) {
	for name, id := range m {
		switch name {
		case wire.ExtMetadata:
			e.metadata = uint8(id)
		case wire.ExtPEX:
			e.pex = uint8(id)
		}
	}
}

// outMsg is a message to send. For a piece, only Index/Begin/Length are set and the writer
// reads the block from storage when it gets to it, so queued uploads hold no memory; a
// metadata reply (metadata set, Index the piece) is built from the info dictionary likewise.
type outMsg struct {
	m        wire.Message
	metadata bool
	hangUp   bool // not a message: the writer closes the connection here (conn.closeAfterSend)
}

func newConn(t *torrent, nc net.Conn, h wire.Handshake, outgoing bool) *conn {
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	c := &conn{
		t:         t,
		nc:        nc,
		addr:      ap,
		peerID:    h.PeerID,
		reserved:  h.Reserved,
		outgoing:  outgoing,
		v2:        speaksV2(t.info, h),
		requested: map[piece.Block]struct{}{},
		closed:    make(chan struct{}),
	}
	c.out.init(t.s.settings.MaxSendQueueBytes, t.s.settings.MaxSendQueueMsgs)
	c.flow.weight = 1
	c.initCork()
	c.ls.amChoking = true
	c.ls.peerChoking = true
	return c
}

func (c *conn) String() string { return c.addr.String() }

func (c *conn) fast() bool     { return c.reserved.SupportsFast() }
func (c *conn) extended() bool { return c.reserved.SupportsExtended() }

// close shuts the connection once; the reader then reports evClosed to the loop.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.closeErr = err
		close(c.closed)
		c.nc.Close()
	})
}

// closeAfterSend closes c with err once the writer has sent what is queued before it, so
// that a peer we leave still gets our last messages: a seed that hangs up on a seed before
// its bitfield went out would be taken for an ordinary dropped peer and dialled again.
// WriteStallTimeout bounds the wait. Loop-only.
func (c *conn) closeAfterSend(err error) {
	if c.ls.hangingUp {
		return
	}
	c.ls.hangingUp = true
	c.hangUpErr = err // published to the writer by the queue's lock
	if !c.out.push(outMsg{hangUp: true}) {
		c.close(err)
	}
}

// send queues a control message. It never blocks the loop; a peer that lets the queue
// reach its cap is disconnected (ErrSendQueueFull).
func (c *conn) send(m wire.Message) {
	c.sendOut(outMsg{m: m})
}

func (c *conn) sendOut(o outMsg) {
	if !c.out.push(o) {
		c.close(ErrSendQueueFull)
	}
}

// cancelUpload removes a queued piece upload; it reports false when the writer already took it.
func (c *conn) cancelUpload(b piece.Block) bool {
	if !c.out.removePiece(b) {
		return false
	}
	c.queuedUploads.Add(-1)
	return true
}

// dropUploads removes every queued piece upload (we choked the peer) and returns them. At
// most the one block the writer is sending escapes it (sendQueue.take).
func (c *conn) dropUploads() []piece.Block {
	dropped := c.out.dropPieces()
	c.queuedUploads.Add(-int32(len(dropped)))
	return dropped
}

func (c *conn) addRequested(b piece.Block) {
	c.reqMu.Lock()
	c.requested[b] = struct{}{}
	c.reqMu.Unlock()
}

func (c *conn) removeRequested(b piece.Block) {
	c.reqMu.Lock()
	delete(c.requested, b)
	c.reqMu.Unlock()
}

// takeRequested reports whether b was requested, and forgets it.
func (c *conn) takeRequested(b piece.Block) bool {
	c.reqMu.Lock()
	_, ok := c.requested[b]
	delete(c.requested, b)
	c.reqMu.Unlock()
	return ok
}

func (c *conn) removeRequestedPiece(i uint32) {
	c.reqMu.Lock()
	for b := range c.requested {
		if b.Piece == i {
			delete(c.requested, b)
		}
	}
	c.reqMu.Unlock()
}

func (c *conn) clearRequested() {
	c.reqMu.Lock()
	clear(c.requested)
	c.reqMu.Unlock()
}

// event is what a connection's goroutines tell the torrent loop.
type event struct {
	c    *conn
	kind eventKind
	msg  wire.Message // evMessage: Payload is owned by the event
	blk  piece.Block  // evBlockData, evBlock
	buf  []byte       // evBlockData: the block, in a pooled buffer the loop passes on or returns
	res  blockResult  // evBlock
	err  error        // evClosed, evBlock (storage failure)
}

type eventKind uint8

const (
	evMessage   eventKind = iota // a decoded message other than a block
	evBlockData                  // a block we requested arrived (not stored yet)
	evBlock                      // a disk worker stored a block
	evClosed                     // the connection is gone
)

// blockResult says what writing a block did to its piece.
type blockResult struct {
	pieceDone bool // the piece's last missing block arrived
	pieceOK   bool // and its hash matched
}

// readLoop decodes messages until the connection fails. Wanted blocks go straight from the
// socket into a pooled buffer, which the loop hands to a disk worker once the picker has
// accepted the block. It always ends by telling the loop the connection closed.
func (c *conn) readLoop() {
	r := wire.NewReaderSize(c.nc, c.t.s.settings.MaxMessageLen, c.t.s.settings.ReadBufferSize)
	err := c.readMessages(r)
	c.close(err)
	c.t.post(event{c: c, kind: evClosed, err: err})
}

func (c *conn) readMessages(r *wire.Reader) error {
	idle := c.t.s.settings.IdleTimeout
	for {
		// Back-pressure: while what we owe the peer is more than half the send queue's cap,
		// read nothing more from it (its requests are what fill the queue).
		if !c.out.waitRoom(c.closed) {
			return c.closeErr
		}
		if err := c.nc.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		m, err := r.ReadHeader()
		if err != nil {
			return err
		}
		switch m.Type {
		case wire.KeepAlive:
			continue
		case wire.Piece:
			if err := c.readBlock(r, m); err != nil {
				return err
			}
			continue
		case wire.Bitfield, wire.Extended:
			m.Payload = append([]byte(nil), m.Payload...) // the reader's buffer is reused
		default:
			if len(m.Payload) > 0 {
				m.Payload = append([]byte(nil), m.Payload...)
			}
		}
		if !c.t.post(event{c: c, kind: evMessage, msg: m}) {
			return errTorrentClosed
		}
	}
}

var errTorrentClosed = errors.New("peer: torrent closed")

func (c *conn) readBlock(r *wire.Reader, m wire.Message) error {
	b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
	// The download limits pace every block's payload, wanted or skipped: both are read.
	if err := c.throttleRead(int(m.Length)); err != nil {
		return err
	}
	if m.Length > piece.BlockSize || !c.takeRequested(b) {
		// Not asked for (cancelled in endgame, or a hostile peer): the next ReadHeader skips
		// the block on the stream without storing it.
		c.wasted.Add(int64(m.Length))
		c.t.stats.wasted.Add(int64(m.Length))
		return nil
	}
	buf := c.t.s.blocks.Get()[:m.Length]
	if err := r.ReadPayload(buf); err != nil {
		c.t.s.blocks.Put(buf)
		return err
	}
	c.downloaded.Add(int64(m.Length))
	c.t.stats.downloaded.Add(int64(m.Length))
	if !c.t.post(event{c: c, kind: evBlockData, blk: b, buf: buf}) {
		c.t.s.blocks.Put(buf)
		return errTorrentClosed
	}
	return nil
}

// writeLoop sends what the loop queues, batching small messages into one write and sending
// blocks straight from storage.
func (c *conn) writeLoop() {
	err := c.writeMessages()
	c.close(err)
}

func (c *conn) writeMessages() error {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	ka := time.NewTimer(c.t.s.settings.KeepAliveInterval)
	defer ka.Stop()
	defer func() { c.t.s.sched.release(&c.flow, c.grant) }()
	var batch []outMsg
	for {
		select {
		case <-c.closed:
			return nil
		case <-ka.C:
			if _, err := bw.Write(wire.AppendMessage(nil, wire.Message{Type: wire.KeepAlive})); err != nil {
				return err
			}
		case <-c.out.wake:
		}
		// Send until the queue is empty: the send scheduler's turn is kept from one block to
		// the next and handed back only when there is nothing more to send.
		for {
			batch = c.out.take(batch)
			if len(batch) == 0 {
				break
			}
			if err := c.nc.SetWriteDeadline(time.Now().Add(c.t.s.settings.WriteStallTimeout)); err != nil {
				return err
			}
			var scratch [32]byte
			for _, o := range batch {
				if o.m.Type == wire.Piece {
					if err := c.uploadBlock(bw, o.m); err != nil {
						return err
					}
					continue
				}
				if o.hangUp {
					if err := bw.Flush(); err != nil {
						return err
					}
					return c.hangUpErr
				}
				if o.metadata {
					if err := c.writeMetadata(bw, o.m); err != nil {
						return err
					}
					continue
				}
				if _, err := bw.Write(wire.AppendMessage(scratch[:0], o.m)); err != nil {
					return err
				}
			}
			c.out.release(batch) // written (or in bw, at most its 64 KiB)
			clear(batch)         // drop payload references
		}
		c.t.s.sched.release(&c.flow, c.grant)
		c.grant = 0
		if err := bw.Flush(); err != nil {
			return err
		}
		c.cork(false)
		ka.Reset(c.t.s.settings.KeepAliveInterval)
	}
}

// uploadBlock sends one piece message, header and block together (see torrent.sendBlock).
func (c *conn) uploadBlock(bw *bufio.Writer, m wire.Message) error {
	var hdr [wire.PieceHeaderLen]byte
	b := piece.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
	sched := c.t.s.sched
	if sched != nil {
		// Flush the small messages ahead of the block first: they are not paced, and the
		// grant should cover only the block's time in the kernel.
		if err := bw.Flush(); err != nil {
			return err
		}
		gen, err := sched.acquire(c.t.s.ctx, &c.flow, int(m.Length), c.grant)
		c.grant = gen
		if err != nil {
			return err
		}
		c.cork(true) // acquire uncorks before it waits
		// The stall clock starts when the block may go, not when the batch began: waiting
		// for the grant is not the peer's fault.
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.t.s.settings.WriteStallTimeout)); err != nil {
			return err
		}
		err = c.t.sendBlock(bw, c.nc, wire.AppendPieceHeader(hdr[:0], m.Index, m.Begin, int(m.Length)), b)
		if err == nil && bw.Buffered() > 0 {
			err = bw.Flush() // non-TCP transports copy the block through bw
		}
		if err != nil {
			return fmt.Errorf("sending %v: %w", b, err)
		}
	} else if err := c.t.sendBlock(bw, c.nc, wire.AppendPieceHeader(hdr[:0], m.Index, m.Begin, int(m.Length)), b); err != nil {
		return fmt.Errorf("sending %v: %w", b, err)
	}
	c.uploaded.Add(int64(m.Length))
	c.t.stats.uploaded.Add(int64(m.Length))
	c.queuedUploads.Add(-1)
	return nil
}

// post hands an event to the loop, giving up when the torrent is shutting down.
func (t *torrent) post(ev event) bool {
	select {
	case t.events <- ev:
		return true
	case <-t.stopping:
		return false
	}
}

// errorIsPeerFault reports whether err means the peer broke the protocol (ban-worthy in
// repeated cases) rather than a network failure.
func errorIsPeerFault(err error) bool {
	var me *wire.MessageError
	return errors.As(err, &me) && !errors.Is(err, io.ErrUnexpectedEOF)
}

package peer

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

// ErrSendQueueFull is the error a connection is closed with when what we hold for the peer
// to read passes the send queue's cap (Settings.MaxSendQueueBytes, MaxSendQueueMsgs): the
// peer is not reading, or asks faster than it reads.
var ErrSendQueueFull = errors.New("peer: send queue full (peer is not reading)")

// outMsgCost is what a queued message holds besides its payload: the queue's slot.
const outMsgCost = int(unsafe.Sizeof(outMsg{}))

// sendQueue is the writer's inbox: the loop appends, the writer takes from the front.
//
// The writer takes messages up to and including the next block (take), never further: a
// block not yet started stays in the queue, where a choke (dropPieces) or a cancel
// (removePiece) still finds it. Were the writer to take the whole queue, a seeder that
// paces its upload would hold seconds of a peer's requests in the writer's hands, and a
// choke, or the bid-response that starts a paid slot, would wait behind all of them.
//
// It counts what it holds, including what the writer took and has not written yet, so that
// the memory held for one peer is bounded: bytes is the queue slots plus payloads (piece and
// metadata replies are read from storage or the shared info dictionary at write time and hold
// no payload of their own), n the messages. Past half of maxBytes the reader stops reading
// from the peer (waitRoom) until the writer has drained; past maxBytes or maxMsgs the
// connection is closed with ErrSendQueueFull. All fields are guarded by mu.
type sendQueue struct {
	mu       sync.Mutex
	msgs     []outMsg // msgs[head:] are queued; msgs[:head] were taken and are zeroed
	head     int
	bytes    int // held: queued plus taken and not yet written
	n        int // messages, counted as bytes is
	maxBytes int
	maxMsgs  int
	wake     chan struct{} // capacity 1: a pending wake-up for the writer
	drained  chan struct{} // capacity 1: the writer released a batch (the reader may resume)
}

func (q *sendQueue) init(maxBytes, maxMsgs int) {
	q.maxBytes, q.maxMsgs = maxBytes, maxMsgs
	q.wake = make(chan struct{}, 1)
	q.drained = make(chan struct{}, 1)
}

func msgCost(o outMsg) int { return outMsgCost + len(o.m.Payload) }

// push queues o and reports false, queuing nothing, if that would pass the cap.
func (q *sendQueue) push(o outMsg) bool {
	cost := msgCost(o)
	q.mu.Lock()
	if q.bytes+cost > q.maxBytes || q.n+1 > q.maxMsgs {
		q.mu.Unlock()
		return false
	}
	if len(q.msgs) == cap(q.msgs) && q.head >= len(q.msgs)/2 {
		// Reuse the taken front rather than grow: the queue of a peer that never drains it
		// would otherwise grow by what was taken. Half or more is free, so each message is
		// moved O(1) times on average.
		n := copy(q.msgs, q.msgs[q.head:])
		clear(q.msgs[n:])
		q.msgs, q.head = q.msgs[:n], 0
	}
	q.msgs = append(q.msgs, o)
	q.bytes += cost
	q.n++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take hands the writer the queued messages up to and including the first block (all of
// them if none is a block), appended to prev[:0]. What it takes stays counted until the
// writer releases it.
func (q *sendQueue) take(prev []outMsg) []outMsg {
	q.mu.Lock()
	queued := q.msgs[q.head:]
	end := len(queued)
	for i := range queued {
		if queued[i].m.Type == wire.Piece {
			end = i + 1
			break
		}
	}
	batch := append(prev[:0], queued[:end]...)
	clear(queued[:end]) // drop payload references
	q.head += end
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	q.mu.Unlock()
	return batch
}

// removePiece removes the queued reply for block b and reports whether it was still queued
// (false: the writer has taken it, or it never was).
func (q *sendQueue) removePiece(b piece.Block) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	queued := q.msgs[q.head:]
	for i, o := range queued {
		if o.m.Type == wire.Piece && o.m.Index == b.Piece && o.m.Begin == b.Begin && o.m.Length == b.Length {
			copy(queued[i:], queued[i+1:])
			queued[len(queued)-1] = outMsg{}
			q.msgs = q.msgs[:len(q.msgs)-1]
			q.bytes -= msgCost(o)
			q.n--
			return true
		}
	}
	return false
}

// dropPieces removes every queued block reply and returns their blocks; the other messages
// keep their order.
func (q *sendQueue) dropPieces() []piece.Block {
	q.mu.Lock()
	defer q.mu.Unlock()
	var dropped []piece.Block
	queued := q.msgs[q.head:]
	kept := queued[:0]
	for _, o := range queued {
		if o.m.Type == wire.Piece {
			dropped = append(dropped, piece.Block{Piece: o.m.Index, Begin: o.m.Begin, Length: o.m.Length})
			q.bytes -= msgCost(o)
			q.n--
			continue
		}
		kept = append(kept, o)
	}
	clear(queued[len(kept):])
	q.msgs = q.msgs[:q.head+len(kept)]
	return dropped
}

// release uncounts a batch the writer has written (or a message removed from the queue).
func (q *sendQueue) release(batch []outMsg) {
	bytes := 0
	for _, o := range batch {
		bytes += msgCost(o)
	}
	q.mu.Lock()
	q.bytes -= bytes
	q.n -= len(batch)
	q.mu.Unlock()
	select {
	case q.drained <- struct{}{}:
	default:
	}
}

// held returns the bytes and messages the queue counts.
func (q *sendQueue) held() (bytes, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes, q.n
}

// waitRoom blocks while the queue holds more than half its byte cap, so that a peer whose
// requests we answer cannot queue replies faster than it reads them; it returns false when
// done is closed first.
func (q *sendQueue) waitRoom(done <-chan struct{}) bool {
	for {
		q.mu.Lock()
		full := q.bytes > q.maxBytes/2 || q.n > q.maxMsgs/2
		q.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-q.drained:
		case <-done:
			return false
		}
	}
}

// metadataReply is an outMsg for a ut_metadata data message: the writer builds it from
// the info dictionary when it gets to it, so a queued reply holds no copy of the data.
func metadataReply(extID uint8, piece int) outMsg {
	return outMsg{m: wire.Message{Type: wire.Extended, ExtID: extID, Index: uint32(piece)}, metadata: true}
}

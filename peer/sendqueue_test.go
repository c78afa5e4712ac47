package peer

import (
	"testing"

	"github.com/speedbt/btt/piece"
	"github.com/speedbt/btt/wire"
)

func blockMsg(i int) outMsg {
	return outMsg{m: wire.Message{Type: wire.Piece, Index: uint32(i), Length: piece.BlockSize}}
}

func haveMsg(i int) outMsg { return outMsg{m: wire.Message{Type: wire.Have, Index: uint32(i)}} }

// TestSendQueueTakesOneBlock: the writer takes up to its next block and no further, so a
// choke after it finds every block not yet started, and the messages queued after the
// choke still go out in order.
func TestSendQueueTakesOneBlock(t *testing.T) {
	var q sendQueue
	q.init(1<<20, 1000)
	for _, o := range []outMsg{haveMsg(1), blockMsg(0), blockMsg(1), haveMsg(2), blockMsg(2)} {
		q.push(o)
	}
	batch := q.take(nil)
	if len(batch) != 2 || batch[0].m.Type != wire.Have || batch[1].m.Index != 0 {
		t.Fatalf("first take = %v, want the have and block 0", batch)
	}
	q.release(batch)
	q.push(outMsg{m: wire.Message{Type: wire.Choke}})
	dropped := q.dropPieces()
	if len(dropped) != 2 || dropped[0].Piece != 1 || dropped[1].Piece != 2 {
		t.Fatalf("dropped %v, want blocks 1 and 2", dropped)
	}
	batch = q.take(batch)
	if len(batch) != 2 || batch[0].m.Type != wire.Have || batch[0].m.Index != 2 || batch[1].m.Type != wire.Choke {
		t.Fatalf("after the choke the writer took %v, want have 2 then choke", batch)
	}
	q.release(batch)
	if b, n := q.held(); b != 0 || n != 0 {
		t.Fatalf("empty queue holds %d bytes in %d messages", b, n)
	}
	if batch = q.take(batch); len(batch) != 0 {
		t.Fatalf("empty queue gave %v", batch)
	}
}

// TestSendQueueRemovePiece: a cancel finds a queued block and not one the writer took.
func TestSendQueueRemovePiece(t *testing.T) {
	var q sendQueue
	q.init(1<<20, 1000)
	for i := range 3 {
		q.push(blockMsg(i))
	}
	q.take(nil) // block 0 is being sent
	blk := func(i int) piece.Block { return piece.Block{Piece: uint32(i), Length: piece.BlockSize} }
	if q.removePiece(blk(0)) {
		t.Error("removed block 0, which the writer took")
	}
	if !q.removePiece(blk(2)) || q.removePiece(blk(2)) {
		t.Error("block 2: want removed once")
	}
	if _, n := q.held(); n != 2 {
		t.Errorf("holds %d messages, want 2 (one taken, one queued)", n)
	}
	if b := q.take(nil); len(b) != 1 || b[0].m.Index != 1 {
		t.Errorf("next take = %v, want block 1", b)
	}
}

// TestSendQueueStaysCompact: a queue the writer never empties (a paced seeder with a deep
// request queue) reuses what was taken instead of growing: its array stays within a small
// multiple of what it holds.
func TestSendQueueStaysCompact(t *testing.T) {
	var q sendQueue
	q.init(1<<30, 1<<20)
	const depth = 100
	for i := range depth {
		q.push(blockMsg(i))
	}
	var batch []outMsg
	for i := depth; i < 100*depth; i++ {
		batch = q.take(batch)
		q.release(batch)
		q.push(blockMsg(i))
		if got := q.msgs[q.head]; got.m.Index != uint32(i-depth+1) {
			t.Fatalf("after %d blocks the front is block %d, want %d", i, got.m.Index, i-depth+1)
		}
	}
	if _, n := q.held(); n != depth {
		t.Fatalf("holds %d, want %d", n, depth)
	}
	if c := cap(q.msgs); c > 4*depth {
		t.Fatalf("array grew to %d slots for %d queued", c, depth)
	}
}

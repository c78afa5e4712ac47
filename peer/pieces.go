package peer

import (
	"fmt"
	"time"

	"github.com/speedbt/btt/wire"
	"github.com/speedbt/btt/wire/tracker"
)

// onPieceResult acts on what storing a block did to its piece; c is nil when the connection
// that sent it is already gone.
func (t *torrent) onPieceResult(c *conn, ev event) {
	if ev.err != nil {
		t.s.log.Error("storage write failed", "block", ev.blk, "err", ev.err)
		t.stopWithError(ev.err)
		return
	}
	if !ev.res.pieceDone {
		return
	}
	if ev.res.pieceOK {
		t.pieceVerified(int(ev.blk.Piece))
	} else {
		t.pieceFailed(int(ev.blk.Piece))
	}
}

func (t *torrent) pieceVerifiedStats(i int) {
	t.stats.piecesDone.Add(1)
	t.stats.bytesDone.Add(t.layout.PieceSize(i))
}

func (t *torrent) pieceVerified(i int) {
	t.picker.Verified(i)
	t.pieceVerifiedStats(i)
	t.blameVerified(i)
	for _, c := range t.conns {
		// Every peer gets the have, seeds included: a Speed provider needs it.
		c.send(wire.Message{Type: wire.Have, Index: uint32(i)})
	}
	if t.speedOn() {
		// After the have, as the draft orders, and before a connection to a seed may close
		// for completion: the voucher must go out first.
		t.payForPiece(uint32(i))
	}
	for _, c := range t.conns {
		t.updateInterest(c)
	}
	if t.picker.Complete() {
		t.onComplete()
	}
}

func (t *torrent) onComplete() {
	select {
	case <-t.complete:
		return
	default:
	}
	close(t.complete)
	if t.speedOn() {
		t.speed.heldAt = time.Now() // we got it from peers who hold it: the reserve starts at 0
	}
	t.s.log.Info("torrent complete", "infohash", fmt.Sprintf("%x", t.infoHash))
	t.saveResume()
	t.trackerTick(time.Now(), tracker.EventCompleted)
	for _, c := range t.conns {
		t.closeIfBothSeeds(c)
	}
	t.fillSlots()
}

// pieceFailed re-queues a piece whose hash did not match and remembers who sent its blocks,
// to strike the liars once the piece verifies (smartban.go).
func (t *torrent) pieceFailed(i int) {
	t.stats.hashFailures.Add(1)
	t.stats.wasted.Add(t.layout.PieceSize(i))
	if t.speedOn() {
		t.forgetPiece(uint32(i)) // never paid
	}
	by := t.picker.Failed(i)
	// The picker dropped every request of the piece; forget them at the connections too, so
	// blocks of the failed attempt still in flight are discarded on arrival.
	for _, c := range t.conns {
		c.removeRequestedPiece(uint32(i))
	}
	t.s.log.Warn("piece failed hash check", "piece", i, "peers", len(by))
	t.blameFailure(i, by)
	t.wantBlockHashes(i) // v2: the tree may name the bad blocks at once (v2blame.go)
	for _, c := range t.conns {
		t.fillRequests(c)
	}
}
